#!/usr/bin/env bash
# Replace the README section between the settings markers with the table the
# binary prints (one table drives code and docs; tests/test_cli.py checks it).
set -euo pipefail
bin=$1
table=$(mktemp)
"$bin" settings-doc >"$table"
awk -v t="$table" '
	/<!-- settings:begin -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
	/<!-- settings:end -->/ { skip = 0 }
	!skip' README.md >README.md.new
mv README.md.new README.md
rm -f "$table"
