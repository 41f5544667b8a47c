#!/usr/bin/env bash
# Build static dependencies from Debian's source packages into a cache.
#
#   scripts/build-deps.sh PREFIX CC [pgbouncer]
#
# Always: OpenSSL and libpq (+ libpgcommon, libpgport) of this Debian release.
# With "pgbouncer": also libevent and pgbouncer, the newest versions that the
# current stable release offers, linked into PREFIX/bin/pgbouncer.
# PREFIX is e.g. build/deps-musl; CC is musl-gcc for what ships, gcc for the
# sanitizer host build, scripts/aarch64-musl-gcc for the arm64 cross build
# (build/deps-musl-arm64).  A stamp file per library makes a second run a no-op.
#
# Every prefix builds from the same source packages: the version first chosen
# for a package is pinned in build/src/pins, so an architecture built later
# does not pick up a newer upload.  PREFIX/components records what was built
# (name, Debian source package, version, tarball, sha256, license) for the SBOM.
set -euo pipefail

prefix=$(realpath -m "$1")
cc=$2
# the cross compiler wrapper (scripts/aarch64-musl-gcc) by name: OpenSSL
# records the compiler it was built with, and no path should be in there
PATH="$(cd "$(dirname "$0")" && pwd):$PATH"
what=${3:-}
top=$(cd "$(dirname "$0")/.." && pwd)
dl="$top/build/src"            # downloaded source packages, shared by all prefixes
pins="$dl/pins"
work="$prefix/work"
jobs=$(nproc 2>/dev/null || echo 2)
# the target: musl-gcc and gcc say x86_64-linux-gnu, the cross wrapper
# aarch64-linux-gnu; a cross build tells configure its --host and uses the
# cross binutils
host=$($cc -dumpmachine)
build=$(gcc -dumpmachine)
cross=()
tool=
if [ "$host" != "$build" ]; then
	cross=(--host="$host")
	tool="$host-"
	export AR="${tool}ar" RANLIB="${tool}ranlib"
fi
# no build directory in the binaries: the same sources give the same bytes
# wherever they are built
nopath="-ffile-prefix-map=$prefix/work="

log() { printf 'build-deps: %s\n' "$*" >&2; }

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

apt_setup() {
	[ -f "$aptdir/.updated" ] && return 0
	mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	derive_sources >"$aptdir/sources.list.d/debian-src.sources"
	: >"$aptdir/sources.list"
	if [ -f /etc/apt/sources.list ]; then
		sed -n "s/^deb \(.*\) $codename\(.*\)$/deb-src \1 $codename\2\ndeb-src \1 stable\2/p" \
			/etc/apt/sources.list >"$aptdir/sources.list"
	fi
	log "reading the source package lists"
	"$top/scripts/with-apt-lock.sh" apt-get "${apt_opts[@]}" update -qq
	touch "$aptdir/.updated"
}

# candidates PACKAGE SUITE-REGEX: versions the lists offer, newest first
candidates() {
	apt-cache "${apt_opts[@]}" madison "$1" 2>/dev/null |
		awk -F'|' -v re="$2" '$3 ~ /Sources/ && $3 ~ re { gsub(/ /, "", $2); print $2 }' |
		sort -u -r -V
}

# fetch PACKAGE SUITE-REGEX -> path of the upstream tarball of the newest
# version that downloads.  The mirror serves some versions' files and not
# others, so each candidate is tried in turn.
fetch() {
	local pkg=$1 v upver f
	mkdir -p "$dl"
	for v in $(pinned "$pkg") $(candidates "$pkg" "$2"); do
		upver=${v#*:}
		upver=${upver%-*}
		# A version counts only when its .dsc and upstream tarball are both
		# here: a failed download can leave one without the other.
		f=$(ls "$dl/${pkg}_${upver}".orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -1 || true)
		if [ -n "$f" ] && [ -f "$dl/${pkg}_${v#*:}.dsc" ]; then
			pin "$pkg" "$v"
			echo "$f"
			return 0
		fi
		log "downloading $pkg $v"
		if (cd "$dl" && "$top/scripts/with-apt-lock.sh" apt-get "${apt_opts[@]}" source --download-only -qq "$pkg=$v" >/dev/null 2>&1); then
			f=$(ls "$dl/${pkg}_${upver}".orig.tar.* | grep -v '\.asc$' | head -1)
			pin "$pkg" "$v"
			echo "$f"
			return 0
		fi
		log "$pkg $v did not download, trying an older version"
	done
	log "no version of $pkg could be downloaded"
	exit 1
}

pinned() { [ -f "$pins" ] && awk -v p="$1" '$1 == p { print $2 }' "$pins" || true; }
# pin PACKAGE VERSION: the version used; it changes only when the pinned
# one can no longer be had
pin() {
	[ "$(pinned "$1")" = "$2" ] && return 0
	{ [ -f "$pins" ] && awk -v p="$1" '$1 != p' "$pins"; echo "$1 $2"; } >"$pins.new"
	mv "$pins.new" "$pins"
}

# record NAME PACKAGE SUITE-REGEX LICENSE: the component's line in
# PREFIX/components.  A prefix built before records existed gets the version
# its unpacked tree shows (fetch finds it on disk and pins it).
record() {
	local name=$1 pkg=$2 f v
	f=$(fetch "$pkg" "$3") || exit 1
	v=$(pinned "$pkg")
	touch "$prefix/components"
	awk -v n="$name" '$1 != n' "$prefix/components" >"$prefix/components.new"
	printf '%s %s %s %s %s %s\n' "$name" "$pkg" "$v" "$(basename "$f")" \
		"$(sha256sum <"$f" | cut -d' ' -f1)" "$4" >>"$prefix/components.new"
	mv "$prefix/components.new" "$prefix/components"
}

# begin NAME PACKAGE SUITE-REGEX: false when NAME is built already; else
# fetches and unpacks the newest PACKAGE into $work/NAME and sets $kh.
begin() {
	local name=$1 pkg=$2 suites=$3 src
	[ -f "$prefix/.$name.done" ] && return 1
	# called as `begin ... || return 0`, where set -e does not apply: exit
	# explicitly on every failure
	src=$(fetch "$pkg" "$suites") || exit 1
	kh=$(kernel_headers) || exit 1
	log "building $name from $(basename "$src")"
	rm -rf "$work/$name" && mkdir -p "$work/$name" || exit 1
	tar -xf "$src" -C "$work/$name" --strip-components=1 || exit 1
}

# musl has no kernel headers of its own; give it links to the system's.
kernel_headers() {
	local kh="$prefix/kernel-headers"
	mkdir -p "$kh"
	ln -sfn /usr/include/linux "$kh/linux"
	ln -sfn /usr/include/asm-generic "$kh/asm-generic"
	ln -sfn "/usr/include/$host/asm" "$kh/asm"
	echo "$kh"
}

# Size: every library is compiled with one section per function and object,
# so the final links (-Wl,--gc-sections) drop what nothing calls; OpenSSL
# leaves out the algorithms and protocols that neither PostgreSQL nor
# pgbouncer negotiate (its default provider would otherwise link them all).
sections="-ffunction-sections -fdata-sections"
openssl_unused=(no-idea no-mdc2 no-rc2 no-rc4 no-rc5 no-md4 no-bf no-cast no-camellia
	no-aria no-seed no-sm2 no-sm3 no-sm4 no-whirlpool no-gost no-ec2m no-srp no-dtls
	no-srtp no-sctp no-ct no-ts no-nextprotoneg no-rfc3779 no-filenames)

# Nothing of this machine's paths ends up in the binaries: the libraries are
# configured for /usr/local (never used: static, no modules) and copied here
# by hand, and the kernel headers are named relative to the source tree.
build_openssl() {
	begin openssl openssl "$codename" || return 0
	(
		cd "$work/openssl"
		CC="$cc" ./Configure "linux-${host%%-*}" --prefix=/usr/local --libdir=lib \
			--openssldir=/etc/ssl no-shared no-tests no-engine no-dso \
			no-async no-comp no-afalgeng no-legacy no-ssl3 \
			no-weak-ssl-ciphers "${openssl_unused[@]}" \
			-isystem../../kernel-headers $sections >/dev/null
		make -j"$jobs" build_libs >/dev/null
		mkdir -p "$prefix/lib" "$prefix/include"
		cp libssl.a libcrypto.a "$prefix/lib/"
		rm -rf "$prefix/include/openssl"
		cp -r include/openssl "$prefix/include/"
	)
	touch "$prefix/.openssl.done"
}

build_libpq() {
	begin libpq postgresql-15 "$codename" || return 0
	(
		cd "$work/libpq"
		# sysconfdir: where libpq looks for pg_service.conf (Debian's place)
		./configure "${cross[@]}" CC="$cc" CFLAGS="-O2 -isystem $kh $nopath $sections" \
			CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib" \
			LIBS="-lssl -lcrypto" \
			--prefix=/usr/local --sysconfdir=/etc/postgresql-common \
			--with-ssl=openssl --without-readline \
			--without-zlib --without-icu --without-gssapi --without-ldap \
			--without-lz4 --without-zstd >/dev/null
		make -C src/backend generated-headers >/dev/null
		make -j"$jobs" -C src/common >/dev/null
		make -j"$jobs" -C src/port >/dev/null
		make -j"$jobs" -C src/interfaces/libpq all-static-lib >/dev/null
		mkdir -p "$prefix/lib" "$prefix/include"
		cp src/interfaces/libpq/libpq.a src/common/libpgcommon.a \
			src/port/libpgport.a "$prefix/lib/"
		cp src/interfaces/libpq/libpq-fe.h src/include/postgres_ext.h \
			src/include/pg_config_ext.h "$prefix/include/"
	)
	touch "$prefix/.libpq.done"
}

build_libevent() {
	begin libevent libevent "." || return 0
	(
		cd "$work/libevent"
		CC="$cc" ./configure "${cross[@]}" --prefix="$prefix" --disable-shared --enable-static \
			--disable-openssl --disable-samples --disable-libevent-regress \
			--disable-debug-mode CFLAGS="-O2 -isystem $kh $nopath $sections" >/dev/null
		make -j"$jobs" >/dev/null 2>&1
		make install >/dev/null 2>&1
	)
	touch "$prefix/.libevent.done"
}

# musl's malloc (mallocng) hands freed large blocks straight back to the
# kernel.  pgbouncer sets SSL_MODE_RELEASE_BUFFERS, so OpenSSL frees its
# 20 KiB record buffers after every use: with musl that is an mmap, a munmap
# and page faults per TLS transaction (glibc keeps them).  mimalloc, linked
# in as one object that replaces malloc, keeps them too.  musl only: a glibc
# build keeps glibc's malloc.  Plain C, no target-specific flags, so any
# musl CC (cross compilers included) builds it.
# Sets $malloc_obj to the object to link ahead of pgbouncer's own, or "".
malloc_obj=
build_mimalloc() {
	if printf '#include <stdio.h>\n#ifdef __GLIBC__\nglibc\n#endif\n' |
		"$cc" -E -P - | grep -q glibc; then
		return 0
	fi
	malloc_obj="$prefix/lib/mimalloc.o"
	begin mimalloc mimalloc "$codename" || return 0
	(
		cd "$work/mimalloc"
		mkdir -p "$prefix/lib"
		"$cc" -O2 -DNDEBUG -DMI_MALLOC_OVERRIDE -Iinclude -isystem "$kh" $nopath $sections \
			-c src/static.c -o "$malloc_obj"
	)
	touch "$prefix/.mimalloc.done"
}

# Without c-ares pgbouncer resolves with libevent's evdns, which reads
# /etc/resolv.conf itself: what a scratch container has (Docker mounts it).
# The stamp names the allocator, so a cache built before mimalloc relinks.
build_pgbouncer() {
	begin "pgbouncer${malloc_obj:++mimalloc}" pgbouncer "." || return 0
	(
		cd "$work/pgbouncer${malloc_obj:++mimalloc}"
		./configure "${cross[@]}" CC="$cc" CFLAGS="-O2 -isystem $kh $nopath $sections" \
			LDFLAGS="-static -Wl,--gc-sections $malloc_obj" \
			LIBEVENT_CFLAGS="-I$prefix/include" LIBEVENT_LIBS="-L$prefix/lib -levent" \
			--with-openssl="$prefix" --without-cares --without-pam \
			--without-systemd --prefix=/usr >/dev/null
		make -j"$jobs" >/dev/null
		mkdir -p "$prefix/bin"
		cp pgbouncer "$prefix/bin/pgbouncer"
		"${tool}strip" "$prefix/bin/pgbouncer"
	)
	touch "$prefix/.pgbouncer${malloc_obj:++mimalloc}.done"
}

apt_setup
build_openssl
record openssl openssl "$codename" "Apache-2.0"
build_libpq
record libpq postgresql-15 "$codename" "PostgreSQL"
if [ "$what" = pgbouncer ]; then
	build_libevent
	record libevent libevent "." "BSD-3-Clause"
	build_mimalloc
	[ -z "$malloc_obj" ] || record mimalloc mimalloc "$codename" "MIT"
	build_pgbouncer
	record pgbouncer pgbouncer "." "ISC"
fi
log "dependencies ready in $prefix"
