#!/usr/bin/env bash
# Replace the README sections between the settings markers and between the
# metrics markers with the tables the binary prints (one table drives code
# and docs; tests/test_cli.py and tests/test_metrics.py check them).
set -euo pipefail
bin=$1
table=$(mktemp)
for section in settings metrics; do
	"$bin" "$section-doc" >"$table"
	awk -v t="$table" -v b="<!-- $section:begin -->" -v e="<!-- $section:end -->" '
		$0 == b { print; while ((getline l < t) > 0) print l; close(t); skip = 1; next }
		$0 == e { skip = 0 }
		!skip' README.md >README.md.new
	mv README.md.new README.md
done
rm -f "$table"
