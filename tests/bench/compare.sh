#!/usr/bin/env bash
# wordpatch against PyTorch on one random model: `wordpatch-cli bench` and bench_torch.py (the same
# architecture, weights, batch, captions, objective and AdamW step, in float32) one after the
# other, then the ratio wordpatch / torch of each speed.
# Usage: tests/bench/compare.sh [CONFIG] [LOSS] [BATCH] [THREADS]
#   LOSS: clip, filip, sparc (the default SPARC) or sparc-paper (the paper's SPARC);
#   defaults: tiny sparc 32 and every processor. Environment: BUILD (default build),
#   ITERATIONS (timed runs of each measurement, default 10), KEEP=DIR keeps both JSON outputs.
# Torch comes from Debian's /usr/bin/python3 (python3-torch), not the first python3 on PATH.
set -euo pipefail
config=${1:-tiny}
loss=${2:-sparc}
batch=${3:-32}
threads=${4:-$(nproc)}
iterations=${ITERATIONS:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
cli="${BUILD:-$root/build}/src/cli/wordpatch-cli"
python=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cli" init --config "$config" --out "$tmp/model" >/dev/null
# sparc-paper: the paper's SPARC, which wordpatch runs by options of its sparc objective.
objective=(--loss "$loss")
[ "$loss" = sparc-paper ] && objective=(--loss sparc --sparc-negatives caption --lambda-global 0.5)
"$cli" bench --model "$tmp/model" "${objective[@]}" --batch "$batch" --threads "$threads" \
  --iterations "$iterations" --json >"$tmp/wordpatch.json"
# The torch captions get as many tokens as the bench's caption has under this vocabulary.
tokens=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["caption_tokens"])' "$tmp/wordpatch.json")
"$python" "$root/tests/bench/bench_torch.py" --model "$tmp/model" --loss "$loss" --batch "$batch" \
  --threads "$threads" --iterations "$iterations" --tokens "$tokens" >"$tmp/torch.json"
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$tmp/wordpatch.json" "$tmp/torch.json" "$KEEP/"
fi

"$python" - "$tmp/wordpatch.json" "$tmp/torch.json" "$config" <<'EOF'
import json
import sys

ours, torch = (json.load(open(path)) for path in sys.argv[1:3])
negatives = f' ({ours["sparc_negatives"]} negatives)' if 'sparc_negatives' in ours else ''
print(f'{sys.argv[3]}, {ours["loss"]}{negatives} loss, batch {ours["batch"]}, {ours["threads"]} threads, '
      f'captions of {ours["caption_tokens"]} tokens, median of {ours["iterations"]} runs; '
      f'{torch["framework"]}')
print(f'{"":28} {"wordpatch":>12} {"torch":>12} {"wordpatch/torch":>16}')
for key, what in (('train_pairs_per_s', 'training step, pairs/s'),
                  ('image_fwd_per_s', 'image forward, images/s'),
                  ('text_fwd_per_s', 'text forward, captions/s')):
    print(f'{what:28} {ours[key]:12.1f} {torch[key]:12.1f} {ours[key] / torch[key]:16.2f}')
print(f'{"image forward, ms a batch":28} {ours["image_fwd_ms"]:12.1f} {torch["image_fwd_ms"]:12.1f}')
print(f'wordpatch alone: training {ours["train_gflops"]:.1f} GFLOP/s of an sgemm peak of '
      f'{ours["sgemm_peak_gflops"]:.1f} ({100 * ours["train_fraction_of_peak"]:.0f}%), '
      f'caption edit to maps {ours["heatmap_ms"]:.2f} ms, peak RSS {ours["peak_rss_mb"]:.0f} MB')
EOF
