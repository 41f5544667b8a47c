#!/usr/bin/env bash
# make deps-check: for each pin of scripts/deps.pins, every newer version the
# Sources indexes list (libpq: of the newer PostgreSQL majors' packages too),
# whether its files download, and the CVE ids its debian/changelog names that
# the pinned version's does not.  A report for the maintainer bumping a pin
# (docs/building.md "Dependencies"); it changes nothing of the build.  Downloads go to
# build/deps-check/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps-apt.sh"
check="$top/build/deps-check"
mkdir -p "$check"
apt_setup fresh

# versions PACKAGE: every version the Sources indexes list, newest first
versions() {
	apt-cache "${apt_opts[@]}" madison "$1" 2>/dev/null |
		awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); print $2 }' | sort -u -r -V
}

# fetched PACKAGE VERSION: the directory its files downloaded to, or fail
fetched() {
	local d="$check/$1_$2"
	[ -f "$d/.ok" ] && { echo "$d"; return 0; }
	rm -rf "$d" && mkdir -p "$d"
	(cd "$d" && "$top/scripts/with-apt-lock.sh" apt-get "${apt_opts[@]}" source \
		--download-only -qq "$1=$2" >/dev/null 2>&1) || return 1
	touch "$d/.ok"
	echo "$d"
}

# cves DIR: the CVE ids of the debian/changelog in DIR's Debian tarball
cves() {
	local t
	t=$(ls "$1"/*.debian.tar.* 2>/dev/null | head -1) || true
	[ -n "$t" ] || return 0
	tar -xOf "$t" debian/changelog 2>/dev/null | grep -oE 'CVE-[0-9]{4}-[0-9]+' | sort -u || true
}

printf '%-10s %-30s %-30s %-10s %s\n' component pinned newer downloads "CVEs the pin lacks"
while read -r name pkg pin _; do
	case $name in '' | '#'*) continue ;; esac
	candidates=$pkg
	# libpq: the PostgreSQL majors after the pinned one are candidates too
	if [ "$name" = libpq ]; then
		major=${pkg#postgresql-}
		for m in $(seq $((major + 1)) $((major + 4))); do candidates+=" postgresql-$m"; done
	fi
	have=""
	if d=$(fetched "$pkg" "$pin"); then have=$(cves "$d"); fi
	shown=0
	for cand in $candidates; do
		for v in $(versions "$cand"); do
			[ "$cand" != "$pkg" ] || dpkg --compare-versions "$v" gt "$pin" || continue
			if d=$(fetched "$cand" "$v"); then
				ok=yes
				new=$(comm -13 <(echo "$have") <(cves "$d") | tr '\n' ' ')
			else
				ok=no
				new="(its changelog does not download)"
			fi
			printf '%-10s %-30s %-30s %-10s %s\n' "$name" "$pkg $pin" "$cand $v" "$ok" "${new:--}"
			shown=1
		done
	done
	[ "$shown" = 1 ] || printf '%-10s %-30s %-30s %-10s %s\n' "$name" "$pkg $pin" "(none)" - -
done <"$top/scripts/deps.pins"
