#!/usr/bin/env bash
# make push: publish build/oci/pgbouncer and build/oci/init (make image) with
# their multi-platform indexes, byte for byte (same digests as built):
#   scripts/push-images.sh REGISTRY VERSION [TAG]
#   REGISTRY/pgbouncer-entrypoint:TAG        pgbouncer image
#   REGISTRY/pgbouncer-entrypoint:TAG-init   init image
# Without TAG: TAG is VERSION, and :latest and :init move too.
# Credentials: crane reads Docker's config (docker login / crane auth login).
# Registries on localhost/127.0.0.1 are spoken to over plain HTTP.
set -euo pipefail
reg=${1:?usage: make push REGISTRY=host[:port]/path [TAG=...]}
version=$2
tag=${3:-$version}
top=$(cd "$(dirname "$0")/.." && pwd)
crane="$top/build/tools/crane"
repo="${reg%/}/pgbouncer-entrypoint"
for image in pgbouncer init; do
	[ -f "$top/build/oci/$image/index.json" ] || { echo "push: build/oci/$image missing: make image" >&2; exit 1; }
done
"$crane" push --index "$top/build/oci/pgbouncer" "$repo:$tag" >/dev/null
"$crane" push --index "$top/build/oci/init" "$repo:$tag-init" >/dev/null
if [ $# -lt 3 ]; then
	"$crane" tag "$repo:$tag" latest
	"$crane" tag "$repo:$tag-init" init
fi
for t in "$tag" "$tag-init"; do
	echo "pushed $repo:$t@$("$crane" digest "$repo:$t")"
done
