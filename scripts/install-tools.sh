#!/usr/bin/env bash
# Go tools at pinned versions, built from the Go module proxy (nothing
# prebuilt is downloaded) and put in build/tools:
#   crane          pushes the OCI layouts of `make image` with their indexes,
#                  and reads images back from a registry (tests)
#   actionlint     checks .github/workflows/ (make test)
#   cosign         signs the pushed indexes and attests their SBOMs (make push
#                  SIGN_KEY=...), verifies them (registry tier)
#   helm           lints and renders charts/pgbouncer-entrypoint (make test)
#   helm-unittest  the chart's unit tests (charts/*/tests), run standalone
#   k8s-decode     ours (tests/k8s): decodes rendered objects strictly with
#                  client-go's scheme, so an unknown field fails
# helm, cosign and client-go take minutes each to compile on two cores,
# so each build is kept outside the clone, in PGBE_TOOLS_CACHE (default
# ~/.cache/pgbouncer-entrypoint/tools), one folder per pin, beside Go's own
# module and build caches: a new clone on the same machine copies them.
#   scripts/install-tools.sh [NAME...]    (default: all)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tools="$top/build/tools"
cache=${PGBE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgbouncer-entrypoint/tools}
declare -A pins=(
	[crane]=github.com/google/go-containerregistry/cmd/crane@v0.22.1
	[actionlint]=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
	[cosign]=github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
	[helm]=helm.sh/helm/v4/cmd/helm@v4.3.2
	# its go.mod has a replace directive, which `go install pkg@version`
	# refuses: built inside a copy of the module instead
	[helm-unittest]=github.com/helm-unittest/helm-unittest/cmd/helm-unittest@v1.1.2
)
# k8s-decode's pin is its own source: go.mod, go.sum and main.go
pins[k8s-decode]=tests/k8s@$(cat "$top"/tests/k8s/go.mod "$top"/tests/k8s/go.sum "$top"/tests/k8s/*.go |
	sha256sum | cut -c1-16)

gobuild() { GOFLAGS=-modcacherw CGO_ENABLED=0 go "$@"; }

build() { # name pin dir
	local name=$1 pin=$2 dir=$3 mod=${2%@*} ver=${2##*@} src work
	case $name in
	k8s-decode)
		(cd "$top/tests/k8s" && gobuild build -trimpath -o "$dir/$name" .) ;;
	helm-unittest)
		src=$(gobuild mod download -json "${mod%/cmd/*}@$ver" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		work=$(mktemp -d)
		cp -R "$src/." "$work" && chmod -R u+w "$work"
		(cd "$work" && gobuild build -trimpath -o "$dir/$name" "./${mod#*/*/*/}")
		rm -rf "$work" ;;
	*)
		GOBIN="$dir" gobuild install -trimpath "$pin" ;;
	esac
}

mkdir -p "$tools"
for name in "${@:-${!pins[@]}}"; do
	pin=${pins[$name]:?unknown tool $name}
	stamp="$tools/.$name.version"
	[ -x "$tools/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pin" ] && continue
	dir="$cache/$name@${pin##*@}"
	if [ ! -x "$dir/$name" ] || [ "$(cat "$dir/.pin" 2>/dev/null)" != "$pin" ]; then
		command -v go >/dev/null || "$top/scripts/ensure-packages.sh" golang-go
		echo "install-tools: building $pin (kept in $dir)" >&2
		mkdir -p "$dir"
		build "$name" "$pin" "$dir"
		echo "$pin" >"$dir/.pin"
	fi
	cp "$dir/$name" "$tools/$name.new" && mv "$tools/$name.new" "$tools/$name"
	echo "$pin" >"$stamp"
done
