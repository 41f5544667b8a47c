# Test-only PostgreSQL 15 server + psql client, from Debian's packages on a
# Debian root filesystem imported by scripts/debian-rootfs.sh (no registry).
ARG BASE=pgbe-debian:bookworm
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-15 postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
COPY postgres-start.sh /usr/local/bin/postgres-start
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin
USER postgres
EXPOSE 5432
HEALTHCHECK --interval=1s --timeout=3s --retries=60 CMD ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
ENTRYPOINT ["/usr/local/bin/postgres-start"]
