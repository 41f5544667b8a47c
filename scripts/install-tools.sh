#!/usr/bin/env bash
# Go tools at pinned versions, built from the Go module proxy into build/tools
# (nothing prebuilt is downloaded):
#   crane      pushes the OCI layouts of `make image` with their indexes, and
#              reads images back from a registry (tests)
#   actionlint checks .github/workflows/ (make test)
# A second run is a no-op while the installed version matches the pin.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tools="$top/build/tools"
declare -A pins=(
	[crane]=github.com/google/go-containerregistry/cmd/crane@v0.22.1
	[actionlint]=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
)
mkdir -p "$tools"
for name in "${@:-${!pins[@]}}"; do
	mod=${pins[$name]:?unknown tool $name}
	stamp="$tools/.$name.version"
	[ -x "$tools/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ] && continue
	command -v go >/dev/null || "$top/scripts/ensure-packages.sh" golang-go
	echo "install-tools: building $mod" >&2
	# a module cache of our own: nothing outside build/ is touched
	GOBIN="$tools" GOPATH="$top/build/go" GOFLAGS=-modcacherw CGO_ENABLED=0 \
		go install -trimpath "$mod"
	echo "$mod" >"$stamp"
done
