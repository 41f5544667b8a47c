{{/* Names: the release's, shortened to the 63 characters a label allows. */}}
{{- define "pgbe.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pgbe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pgbe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pgbe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pgbe.labels" -}}
{{ include "pgbe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The images: one repository, the init image is TAG-init. */}}
{{- define "pgbe.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "pgbe.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "pgbe.tag" .) -}}
{{- end -}}
{{- end -}}

{{- define "pgbe.initImage" -}}
{{- if .Values.image.initDigest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.initDigest -}}
{{- else -}}
{{- printf "%s:%s-init" .Values.image.repository (include "pgbe.tag" .) -}}
{{- end -}}
{{- end -}}

{{/* What runs pgbouncer in mode init. */}}
{{- define "pgbe.pgbouncerImage" -}}
{{- if or .Values.pgbouncer.repository .Values.pgbouncer.tag -}}
{{- printf "%s:%s" (.Values.pgbouncer.repository | default .Values.image.repository) (.Values.pgbouncer.tag | default (include "pgbe.tag" .)) -}}
{{- else -}}
{{- include "pgbe.image" . -}}
{{- end -}}
{{- end -}}

{{/*
The entrypoint's environment, the same for every container that renders or
logs in (run or init, watch, health --deep): the password only as a file.
*/}}
{{- define "pgbe.env" -}}
- {name: DB_HOST, value: {{ .Values.database.host | quote }}}
- {name: DB_PORT, value: {{ .Values.database.port | quote }}}
- {name: DB_NAME, value: {{ .Values.database.name | quote }}}
- {name: DB_USER, value: {{ .Values.database.user | quote }}}
- {name: DB_PASSWORD_FILE, value: /run/secrets/db/password}
- {name: SERVER_TLS_SSLMODE, value: {{ .Values.database.sslmode | quote }}}
{{- if ne (int .Values.listenPort) 6432 }}
- {name: LISTEN_PORT, value: {{ .Values.listenPort | quote }}}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if regexMatch "(PASSWORD|DATABASE_URLS?|PGBOUNCER_DSN_[0-9]+)$" $name }}
{{- fail (printf "config.%s: a secret in values ends up in the pod spec, readable by anyone who can read the Deployment; put it in the Secret (database.existingSecret) or pass %s_FILE through extraEnv" $name $name) }}
{{- end }}
- {name: {{ $name }}, value: {{ $value | toString | quote }}}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "pgbe.mounts" -}}
- {name: config, mountPath: /etc/pgbouncer}
- {name: tmp, mountPath: /tmp}
- {name: db-password, mountPath: /run/secrets/db, readOnly: true}
{{- end -}}

{{/* The watch sidecar; .native: an initContainer with restartPolicy Always. */}}
{{- define "pgbe.watch" -}}
{{- $v := .root.Values -}}
- name: watch
  image: {{ include "pgbe.initImage" .root }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args: ["watch", "--config-dir", "/etc/pgbouncer"]
  env:
    {{- include "pgbe.env" .root | nindent 4 }}
  volumeMounts:
    {{- include "pgbe.mounts" .root | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  resources:
    {{- toYaml $v.watch.resources | nindent 4 }}
{{- end -}}

{{/* The metrics sidecar's environment: where pgbouncer's socket is, no credentials. */}}
{{- define "pgbe.metricsEnv" -}}
{{- if ne (int .Values.listenPort) 6432 }}
- {name: LISTEN_PORT, value: {{ .Values.listenPort | quote }}}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if regexMatch "^(PGBOUNCER_)?(LISTEN_PORT|UNIX_SOCKET_DIR)$" $name }}
- {name: {{ $name }}, value: {{ $value | toString | quote }}}
{{- end }}
{{- end }}
{{- with .Values.metrics.names }}
- {name: PGBOUNCER_METRICS_NAMES, value: {{ . | quote }}}
{{- end }}
{{- end -}}
