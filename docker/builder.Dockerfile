# Build from source with plain `docker build -f docker/Dockerfile .` on a
# machine that can pull debian:bookworm and reach Debian's mirrors.
# Generated parts: this file + docker/final.Dockerfile = docker/Dockerfile
# (make dockerfile; a test checks they agree).
ARG BUILDER_IMAGE=debian:bookworm
FROM ${BUILDER_IMAGE} AS dist
# lets a clean-up find this stage's leftovers: docker image prune --filter label=...
LABEL pgbouncer-entrypoint.stage=builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      make gcc libc6-dev dpkg-dev file ca-certificates perl xz-utils bzip2 patch gpg gpgv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the script changes.
COPY scripts/build-deps.sh scripts/deps-apt.sh scripts/with-apt-lock.sh scripts/deps.pins scripts/deps.skip /src/scripts/
RUN scripts/build-deps.sh build/deps-musl-amd64 musl-gcc pgbouncer
COPY . /src
RUN make build/pgbouncer-entrypoint build/pgbouncer && scripts/stage-rootfs.sh /out
