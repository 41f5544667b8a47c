# ---- final stages: shared by docker/Dockerfile (which builds /out from source)
# ---- and by `make image` (which copies /out from this machine's build).
# A stage named "dist" above provides /out/init/, /out/pgbouncer/ and
# /out/config/ (scripts/stage-rootfs.sh lays them out).

# What both images share.  /etc/pgbouncer belongs to uid 70 and group 0
# (mode 0770): uid 70 by default, and any uid with group 0 (OpenShift,
# --user 12345:0) can write it.  A new named volume mounted there starts with
# this ownership.
FROM scratch AS common
ARG VERSION=dev
ARG SOURCE=pgbouncer-entrypoint
COPY --from=dist --chown=70:0 /out/config/ /
# copied after the config directory, so /etc itself stays root's
COPY --from=dist /out/init/ /
USER 70:70
ENTRYPOINT ["/pgbouncer-entrypoint"]
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}"

# The entrypoint alone: Kubernetes initContainers and compose init services
# that prepare /etc/pgbouncer for a stock pgbouncer, and COPY --from= users.
FROM common AS init
CMD ["init"]
LABEL org.opencontainers.image.title="pgbouncer-entrypoint init" \
      org.opencontainers.image.description="Renders pgbouncer.ini and userlist.txt from the environment and waits for the upstream" \
      org.opencontainers.image.licenses="ISC AND PostgreSQL AND Apache-2.0 AND MIT"

# The entrypoint, a static pgbouncer and Debian's CA bundle.
FROM common AS pgbouncer
COPY --from=dist /out/pgbouncer/ /
ENV PATH=/usr/bin
EXPOSE 6432
# pgbouncer 1.23+ treats SIGTERM as "wait until every client has gone", which
# long-lived application pools never do: docker stop would always end in
# SIGKILL.  SIGINT lets running transactions finish, then exits.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
  CMD ["/pgbouncer-entrypoint", "health"]
CMD ["run"]
LABEL org.opencontainers.image.title="pgbouncer-entrypoint" \
      org.opencontainers.image.description="PgBouncer configured from environment variables, FROM scratch" \
      org.opencontainers.image.licenses="ISC AND PostgreSQL AND Apache-2.0 AND BSD-3-Clause AND MIT"
