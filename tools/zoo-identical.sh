#!/bin/bash
# zoo-identical.sh BASELINE_DIR [BINARY] - convert every model of the zoo (FCCONV_ZOO, default
# /work/shared/zoo) with default flags, with --spatial and with --passes bottleneck, and check that
# every output file and exit code is the same as in BASELINE_DIR (made by this script with the
# binary of the commit to compare with: the outputs land in BASELINE_DIR when it does not exist yet).
# It also compares what each conversion applied and declined, and why (the --json report without
# timings). Exit 0: identical.
set -u
base=$1
bin=${2:-}
zoo=${FCCONV_ZOO:-/work/shared/zoo}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/fcconv
	go build -o "$bin" "$(dirname "$0")/../cmd/fcconv" || exit 2
fi
out=$base
[ -d "$base" ] && out=$(mktemp -d)
mkdir -p "$out"
: > "$out/rc.txt"
for d in "$zoo"/*/; do
	n=$(basename "$d")
	for mode in default spatial bn; do
		case $mode in
		default) suffix=""; flags=() ;;
		spatial) suffix=".spatial"; flags=(--spatial) ;;
		bn) suffix=".bn"; flags=(--passes bottleneck) ;;
		esac
		"$bin" convert "$d/model.onnx" "${flags[@]}" -o "$out/$n$suffix.onnx" --json > "$out/$n$suffix.json" 2> "$out/$n$suffix.log"
		echo "$n $mode rc=$?" >> "$out/rc.txt"
		# The report without timings and paths: what was applied and declined, and why.
		python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
print(json.dumps({k: r.get(k) for k in ("status","error","rewrites","macs_before","macs_after","verified","spatial","assumed_dims")}, sort_keys=True, indent=1))' \
			"$out/$n$suffix.json" > "$out/$n$suffix.report" 2>/dev/null
	done
done
(cd "$out" && sha256sum *.onnx > sums.txt && cat *.report > reports.txt)
[ "$out" = "$base" ] && { echo "baseline written to $base"; exit 0; }
status=0
diff "$base/sums.txt" "$out/sums.txt" || status=1
diff "$base/rc.txt" "$out/rc.txt" || status=1
diff "$base/reports.txt" "$out/reports.txt" || status=1
[ $status = 0 ] && echo "identical: $(wc -l < "$out/sums.txt") outputs, $(wc -l < "$out/rc.txt") exit codes, the same reports"
exit $status
