#!/usr/bin/env bash
# Debian packages `make fuzz` needs: Debian's default clang and its
# compiler-rt (the libFuzzer, ASan and UBSan runtimes).
exec "$(dirname "$0")/ensure-packages.sh" clang libclang-rt-dev
