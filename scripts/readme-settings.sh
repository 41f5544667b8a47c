#!/usr/bin/env bash
# Replace the sections between the settings markers (docs/configuration.md)
# and between the metrics markers (docs/metrics.md) with the tables the
# binary prints (one table drives code and docs; tests/test_cli.py and
# tests/test_metrics.py check them).
set -euo pipefail
bin=$1
table=$(mktemp)
for pair in settings:docs/configuration.md metrics:docs/metrics.md; do
	section=${pair%%:*} doc=${pair#*:}
	"$bin" "$section-doc" >"$table"
	awk -v t="$table" -v b="<!-- $section:begin -->" -v e="<!-- $section:end -->" '
		$0 == b { print; while ((getline l < t) > 0) print l; close(t); skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$doc" >"$doc.new"
	mv "$doc.new" "$doc"
done
rm -f "$table"
