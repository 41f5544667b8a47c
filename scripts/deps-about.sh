#!/usr/bin/env bash
# deps-about.sh PREFIX NAME [upstream]: one line on how NAME was built, for
# --version (with "upstream": only the upstream version, e.g. 1.2.5):
#   Debian 3.5.7-1~deb13u2, 23 patches
#   Debian 15.18-0+deb12u1, 10 patches, 1 skipped
# and, when ALLOW_OLDER_DEPS=1 built an older version than the pin,
#   ..., OLDER than the pin 15.20-0+deb12u1
# Empty when NAME was not built from a Debian source package.
set -euo pipefail
f=$1/components.d/$2
[ -f "$f" ] || exit 0
if [ "${3:-}" = upstream ]; then
	# Debian's version less its revision (and epoch)
	awk '$1 == "version" { v = $2; sub(/^[0-9]+:/, "", v); sub(/-[^-]*$/, "", v); print v }' "$f"
	exit 0
fi
awk '$1 == "version" { v = $2 } $1 == "applied" { a++ } $1 == "skipped" { s++ }
	$1 == "fallback" { o = $2 }
	END {
		printf "Debian %s, %d patches", v, a
		if (s) printf ", %d skipped", s
		if (o != "") printf ", OLDER than the pin %s", o
		printf "\n"
	}' "$f"
