#!/usr/bin/env bash
# Convert a model zoo on one big machine as N separate processes, then merge their reports:
#
#   deploy/one-machine.sh ZOO OUT [N]      # N defaults to the number of cores / 4
#
# One process with -j already converts several models at once; separate processes add isolation:
# a model that exhausts memory takes one shard down, not the whole batch, and rerunning the same
# command resumes (--skip-existing). Each process gets its share of the cores (GOMAXPROCS), so the
# N engines do not oversubscribe the machine. The core of it is this one line (GNU parallel
# instead of xargs: parallel -j N fcconv convert ... --shard {}/N ... ::: $(seq 1 N)):
#
#   seq 1 $N | xargs -P $N -I{} fcconv convert ZOO -o OUT --inputs auto --skip-existing -q \
#     --shard {}/$N --report REPORTS/shard-{}.$$.jsonl
set -euo pipefail
zoo=${1:?usage: one-machine.sh ZOO OUT [N]}
out=${2:?usage: one-machine.sh ZOO OUT [N]}
n=${3:-$(( $(nproc) / 4 > 0 ? $(nproc) / 4 : 1 ))}
reports="$out/.reports"   # inside OUT, which batch conversion never reads as input
mkdir -p "$reports"

status=0
seq 1 "$n" | GOMAXPROCS=$(( $(nproc) / n > 0 ? $(nproc) / n : 1 )) \
  xargs -P "$n" -I{} fcconv convert "$zoo" -o "$out" --inputs auto --skip-existing -q \
    --shard "{}/$n" --report "$reports/shard-{}.$$.jsonl" || status=$?
"$(dirname "$0")/merge-reports.sh" "$reports" > "$out/report.jsonl"
echo "report: $out/report.jsonl ($(wc -l < "$out/report.jsonl") models)" >&2
# xargs exits 123 when a process exited 1 to 125: some models failed or were not equivalent
# (the report says which); anything else is a real failure.
[ "$status" -eq 0 ] || [ "$status" -eq 123 ] || exit "$status"
exit $(( status == 123 ? 1 : 0 ))
