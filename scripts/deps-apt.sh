# Sourced by scripts/build-deps.sh and scripts/deps-check.sh, with $top set.
# Source packages come through a private apt configuration under build/apt:
# deb-src stanzas derived from the machine's own Debian sources (the stanzas
# whose Suites name this release), for this release and for the current
# "stable" release.  The machine's apt configuration is not touched, and no
# mirror name is written anywhere: the URIs are the machine's.
aptdir="$top/build/apt"
apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list"
	-o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
	-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
	-o "APT::Sandbox::User=root")
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")

derive_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v RS= -v c="$codename" '
			$0 ~ "(^|\n)Suites:[^\n]*" c {
				n = split($0, lines, "\n")
				for (i = 1; i <= n; i++) {
					l = lines[i]
					if (l ~ /^Types:/)
						l = "Types: deb-src"
					else if (l ~ /^Suites:/) {
						s = l; sub(/^Suites:/, "", s); gsub(c, "stable", s); l = l s
					}
					print l
				}
				print ""
			}' "$f"
	done
}

# apt_setup [fresh]: the lists, read once (fresh: read again now)
apt_setup() {
	[ "${1:-}" != fresh ] && [ -f "$aptdir/.updated" ] && return 0
	mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	derive_sources >"$aptdir/sources.list.d/debian-src.sources"
	: >"$aptdir/sources.list"
	if [ -f /etc/apt/sources.list ]; then
		sed -n "s/^deb \(.*\) $codename\(.*\)$/deb-src \1 $codename\2\ndeb-src \1 stable\2/p" \
			/etc/apt/sources.list >"$aptdir/sources.list"
	fi
	echo "reading the source package lists" >&2
	"$top/scripts/with-apt-lock.sh" apt-get "${apt_opts[@]}" update -qq
	touch "$aptdir/.updated"
}
