#!/usr/bin/env bash
# Build static dependencies from Debian's source packages into a cache.
#
#   scripts/build-deps.sh PREFIX CC [pgbouncer | only NAME]
#
# (only NAME: that one component, e.g. to try a new pin.  DEPS_PINS=FILE
# reads the pins from FILE instead of scripts/deps.pins.)
#
# Always: musl (for musl-gcc and aarch64-musl-gcc), OpenSSL and libpq (+ libpgcommon, libpgport).  With "pgbouncer":
# also libevent, mimalloc (musl only) and pgbouncer, linked into
# PREFIX/bin/pgbouncer.  PREFIX is e.g. build/deps-musl-amd64; CC is musl-gcc
# for what ships (our own musl, built first), gcc for the sanitizer host
# build, aarch64-musl-gcc for the arm64 cross build (build/deps-musl-arm64).  A stamp per library
# makes a second run a no-op while its pin and its recipe are unchanged.
#
# Each component is the Debian source package that scripts/deps.pins names,
# exactly: its files checked by apt against the signed Sources index, unpacked
# by dpkg-source, Debian's patch series applied (but for scripts/deps.skip's),
# the upstream signature checked where Debian ships the upstream key.  Every
# prefix builds from the same pins.  PREFIX/components and PREFIX/components.d
# record what was built, with which patches, for --version and the SBOM.
set -euo pipefail

cc=$2
top=$(cd "$(dirname "$0")/.." && pwd)

# The builds outlive the clone: a PREFIX that does not exist yet becomes a
# link to PGBE_DEPS_CACHE/<digest>/<its name> (default
# ~/.cache/pgbouncer-entrypoint/deps), the digest being that of CC and the
# compiler's version.  A new clone on the same machine (CI) links to what an
# earlier one built instead of spending half an hour on it again; what its
# pins or recipe change is rebuilt there as in build/ (the stamps below).
# Nothing built there carries its path (-ffile-prefix-map; the tests look).
# A lock keeps two clones from building into one folder at once.
# PGBE_DEPS_CACHE=off: a plain folder in build/.
# Only the project's own build/deps-* from its own pins: a trial with other
# pins (DEPS_PINS, `only`) or another prefix builds where it is told.
if [ ! -e "$1" ] && [ ! -L "$1" ] && [ "${PGBE_DEPS_CACHE:-}" != off ] &&
	[ -z "${DEPS_PINS:-}" ] && [ "${3:-}" != only ] &&
	[ "$(realpath -m "$(dirname "$1")")" = "$top/build" ]; then
	case $cc in
	aarch64-musl-gcc) ccv=$(aarch64-linux-gnu-gcc --version 2>/dev/null | head -1) ;;
	musl-gcc) ccv=$(gcc --version | head -1) ;;
	*) ccv=$($cc --version | head -1) ;;
	esac
	digest=$(echo "$cc $ccv" | sha256sum | cut -c1-16)
	cached="${PGBE_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgbouncer-entrypoint/deps}/$digest/$(basename "$1")"
	mkdir -p "$cached" "$(dirname "$1")"
	ln -s "$cached" "$1"
	printf 'build-deps: %s -> %s\n' "$1" "$cached" >&2
fi
prefix=$(realpath -m "$1")
if [ -L "$1" ]; then
	mkdir -p "$prefix"
	exec 9>"$prefix/.lock"
	flock 9
fi
# our make's command-line variables (ARCH=arm64, CFLAGS) reach sub-makes
# through MAKEFLAGS: the libraries' own makes must not see them (musl has an
# ARCH of its own)
unset MAKEFLAGS MFLAGS MAKELEVEL
# musl-gcc and aarch64-musl-gcc are the drivers of our own musl, built here
# first (build_musl) with Debian's gcc or its aarch64 cross gcc; they are
# called by name, from PATH: OpenSSL records the compiler it was built with,
# and no path should be in there.  -mno-outline-atomics: the cross gcc's
# libgcc would pick LSE atomics at run time through glibc's __getauxval,
# which musl has not; inline LL/SC atomics work on every ARMv8 CPU.
archflags=
case $cc in
musl-gcc) realcc=gcc ;;
aarch64-musl-gcc) realcc=aarch64-linux-gnu-gcc archflags=-mno-outline-atomics ;;
*) realcc=$cc ;;
esac
PATH="$prefix/musl/bin:$PATH"
what=${3:-}
only=${4:-}
pins=${DEPS_PINS:-$top/scripts/deps.pins}
dl="$top/build/src"            # downloaded source packages, shared by all prefixes
work="$prefix/work"
jobs=$(nproc 2>/dev/null || echo 2)
# the target: gcc says x86_64-linux-gnu, the cross gcc aarch64-linux-gnu; a
# cross build tells configure its --host and uses the cross binutils
host=$($realcc -dumpmachine)
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

# the private apt configuration (build/apt) and apt_setup
. "$top/scripts/deps-apt.sh"

# pin NAME -> "PACKAGE VERSION LICENSE" from scripts/deps.pins
pin_of() {
	awk -v n="$1" '$1 == n { print $2, $3, $4; f = 1 } END { exit !f }' "$pins" ||
		{ log "$1 has no line in $pins"; exit 1; }
}

# older PACKAGE VERSION: the versions the Sources indexes list below VERSION,
# newest first
older() {
	apt-cache "${apt_opts[@]}" madison "$1" 2>/dev/null |
		awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); print $2 }' | sort -u -r -V |
		while read -r v; do
			dpkg --compare-versions "$v" lt "$2" && echo "$v"
		done
}

# download PACKAGE VERSION: the source package's files into $dl.  apt checks
# each file (already there or not) against the checksums of the Sources
# index, whose InRelease signature it checked: nothing unverified is used.
download() {
	(cd "$dl" && "$top/scripts/with-apt-lock.sh" apt-get "${apt_opts[@]}" source \
		--download-only -qq "$1=$2" >/dev/null 2>&1)
}

# fetch NAME -> "VERSION FALLBACK" of NAME's pinned source package, now in
# $dl.  No silent fallback: a pin that does not download stops the build,
# unless ALLOW_OLDER_DEPS=1, which takes the newest older version that does,
# loudly.
fetch() {
	local pkg v lic
	read -r pkg v lic < <(pin_of "$1")
	mkdir -p "$dl"
	# lists read before the pin was published do not know it: read them again
	if download "$pkg" "$v" || { apt_setup fresh && download "$pkg" "$v"; }; then
		echo "$v -"
		return 0
	fi
	if [ "${ALLOW_OLDER_DEPS:-0}" != 1 ]; then
		log "ERROR: $pkg $v ($(basename "$pins")) did not download; nothing older is built"
		log "       unless ALLOW_OLDER_DEPS=1 (then with a warning in --version and the SBOM);"
		log "       \`make deps-check\` shows what the mirror has"
		exit 1
	fi
	for o in $(older "$pkg" "$v"); do
		if download "$pkg" "$o"; then
			log "WARNING: ALLOW_OLDER_DEPS=1: building $pkg $o, OLDER than the pin $v, which did not download"
			echo "$o $v"
			return 0
		fi
	done
	log "ERROR: neither $pkg $v nor any older version downloads"
	exit 1
}

# dsc_files DSC: the files a .dsc lists, with their sha256
dsc_files() {
	awk '/^Checksums-Sha256:/ { f = 1; next } /^[^ ]/ { f = 0 } f && NF == 3 { print $3, $1 }' "$1"
}

# unpack NAME PACKAGE VERSION DIR: the source package unpacked by dpkg-source
# (which checks the .dsc's checksums of every file), then Debian's patch
# series applied in order, but for scripts/deps.skip's.  Writes DIR/.pgbe-patches:
# "applied PATCH" / "skipped PATCH REASON" lines, and checks the upstream
# tarball's signature when Debian ships the upstream key.
unpack() {
	local name=$1 pkg=$2 v=$3 dir=$4 up=${3#*:} dsc series p opt why asc key
	up=${up%-*}
	dsc="$dl/${pkg}_${v#*:}.dsc"
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	dpkg-source --skip-patches -x "$dsc" "$dir" >"$dir.unpack.log" 2>&1 ||
		{ log "dpkg-source could not unpack $dsc (see $dir.unpack.log)"; exit 1; }
	: >"$dir/.pgbe-patches"
	series="$dir/debian/patches/series"
	if [ -f "$series" ]; then
		while read -r p opt; do
			case $p in '' | '#'*) continue ;; esac
			why=$(awk -v k="$pkg" -v p="$p" '$1 == k && $2 == p { $1 = $2 = ""; sub(/^ +/, ""); print }' \
				"$top/scripts/deps.skip")
			if [ -n "$why" ]; then
				echo "skipped $p $why" >>"$dir/.pgbe-patches"
				continue
			fi
			patch -d "$dir" -s -f -N --no-backup-if-mismatch "${opt:--p1}" \
				<"$dir/debian/patches/$p" || { log "$pkg: patch $p does not apply"; exit 1; }
			echo "applied $p" >>"$dir/.pgbe-patches"
		done <"$series"
	fi
	log "$pkg $v: $(grep -c '^applied' "$dir/.pgbe-patches") Debian patches applied, $(grep -c '^skipped' "$dir/.pgbe-patches") skipped (scripts/deps.skip)"
	# the upstream's own signature, with the upstream key Debian ships
	key="$dir/debian/upstream/signing-key.asc"
	asc=$(ls "$dl/${pkg}_${up}".orig.tar.*.asc 2>/dev/null | head -1 || true)
	if [ -f "$key" ] && [ -n "$asc" ]; then
		gpg --dearmor <"$key" >"$dir.keyring"
		gpgv --keyring "$dir.keyring" "$asc" "${asc%.asc}" >"$dir.gpgv.log" 2>&1 ||
			{ log "$pkg: the upstream signature of $(basename "${asc%.asc}") does not verify"; exit 1; }
		echo "signature $(basename "$asc") good $(awk '/using .* key/ { print $NF; exit }' "$dir.gpgv.log")" >>"$dir/.pgbe-patches"
	else
		echo "signature none" >>"$dir/.pgbe-patches"
	fi
}

# record NAME VERSION FALLBACK: NAME's line in PREFIX/components (name,
# package, version, .dsc, its sha256, license: read by the Makefile and the
# SBOM) and PREFIX/components.d/NAME (every file with its sha256, the
# patches applied and skipped, the signature, a fallback), from what was built.
record() {
	local name=$1 v=$2 fallback=$3 pkg pv lic dsc
	read -r pkg pv lic < <(pin_of "$name")
	dsc="${pkg}_${v#*:}.dsc"
	mkdir -p "$prefix/components.d"
	{
		echo "name $name"
		echo "package $pkg"
		echo "version $v"
		echo "license $lic"
		[ "$fallback" = - ] || echo "fallback $fallback"
		echo "file $dsc $(sha256sum <"$dl/$dsc" | cut -d' ' -f1)"
		dsc_files "$dl/$dsc" | sed 's/^/file /'
		cat "$work/$name/.pgbe-patches"
	} >"$prefix/components.d/$name"
	touch "$prefix/components"
	awk -v n="$name" '$1 != n' "$prefix/components" >"$prefix/components.new"
	printf '%s %s %s %s %s %s\n' "$name" "$pkg" "$v" "$dsc" \
		"$(sha256sum <"$dl/$dsc" | cut -d' ' -f1)" "$lic" >>"$prefix/components.new"
	mv "$prefix/components.new" "$prefix/components"
}

# begin NAME [STAMP]: false when NAME is built already from the version that
# is pinned now; else fetches and unpacks it into $work/NAME and sets $kh.
# The stamp holds the version built and the recipe: a new pin or a changed
# recipe rebuilds.
begin() {
	local name=$1 stamp="$prefix/.${2:-$1}.done" got
	got=$(fetch "$name") || exit 1
	read -r ver fallback <<<"$got"
	recipe=$(recipe_of "$name")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver $fallback $recipe" ] && [ -d "$work/$name" ]; then
		record "$name" "$ver" "$fallback"
		return 1
	fi
	kh=$(kernel_headers) || exit 1
	log "building $name from $(pin_of "$name" | cut -d' ' -f1) $ver"
	unpack "$name" "$(pin_of "$name" | cut -d' ' -f1)" "$ver" "$work/$name" || exit 1
}

# recipe_of NAME: a digest of how NAME is built (its build function, the
# unpacking, its lines of scripts/deps.skip): a change rebuilds it
recipe_of() {
	{
		declare -f "build_$1" unpack
		declare -p openssl_unused sections
		# everything is rebuilt on another C library
		[ "$1" = musl ] || cat "$prefix/.musl.done" 2>/dev/null || true
		awk -v k="$(pin_of "$1" | cut -d' ' -f1)" '$1 == k' "$top/scripts/deps.skip"
	} | sha256sum | cut -c1-16
}

# built NAME [STAMP]: NAME is built; the stamp says from what, and how
built() {
	echo "$ver $fallback $recipe" >"$prefix/.${2:-$1}.done"
	record "$1" "$ver" "$fallback"
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
	no-srtp no-sctp no-ct no-ts no-nextprotoneg no-rfc3779 no-filenames
	no-quic no-cmp no-cms no-ml-dsa no-slh-dsa no-argon2 no-scrypt no-siv no-ocb
	no-sm2-precomp no-ssl-trace no-unstable-qlog no-ktls no-psk no-thread-pool
	no-default-thread-pool no-integrity-only-ciphers no-tls-deprecated-ec
	no-tls1 no-tls1_1 no-docs no-apps)
# kept on purpose: ocsp and http (pgbouncer's TLS code calls the OCSP
# callbacks) and ml-kem (3.5's default key share, X25519MLKEM768)

# musl, from Debian's source package with its patches (Debian's bookworm
# musl-dev 1.2.3 has none, and its qsort and iconv carry known CVEs), into
# PREFIX/musl, with the driver every later build here and the Makefile use:
# PREFIX/musl/bin/musl-gcc (aarch64-musl-gcc for arm64), which is gcc with
# musl's specs.  Only for those two; a glibc build has no musl.  What ships
# is linked -static; the shared library and its loader (in PREFIX/musl/lib,
# not /lib) are there for the programs configure scripts build and run,
# which the driver links dynamically, as Debian's musl-gcc does.
build_musl() {
	[ "$realcc" != "$cc" ] || return 0
	begin musl || return 0
	(
		cd "$work/musl"
		./configure --prefix="$prefix/musl" --syslibdir="$prefix/musl/lib" --target="$host" \
			--enable-wrapper=gcc CC="$realcc" CROSS_COMPILE="$tool" \
			CFLAGS="-O2 $archflags $nopath" >/dev/null
		make -j"$jobs" >/dev/null
		rm -rf "$prefix/musl"
		make install >/dev/null
		printf '#!/bin/sh\nexec %s %s "$@" -specs "%s/lib/musl-gcc.specs"\n' \
			"$realcc" "$archflags" "$prefix/musl" >"$prefix/musl/bin/$cc"
		chmod 0755 "$prefix/musl/bin/$cc"
	)
	built musl
}

# Nothing of this machine's paths ends up in the binaries: the libraries are
# configured for /usr/local (never used: static, no modules) and copied here
# by hand, and the kernel headers are named relative to the source tree.
build_openssl() {
	begin openssl || return 0
	(
		cd "$work/openssl"
		CC="$cc" ./Configure "linux-${host%%-*}" --prefix=/usr/local --libdir=lib \
			--openssldir=/etc/ssl no-shared no-tests no-engine no-dso \
			no-async no-comp no-afalgeng no-legacy no-ssl3 \
			no-weak-ssl-ciphers "${openssl_unused[@]}" \
			-isystem../../kernel-headers $sections >/dev/null
		# its install-path script prints DEBUG lines on stderr: kept in a log,
		# shown when the build fails
		make -j"$jobs" build_libs >"$work/openssl.log" 2>&1 ||
			{ tail -40 "$work/openssl.log" >&2; exit 1; }
		mkdir -p "$prefix/lib" "$prefix/include"
		cp libssl.a libcrypto.a "$prefix/lib/"
		rm -rf "$prefix/include/openssl"
		cp -r include/openssl "$prefix/include/"
	)
	built openssl
}

build_libpq() {
	begin libpq || return 0
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
	built libpq
}

build_libevent() {
	begin libevent || return 0
	(
		cd "$work/libevent"
		CC="$cc" ./configure "${cross[@]}" --prefix="$prefix" --disable-shared --enable-static \
			--disable-openssl --disable-samples --disable-libevent-regress \
			--disable-debug-mode CFLAGS="-O2 -isystem $kh $nopath $sections" >/dev/null
		make -j"$jobs" >/dev/null 2>&1
		make install >/dev/null 2>&1
	)
	built libevent
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
	begin mimalloc || return 0
	(
		cd "$work/mimalloc"
		mkdir -p "$prefix/lib"
		"$cc" -O2 -DNDEBUG -DMI_MALLOC_OVERRIDE -Iinclude -isystem "$kh" $nopath $sections \
			-c src/static.c -o "$malloc_obj"
	)
	built mimalloc
}

# Without c-ares pgbouncer resolves with libevent's evdns, which reads
# /etc/resolv.conf itself: what a scratch container has (Docker mounts it).
# The stamp names the allocator, so a cache built before mimalloc relinks.
build_pgbouncer() {
	begin pgbouncer "pgbouncer${malloc_obj:++mimalloc}" || return 0
	(
		cd "$work/pgbouncer"
		./configure "${cross[@]}" CC="$cc" CFLAGS="-O2 -isystem $kh $nopath $sections" \
			LDFLAGS="-static -Wl,--gc-sections $malloc_obj" \
			LIBEVENT_CFLAGS="-I$prefix/include" LIBEVENT_LIBS="-L$prefix/lib -levent" \
			--with-openssl="$prefix" --without-cares --without-pam \
			--without-systemd --prefix=/usr >/dev/null
		make -j"$jobs" >/dev/null
		mkdir -p "$prefix/bin"
		# the unstripped copy tells the SBOM which C library functions are linked
		cp pgbouncer "$prefix/bin/pgbouncer.unstripped"
		"${tool}strip" -o "$prefix/bin/pgbouncer" pgbouncer
	)
	built pgbouncer "pgbouncer${malloc_obj:++mimalloc}"
}

apt_setup
for name in musl openssl libpq libevent mimalloc pgbouncer; do
	pin_of "$name" >/dev/null
done
if [ "$what" = only ]; then
	pin_of "$only" >/dev/null
	"build_$only"
	log "$only ready in $prefix"
	exit 0
fi
build_musl
build_openssl
build_libpq
if [ "$what" = pgbouncer ]; then
	build_libevent
	build_mimalloc
	build_pgbouncer
fi
log "dependencies ready in $prefix"
