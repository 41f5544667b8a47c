#!/usr/bin/env bash
# make image: the two FROM scratch images for linux/amd64 and linux/arm64,
# from this machine's static binaries (build/ and build/arm64/):
#   build/oci/pgbouncer/   OCI layout; index.json = the multi-platform index of
#                          the pgbouncer image (entrypoint + pgbouncer + CA bundle)
#   build/oci/init/        the same for the init image (entrypoint alone)
#   build/sbom-IMAGE-ARCH.spdx.json   the SBOM each image carries
# and the native platform's images on the local Docker engine:
#   pgbouncer-entrypoint:latest, :VERSION        pgbouncer image
#   pgbouncer-entrypoint:init,   :VERSION-init   init image
#
# No buildx here, and Docker 20.10's builder makes one platform per build,
# with build-time timestamps: scripts/oci-image.py lays the images out itself,
# the same bytes from the same commit (SOURCE_DATE_EPOCH = the commit's time),
# and crane (make push) publishes the layouts with their indexes.
#
# PGBE_PLATFORMS=native (make image-native): the host's platform alone, for a
# quick local image, laid out in build/oci-native/ (build/oci/ keeps what
# make image and make push use).
set -euo pipefail
version=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=build/oci
[ "${PGBE_PLATFORMS:-all}" != native ] || out=build/oci-native
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "build-images: $ca missing (Debian's ca-certificates)" >&2; exit 1; }
# the project's address, not the local clone's origin (a path or a mirror
# would make every checkout's images differ); the release job passes its own
source_url=${PGBE_SOURCE_URL:-https://github.com/pgbouncer-entrypoint/pgbouncer-entrypoint}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
native=$(dpkg --print-architecture)

platforms=()
arches=(amd64 arm64)
[ "${PGBE_PLATFORMS:-all}" != native ] || arches=("$native")
for arch in "${arches[@]}"; do
	bindir=build deps=build/deps-musl-amd64
	[ "$arch" = amd64 ] || bindir=build/$arch deps=build/deps-musl-$arch
	for image in init pgbouncer; do
		# the image's binaries, unstripped: which musl functions they link
		symbols=(--symbols "$bindir/pgbouncer-entrypoint.unstripped")
		[ "$image" = init ] || symbols+=(--symbols "$deps/bin/pgbouncer.unstripped")
		/usr/bin/python3 scripts/sbom.py "build/sbom-$image-$arch.spdx.json" --image "$image" \
			--arch "$arch" --version "$version" --revision "$revision" --epoch "$epoch" \
			--components "$deps/components" --bin "$bindir/pgbouncer-entrypoint" "${symbols[@]}"
	done
	platforms+=(--platform "$arch=$bindir")
done
/usr/bin/python3 scripts/oci-image.py "$out" --version "$version" --revision "$revision" \
	--source "$source_url" --epoch "$epoch" --ca "$ca" --sbom-dir build "${platforms[@]}" \
	--load "$native"

# no engine (CI without Docker, the release job): the layouts are the product
docker info >/dev/null 2>&1 || exit 0
docker load -q -i "$out/load-$native.tar" >/dev/null
rm -f "$out/load-$native.tar"
# the images these replaced are left untagged: remove them, and only them
for label in "org.opencontainers.image.title=pgbouncer-entrypoint" \
	"org.opencontainers.image.title=pgbouncer-entrypoint init"; do
	docker image prune -f --filter "label=$label" >/dev/null
done
for t in latest init; do
	size=$(docker image inspect -f '{{.Size}}' "pgbouncer-entrypoint:$t")
	awk -v t="$t" -v s="$size" -v a="$native" \
		'BEGIN { printf "pgbouncer-entrypoint:%-7s %6.2f MB on the engine (linux/%s)\n", t, s / 1000000, a }'
done
