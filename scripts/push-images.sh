#!/usr/bin/env bash
# make push: publish build/oci/pgbouncer and build/oci/init (make image) with
# their multi-platform indexes, byte for byte (same digests as built):
#   scripts/push-images.sh REGISTRY VERSION [TAG]
#   REGISTRY/pgbouncer-entrypoint:TAG        pgbouncer image
#   REGISTRY/pgbouncer-entrypoint:TAG-init   init image
# Without TAG: TAG is VERSION, and :latest and :init move too.
# Credentials: crane reads Docker's config (docker login / crane auth login).
# Registries on localhost/127.0.0.1 are spoken to over plain HTTP.
#
# Signing (issue 19), with build/tools/cosign:
#   SIGN_KEY=cosign.key   a cosign key pair's private key (or a KMS URI such
#                         as awskms://...); its password in COSIGN_PASSWORD
#                         (asked once on a terminal when unset)
#   SIGN_KEYLESS=1        keyless: a Fulcio certificate for the CI's OIDC
#                         identity, recorded in Rekor (the release workflow)
# Each index is signed by digest, with its platform manifests (--recursive),
# and attested with the SPDX SBOM each platform's image carries: the
# platform manifest with its own, the index with every platform's.
set -euo pipefail
reg=${1:?usage: make push REGISTRY=host[:port]/path [TAG=...] [SIGN_KEY=cosign.key]}
version=$2
tag=${3:-$version}
top=$(cd "$(dirname "$0")/.." && pwd)
crane="$top/build/tools/crane"
cosign="$top/build/tools/cosign"
repo="${reg%/}/pgbouncer-entrypoint"
sbom_path=usr/share/doc/pgbouncer-entrypoint/sbom.spdx.json

die() { echo "push: $*" >&2; exit 1; }

for image in pgbouncer init; do
	[ -f "$top/build/oci/$image/index.json" ] || die "build/oci/$image missing: make image"
done

# Everything about signing is checked before the first push: a key that
# cannot sign must not leave unsigned images behind under the new tags.
sign=()
check_key() {
	[ -x "$cosign" ] || die "SIGN_KEY is set but build/tools/cosign is missing: scripts/install-tools.sh cosign"
	case $SIGN_KEY in
	*://*) ;; # a KMS or Kubernetes secret reference: cosign resolves it
	*)
		[ -f "$SIGN_KEY" ] && [ -r "$SIGN_KEY" ] ||
			die "SIGN_KEY must name a readable cosign private key (cosign generate-key-pair), got \"$SIGN_KEY\""
		# one prompt here rather than one per cosign call below
		if [ -z "${COSIGN_PASSWORD+set}" ]; then
			[ -t 0 ] || die "COSIGN_PASSWORD must hold the password of SIGN_KEY \"$SIGN_KEY\" (empty for a key without one)"
			IFS= read -rsp "password of SIGN_KEY $SIGN_KEY: " COSIGN_PASSWORD
			echo >&2
			export COSIGN_PASSWORD
		fi ;;
	esac
	# decrypting the key proves the password; only the public key is printed
	local err
	if ! err=$("$cosign" public-key --key "$SIGN_KEY" 2>&1 >/dev/null </dev/null); then
		err=${err##*$'\n'}
		case $err in
		*"decryption failed"*) die "COSIGN_PASSWORD is not the password of SIGN_KEY \"$SIGN_KEY\"" ;;
		*) die "could not load SIGN_KEY \"$SIGN_KEY\": ${err#error during command execution: }" ;;
		esac
	fi
	# key pairs sign without the public transparency log: a private
	# registry's names stay private, and it works offline (verify with
	# --insecure-ignore-tlog, see docs/images.md)
	sign=(--key "$SIGN_KEY" --tlog-upload=false)
}
if [ -n "${SIGN_KEY:-}" ] && [ -n "${SIGN_KEYLESS:-}" ]; then
	die "SIGN_KEY and SIGN_KEYLESS exclude each other: a key pair or keyless, not both"
elif [ -n "${SIGN_KEY:-}" ]; then
	check_key
elif [ -n "${SIGN_KEYLESS:-}" ]; then
	[ -x "$cosign" ] || die "SIGN_KEYLESS is set but build/tools/cosign is missing: scripts/install-tools.sh cosign"
	# --yes: no question about the public transparency log, which keyless
	# signing needs (the certificate lives minutes; Rekor proves the time)
	sign=(--yes)
fi
# cosign, like crane (both go-containerregistry), speaks plain HTTP to
# localhost and 127.0.0.1 by itself: no --allow-http-registry, which would
# allow it for every host

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# cosign's progress lines are noise next to ours; shown when it fails
quietly() {
	"$@" >"$work/log" 2>&1 </dev/null || { cat "$work/log" >&2; die "$(basename "$1") $2 failed"; }
}

sign_and_attest() { # image index-digest
	local image=$1 index=$2 arch manifest replace=--replace
	# signing again with the same key adds nothing (cosign finds the old
	# signature); attestations carry a new signature each time, so a second
	# push of the same digest replaces the SBOM attestations instead of
	# adding to them: --replace on each subject's first one
	quietly "$cosign" sign "${sign[@]}" --recursive "$repo@$index"
	echo "signed $repo@$index and its platform manifests"
	for arch in $(grep -o '"architecture": *"[^"]*"' "$top/build/oci/$image/index.json" | cut -d'"' -f4); do
		manifest=$("$crane" digest --platform "linux/$arch" "$repo@$index")
		# the SBOM as pushed, read back from the registry: the attestation
		# says what the image carries, whatever build/ holds by now
		"$crane" export "$repo@$manifest" - | tar -xOf - "$sbom_path" >"$work/sbom.json"
		quietly "$cosign" attest "${sign[@]}" --replace --type spdxjson --predicate "$work/sbom.json" \
			"$repo@$manifest"
		# the index too, with every platform's SBOM (they differ: binaries,
		# hashes): `cosign verify-attestation REPO:TAG` resolves a tag to
		# the index, and so do admission controllers
		quietly "$cosign" attest "${sign[@]}" $replace --type spdxjson --predicate "$work/sbom.json" \
			"$repo@$index"
		replace=
		echo "attested $repo@$index and $repo@$manifest (linux/$arch) with the SPDX SBOM of linux/$arch"
	done
}

"$crane" push --index "$top/build/oci/pgbouncer" "$repo:$tag" >/dev/null
"$crane" push --index "$top/build/oci/init" "$repo:$tag-init" >/dev/null
for t in "$tag" "$tag-init"; do
	digest=$("$crane" digest "$repo:$t")
	echo "pushed $repo:$t@$digest"
	image=pgbouncer
	[ "$t" = "$tag" ] || image=init
	[ ${#sign[@]} -eq 0 ] || sign_and_attest "$image" "$digest"
done
# :latest and :init move last, so that they never name an unsigned image
# when signing fails
if [ $# -lt 3 ]; then
	"$crane" tag "$repo:$tag" latest
	"$crane" tag "$repo:$tag-init" init
fi
