#!/usr/bin/env bash
# Build the static dependencies (OpenSSL, libpq + libpgcommon + libpgport) from
# Debian's source packages into a cache directory.
#
#   scripts/build-deps.sh PREFIX CC
#
# PREFIX is e.g. build/deps-musl; CC is musl-gcc for the shipped binary or gcc
# for the sanitizer host build.  A stamp file per library makes a second run a
# no-op.  Nothing here names a mirror: the deb-src entries are derived from the
# machine's own apt sources.
set -euo pipefail

prefix=$(realpath -m "$1")
cc=$2
top=$(cd "$(dirname "$0")/.." && pwd)
dl="$top/build/src"            # downloaded source packages, shared by all prefixes
work="$prefix/work"
jobs=$(nproc 2>/dev/null || echo 2)

log() { printf 'build-deps: %s\n' "$*" >&2; }

# Source packages and the versions to try, newest first.  The mirror serves
# some versions' files and not others, so each candidate is tried in turn.
candidates() {
	apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -u -r -V
}

ensure_deb_src() {
	if [ -n "$(apt-cache showsrc openssl 2>/dev/null | head -1)" ]; then
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		log "no deb-src entries in the apt sources; as root this script adds them"
		exit 1
	fi
	log "adding deb-src entries derived from the existing apt sources"
	# Only the distribution's own stanzas (their Suites name this release), so
	# third-party repositories without sources do not break apt-get update.
	local f out=/etc/apt/sources.list.d/pgbouncer-entrypoint-src codename
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	for f in /etc/apt/sources.list.d/*.sources; do
		case $f in "$out.sources") continue ;; esac
		[ -e "$f" ] || continue
		awk -v RS= -v ORS='\n\n' -v c="$codename" \
			'/(^|\n)Types:[^\n]*deb/ && $0 ~ "(^|\n)Suites:[^\n]*" c {
				sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); print }' "$f"
	done >"$out.sources.tmp"
	mv "$out.sources.tmp" "$out.sources"
	if [ -f /etc/apt/sources.list ]; then
		sed -n "s/^deb \\(.* $codename\\)/deb-src \\1/p" /etc/apt/sources.list >"$out.list"
	fi
	apt-get update -qq
}

# fetch PACKAGE -> prints the path of the upstream tarball that downloaded
fetch() {
	local pkg=$1 v upver f
	mkdir -p "$dl"
	for v in $(candidates "$pkg"); do
		upver=${v#*:}
		upver=${upver%-*}
		# A version counts only when its .dsc and upstream tarball are both
		# here: a failed download can leave one without the other.
		f=$(ls "$dl/${pkg}_${upver}".orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -1 || true)
		if [ -n "$f" ] && [ -f "$dl/${pkg}_${v#*:}.dsc" ]; then
			echo "$f"
			return 0
		fi
		log "downloading $pkg $v"
		if (cd "$dl" && apt-get source --download-only -qq "$pkg=$v" >/dev/null 2>&1); then
			f=$(ls "$dl/${pkg}_${upver}".orig.tar.* | grep -v '\.asc$' | head -1)
			echo "$f"
			return 0
		fi
		log "$pkg $v did not download, trying an older version"
	done
	log "no version of $pkg could be downloaded"
	exit 1
}

unpack() {
	local tarball=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -xf "$tarball" -C "$dir" --strip-components=1
}

# musl has no kernel headers of its own; give it links to the system's.
kernel_headers() {
	local kh="$prefix/kernel-headers"
	mkdir -p "$kh"
	ln -sfn /usr/include/linux "$kh/linux"
	ln -sfn /usr/include/asm-generic "$kh/asm-generic"
	ln -sfn "/usr/include/$(gcc -dumpmachine)/asm" "$kh/asm"
	echo "$kh"
}

build_openssl() {
	[ -f "$prefix/.openssl.done" ] && return 0
	local src kh
	src=$(fetch openssl)
	kh=$(kernel_headers)
	log "building OpenSSL from $(basename "$src")"
	unpack "$src" "$work/openssl"
	(
		cd "$work/openssl"
		CC="$cc" ./Configure linux-x86_64 --prefix="$prefix" --libdir=lib \
			--openssldir=/etc/ssl no-shared no-tests no-engine no-dso \
			no-async no-comp no-afalgeng no-legacy no-ssl3 \
			no-weak-ssl-ciphers -isystem "$kh" >/dev/null
		make -j"$jobs" build_libs >/dev/null
		make install_dev >/dev/null
	)
	touch "$prefix/.openssl.done"
}

build_libpq() {
	[ -f "$prefix/.libpq.done" ] && return 0
	local src kh pkg
	pkg=$(apt-cache showsrc postgresql-15 >/dev/null 2>&1 && echo postgresql-15)
	src=$(fetch "${pkg:-postgresql-15}")
	kh=$(kernel_headers)
	log "building libpq from $(basename "$src")"
	unpack "$src" "$work/postgresql"
	(
		cd "$work/postgresql"
		./configure CC="$cc" CFLAGS="-O2 -isystem $kh" \
			CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib" \
			LIBS="-lssl -lcrypto" \
			--prefix="$prefix" --with-ssl=openssl --without-readline \
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

ensure_deb_src
build_openssl
build_libpq
log "dependencies ready in $prefix"
