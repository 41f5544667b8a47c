# Test-only "stock pgbouncer" image: Debian's pgbouncer package, consuming a
# config directory that the init image prepared (the init-container flow).
ARG BASE=pgbe-debian:bookworm
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbouncer \
 && rm -rf /var/lib/apt/lists/*
USER 70:70
ENTRYPOINT ["/usr/sbin/pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
