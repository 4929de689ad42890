#!/usr/bin/env bash
# Times loading a model and embedding one image and caption with wordpatch-cli: a random model of
# the given size (default OpenAI's ViT-B/32 sizes), best of N runs of each command.
# Usage: tests/bench/bench-embed.sh [BUILD_DIR] [SIZE] [RUNS]
set -euo pipefail
build=${1:-build}
size=${2:-vit-b32}
runs=${3:-5}
cli="$build/src/cli/wordpatch-cli"
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cli" init --config "$size" --out "$tmp/model" >/dev/null

best () {
  local best_ms=
  for _ in $(seq "$runs"); do
    local start end ms
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    if [ -z "$best_ms" ] || [ "$ms" -lt "$best_ms" ]; then best_ms=$ms; fi
  done
  echo "$best_ms"
}

load_ms=$(best "$cli" info --model "$tmp/model")
embed_ms=$(best "$cli" embed --model "$tmp/model" --image "$here/data/demo/red-circle-blue-square.png" --text "a red circle above a blue square")
echo "model: $size, $("$cli" info --model "$tmp/model" | sed -n 's/^parameters: \([0-9]*\).*/\1/p') parameters; OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-all cores}"
echo "load (info): $load_ms ms"
echo "load + embed one 224x224 image and one caption (embed): $embed_ms ms"
echo "embed alone: $((embed_ms - load_ms)) ms"
