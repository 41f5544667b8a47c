# pgbouncer-entrypoint
#
#   make            static musl binary: build/pgbouncer-entrypoint
#   make test       unit tests, then the real binary against real PostgreSQL
#                   and pgbouncer (tests/run)
#   make demo       a throwaway PostgreSQL + pgbouncer configured by the binary
#   make san        the same sources, host glibc build with ASan + UBSan
#   make bench      what the pool is worth and costs, musl vs glibc pgbouncer,
#                   the entrypoint's own cost, wait latency, deadline overshoot
#                   and SIGTERM against faulty upstreams: one table,
#                   bench/results.md
#   make fuzz       libFuzzer targets (tests/fuzz), FUZZ_SECONDS in all
#   make image      the FROM scratch images, linux/amd64 + linux/arm64 (OCI
#                   indexes in build/oci/), the native one on the local engine
#   make image-native   the same for the host's platform only (no arm64 build)
#   make push REGISTRY=host[:port]/path [TAG=...] [SIGN_KEY=cosign.key]
#                   publish both images (and sign them, attest their SBOMs)
#   make ARCH=arm64 the same program cross-built for aarch64 into build/arm64/
#
# Dependencies (OpenSSL, libpq) are built once from Debian's source packages
# into build/deps-<flavour> (arm64: build/deps-musl-arm64) by
# scripts/build-deps.sh.

VERSION := $(shell sed -n 's/.*PGBE_VERSION "\(.*\)"/\1/p' src/base/version.h)

# The dependencies' pins and recipe are inputs: a change runs the dependency
# build again, which rebuilds what changed and nothing else.
DEPS_INPUTS := scripts/build-deps.sh scripts/deps-apt.sh scripts/deps.pins scripts/deps.skip

FLAVOUR ?= musl
ARCH ?= amd64
STRIP := strip
ifeq ($(FLAVOUR),musl)
# the driver of our own musl, which the dependency build makes first
# (scripts/build-deps.sh build_musl, from Debian's patched musl source)
ifeq ($(ARCH),arm64)
DEPS := build/deps-musl-arm64
CC := $(DEPS)/musl/bin/aarch64-musl-gcc
OUT := build/arm64
STRIP := aarch64-linux-gnu-strip
else
DEPS := build/deps-musl-amd64
CC := $(DEPS)/musl/bin/musl-gcc
OUT := build
endif
# one section per function: the static link keeps only what is called
LDSTATIC := -static -Wl,--gc-sections
SECTIONS := -ffunction-sections -fdata-sections
HARDEN := -fstack-protector-strong
# musl has no run-time version call: --version reports the musl the
# dependency build made.  Deferred (=, not :=): read by the recipes, which
# run after the dependency build ($(DEPS)/.libpq.done), never when make
# starts on a machine that has built nothing yet.
MUSL_VERSION = $(shell scripts/deps-about.sh $(DEPS) musl upstream)
else
MUSL_VERSION :=
CC := gcc
DEPS := build/deps-host
OUT := build/host
LDSTATIC :=
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -O1 -g \
	  -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes
CFLAGS ?= -O2
# how OpenSSL and libpq were built (Debian revision, patches), for --version;
# deferred like MUSL_VERSION: read after the dependency build wrote it
DEP_BUILD = $(shell scripts/deps-about.sh $(DEPS) $(1))
CPPFLAGS = -D_GNU_SOURCE -Isrc -I$(DEPS)/include -isystem $(DEPS)/kernel-headers \
	-DPGBE_MUSL_VERSION='"$(MUSL_VERSION)"' -DPGBE_MUSL_BUILD='"$(call DEP_BUILD,musl)"' \
	-DPGBE_OPENSSL_BUILD='"$(call DEP_BUILD,openssl)"' -DPGBE_LIBPQ_BUILD='"$(call DEP_BUILD,libpq)"'
# no build directory in the binary: the same commit gives the same bytes
ALL_CFLAGS := -std=c11 $(WARN) $(HARDEN) $(SECTIONS) -ffile-prefix-map=$(CURDIR)/= $(CFLAGS)
LIBS := -L$(DEPS)/lib -lpq -lpgcommon -lpgport -lssl -lcrypto

SRC := $(filter-out src/cmd/main.c,$(wildcard src/*/*.c))
OBJ := $(patsubst src/%.c,$(OUT)/obj/%.o,$(SRC))
HDR := $(wildcard src/*/*.h)
BIN := $(OUT)/pgbouncer-entrypoint
UNIT := $(OUT)/unit-tests

.PHONY: FORCE all deps deps-check test check check-layers unit demo san bench fuzz fuzz-build image image-native push arm64 tools dockerfile \
	readme-settings format clean distclean
all: $(BIN)

# A static pgbouncer (newest that Debian's stable source packages offer),
# linked against the same static OpenSSL, for the pgbouncer image.
PGBOUNCER_BIN := $(OUT)/pgbouncer
$(PGBOUNCER_BIN): $(DEPS_INPUTS) | $(DEPS)/.libpq.done
	scripts/build-deps.sh $(DEPS) $(notdir $(CC)) pgbouncer
	cp $(DEPS)/bin/pgbouncer $@
	@file $@ | grep -q 'statically linked' || { echo "$@ is not static"; exit 1; }

# The same three binaries cross-built for aarch64 (build/arm64/), for the
# arm64 images; their own dependency cache is build/deps-musl-arm64.
ARM64_BINS := build/arm64/pgbouncer-entrypoint build/arm64/unit-tests build/arm64/pgbouncer
arm64:
	$(MAKE) ARCH=arm64 $(ARM64_BINS)

# crane, actionlint, cosign, helm, helm-unittest and our strict Kubernetes
# decoder at pinned versions, built once per machine, copied into build/tools
tools:
	scripts/install-tools.sh

# The two FROM scratch images for linux/amd64 and linux/arm64 as OCI layouts
# with an index each (build/oci/pgbouncer, build/oci/init), reproducible from
# the commit; the native platform's images are loaded as
# pgbouncer-entrypoint:latest and :init, plus version tags.
image: $(BIN) $(PGBOUNCER_BIN) arm64
	scripts/build-images.sh $(VERSION)

# The host's platform only (no arm64 cross-build): the same images on the
# local engine in a fraction of the time; the OCI indexes list one platform.
image-native: $(BIN) $(PGBOUNCER_BIN)
	PGBE_PLATFORMS=native scripts/build-images.sh $(VERSION)

# make push REGISTRY=host[:port]/path [TAG=...]: both images, with their
# indexes, as REGISTRY/pgbouncer-entrypoint:TAG and :TAG-init (TAG defaults
# to the version, which also moves :latest and :init).
# SIGN_KEY=cosign.key (its password in COSIGN_PASSWORD) signs each index with
# cosign and attests its SPDX SBOMs; SIGN_KEYLESS=1 signs keyless (the release
# workflow).  Only the tools a push needs are built.
push: image
	scripts/install-tools.sh crane $(if $(SIGN_KEY)$(SIGN_KEYLESS),cosign)
	scripts/push-images.sh "$(REGISTRY)" "$(VERSION)" $(TAG)

deps: $(DEPS)/.libpq.done

# For each pinned dependency: the newer versions Debian's indexes list,
# whether they download, and the CVEs their changelogs name that the pin's
# does not (docs/building.md "Dependencies" says how to bump a pin).
deps-check:
	scripts/install-build-packages.sh
	scripts/deps-check.sh
$(DEPS)/.libpq.done: $(DEPS_INPUTS)
	scripts/install-build-packages.sh
	$(if $(filter arm64,$(ARCH)),scripts/install-arm64-packages.sh)
	scripts/build-deps.sh $(DEPS) $(notdir $(CC))
	@touch $@

# Every input of the compile and link that is not a source file (compiler,
# flags, the musl version, the OpenSSL and libpq built and how) is written to one stamp, replaced only when it changes:
# what depends on it is rebuilt then, and never a binary made with other
# inputs kept.  Written after the dependencies (and so the packages) are in.
FLAGS := $(OUT)/.build-flags
$(FLAGS): FORCE | $(DEPS)/.libpq.done
	@mkdir -p $(dir $@)
	@[ "$(FLAVOUR)" != musl ] || [ -n "$(MUSL_VERSION)" ] || { \
		echo "$(DEPS) has no musl: remove it and build again" >&2; exit 1; }
	@{ printf '%s\n' '$(CC) $(CPPFLAGS) $(ALL_CFLAGS)' '$(LDSTATIC) $(LIBS)'; \
	  cat $(DEPS)/.openssl.done $(DEPS)/.libpq.done; \
	  [ "$(FLAVOUR)" != musl ] || cat $(DEPS)/.musl.done; } >$@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; echo "build inputs: $$(cat $@)"; fi

$(OUT)/obj/%.o: src/%.c $(HDR) $(FLAGS) | $(DEPS)/.libpq.done
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BIN): $(OBJ) $(OUT)/obj/cmd/main.o $(FLAGS)
ifeq ($(FLAVOUR),musl)
	$(CC) $(ALL_CFLAGS) $(LDSTATIC) -o $@.unstripped $(filter %.o,$^) $(LIBS)
	@# the unstripped copy tells the SBOM which C library functions are linked
	$(STRIP) -o $@ $@.unstripped
	@file $@ | grep -q 'statically linked' || { echo "$@ is not static"; exit 1; }
else
	$(CC) $(ALL_CFLAGS) $(LDSTATIC) -o $@ $(filter %.o,$^) $(LIBS)
endif

$(UNIT): tests/unit.c $(OBJ) $(FLAGS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDSTATIC) -o $@ $(filter-out $(FLAGS),$^) $(LIBS)

# make bench's lean client (bench/loadgen.c), linked like the unit tests and,
# as pgbouncer is, with mimalloc, which the static pgbouncer's build makes
# (musl's malloc has one lock for all of the client's threads, and a TLS
# handshake allocates often); its tests are in tests/test_clients.py
LOADGEN := $(OUT)/loadgen
LOADGEN_MALLOC := $(if $(filter musl,$(FLAVOUR)),$(DEPS)/lib/mimalloc.o)
$(LOADGEN): bench/loadgen.c $(OBJ) $(FLAGS) | $(PGBOUNCER_BIN)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDSTATIC) -pthread -o $@ \
		$(LOADGEN_MALLOC) $(filter-out $(FLAGS),$^) $(LIBS)

unit: $(UNIT)
	$(UNIT) tests/data

test: $(BIN) $(UNIT) $(PGBOUNCER_BIN) $(LOADGEN) arm64 tools
	scripts/install-test-packages.sh
	tests/run

# The edit-test loop: the C unit tests, the layers, and the unit and
# integration tiers (pytest.ini) against this build and Debian's pgbouncer;
# no images, registry, arm64 or fuzzing (make test runs those too).  One
# pytest worker per core (pytest-xdist): each starts its own PostgreSQL.
check: $(BIN) $(UNIT) $(LOADGEN)
	scripts/install-test-packages.sh
	$(UNIT) tests/data
	scripts/check-format.sh
	scripts/check-layers.py
	/usr/bin/python3 -m pytest -p no:cacheprovider -q -n auto -m "unit or integration" tests

# No include from a layer above, no two modules that include each other
# (docs/building.md, "How the code is laid out").
check-layers:
	scripts/check-layers.py

# make demo runs the image's own static pgbouncer, and says how long the
# build before it took (on a new machine: the dependencies from Debian's
# sources; the figure in README is this line's).
ifneq ($(filter demo,$(MAKECMDGOALS)),)
DEMO_START := $(shell date +%s)
endif
demo: $(BIN) $(PGBOUNCER_BIN)
	@echo "demo: build done in $$(( $$(date +%s) - $(DEMO_START) )) s"
	scripts/demo.sh

# Benchmarks: medians and ratios from one run, printed and written to
# bench/results.md, never asserted.  A glibc build of the same pgbouncer
# (build/deps-host, shared with `make san`) is the comparison for the image's
# static musl one.  BENCH_SECONDS and BENCH_REPS scale it (about 20 minutes).
GLIBC_PGBOUNCER := build/deps-host/bin/pgbouncer
$(GLIBC_PGBOUNCER): $(DEPS_INPUTS)
	scripts/install-build-packages.sh
	scripts/build-deps.sh build/deps-host gcc pgbouncer
	@touch $@

bench: $(BIN) $(PGBOUNCER_BIN) $(GLIBC_PGBOUNCER) $(LOADGEN)
	scripts/install-test-packages.sh
	scripts/install-bench-packages.sh
	/usr/bin/python3 bench/bench.py
	/usr/bin/python3 bench/metrics_scrape.py
	/usr/bin/python3 bench/processes.py

# docker/Dockerfile = the builder stage + the final stages that `make image`
# uses too, so what the tests run is what users build.
dockerfile:
	cat docker/builder.Dockerfile docker/final.Dockerfile >docker/Dockerfile

# Format the C sources with the pinned .clang-format (make test checks it).
format:
	scripts/check-format.sh --fix

# Regenerate the settings and metrics tables of docs/ from the tables in the binary.
readme-settings: $(BIN)
	scripts/readme-settings.sh $(BIN)

san:
	$(MAKE) FLAVOUR=host build/host/pgbouncer-entrypoint build/host/unit-tests
	build/host/unit-tests tests/data
	ASAN_OPTIONS=detect_leaks=0 PGBE_BIN=build/host/pgbouncer-entrypoint \
		/usr/bin/python3 -m pytest -p no:cacheprovider -q tests/test_render.py tests/test_run.py

# Fuzzing: Debian's clang with libFuzzer, ASan and UBSan, against the same
# sources and the glibc build of OpenSSL and libpq that `make san` uses.
# Each target reads what was rendered back the way pgbouncer would
# (tests/fuzz/pgbreader.c).  Seeds: tests/fuzz/seeds/<target>; every input
# that once failed: tests/fuzz/found/<target>, replayed on every run.
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_CC ?= clang
FUZZ_DEPS := build/deps-host
FUZZ_OUT := build/fuzz
FUZZ_SAN := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 $(WARN) $(FUZZ_SAN) -D_GNU_SOURCE -Isrc -I$(FUZZ_DEPS)/include
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))
FUZZ_OBJ := $(patsubst src/%.c,$(FUZZ_OUT)/obj/%.o,$(SRC)) \
	$(FUZZ_OUT)/obj/fuzz.o $(FUZZ_OUT)/obj/pgbreader.o

fuzz:
	scripts/install-fuzz-packages.sh
	$(MAKE) fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS)
.PRECIOUS: $(FUZZ_OUT)/obj/%.o

ifneq ($(DEPS),$(FUZZ_DEPS))
$(FUZZ_DEPS)/.libpq.done: $(DEPS_INPUTS)
	scripts/install-build-packages.sh
	scripts/build-deps.sh $(FUZZ_DEPS) gcc
	@touch $@
endif

# src/ gets coverage instrumentation only; the harness links libFuzzer's main.
$(FUZZ_OUT)/obj/%.o: src/%.c $(HDR) | $(FUZZ_DEPS)/.libpq.done
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/obj/%.o: tests/fuzz/%.c tests/fuzz/*.h $(HDR) | $(FUZZ_DEPS)/.libpq.done
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/fuzz_%.o $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -L$(FUZZ_DEPS)/lib \
		-lpq -lpgcommon -lpgport -lssl -lcrypto -lpthread

clean:
	rm -rf build/obj build/host build/fuzz build/arm64 build/pgbouncer-entrypoint build/unit-tests \
		build/loadgen

# build/ only: the dependency and tool caches it links to stay in
# ~/.cache/pgbouncer-entrypoint (docs/building.md)
distclean:
	rm -rf build
