#!/usr/bin/env bash
# Merge the JSON Lines reports of a sharded batch (fcconv convert --shard K/N --report FILE) into one
# report, equal to what a single `fcconv convert ZOO -o OUT --report FILE` would have written:
#
#   deploy/merge-reports.sh REPORT_DIR > report.jsonl
#
# Each shard attempt writes its own file in REPORT_DIR (*.jsonl). Files are read oldest first; for
# each model (the "path" field, always first on the line) the newest record wins, except that a
# "skipped" record (a rerun with --skip-existing found the output) never hides the record of the
# attempt that wrote the output. The result is sorted by path, as a single run's report is.
# When every attempt ran to the end, this is the same as `LC_ALL=C sort REPORT_DIR/*.jsonl`.
set -euo pipefail
dir=${1:?usage: merge-reports.sh REPORT_DIR > report.jsonl}
ls -tr "$dir"/*.jsonl | while IFS= read -r f; do cat "$f"; done |
  awk '
    { match($0, /^\{"path":"([^"\\]|\\.)*"/); key = substr($0, 1, RLENGTH) }
    /"outcome":"skipped"/ { if (!(key in line)) line[key] = $0; next }
    { line[key] = $0 }
    END { for (k in line) print line[k] }' |
  LC_ALL=C sort
