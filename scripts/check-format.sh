#!/usr/bin/env bash
# check-format.sh [--fix]: the C sources must be as the pinned .clang-format
# (Debian 12's clang-format 14) writes them.  Without --fix, lists the files
# that differ and fails; with --fix, rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$cf" ] || { echo "check-format: clang-format is not installed" >&2; exit 1; }
"$cf" --version | grep -q ' 14\.' || { echo "check-format: need clang-format 14 (.clang-format is pinned to it)" >&2; exit 1; }
files=$(git ls-files 'src/*/*.c' 'src/*/*.h' 'tests/*.c' 'tests/fuzz/*.c' 'bench/*.c' 2>/dev/null || true)
if [ "${1:-}" = --fix ]; then
	"$cf" -i $files
	exit 0
fi
bad=()
for f in $files; do
	"$cf" "$f" | cmp -s "$f" - || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "check-format: not formatted (run \`make format\`): ${bad[*]}" >&2
	exit 1
fi
echo "check-format: $(echo $files | wc -w) files formatted"
