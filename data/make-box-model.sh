#!/bin/sh
# Fine-tunes data/model-clip, the bundled CLIP-objective model, with the box term
# (docs/algorithms.md, "Box-supervised word maps") on generated training scenes, and evaluates it
# on held-out scenes drawn differently (the shapes test split). The box term trains each boxed
# word's map, the one the app draws, to peak inside the word's boxes; the CLIP loss keeps the
# pooled embeddings for retrieval.
#
#   data/make-box-model.sh [BUILD_DIR [WORK_DIR]]      defaults: build, build/box-model
#   THREADS=1 data/make-box-model.sh                    one thread (default 2)
#   STEPS=150 LR=2e-4 BOX_WEIGHT=1 data/make-box-model.sh build W   another pilot
#
# 200 steps of 32 pairs: 2.5 to 4.6 minutes of training with 2 threads on a 2-core machine,
# depending on what else runs on it (docs/bundled-model.md, "Box fine-tuning", has the
# measurements and the pilots behind the settings). Same seeds, same thread count: the same
# weights, bit for bit. The fine-tuned model is WORK_DIR/run (its newest checkpoint); nothing
# under data/ changes.
set -eu

BUILD=${1:-build}
WORK=${2:-$BUILD/box-model}
HERE=$(dirname "$0")
MODEL=${MODEL:-$HERE/model-clip}
STEPS=${STEPS:-200}
LR=${LR:-5e-4}
BOX_WEIGHT=${BOX_WEIGHT:-2}
THREADS=${THREADS:-2}
CLI=$BUILD/src/cli/wordpatch-cli

test -x "$CLI" || { echo "$CLI not built (ninja -C $BUILD)" >&2; exit 1; }
mkdir -p "$WORK"
test -f "$WORK/train/captions.jsonl" || "$CLI" shapes --out "$WORK/train" --count 8000 --seed 2 --split train
test -f "$WORK/check/captions.jsonl" || "$CLI" shapes --out "$WORK/check" --count 500 --seed 7 --split test
rm -rf "$WORK/run"
start=$(date +%s)
"$CLI" train --init "$MODEL" --data "$WORK/train" --out "$WORK/run" --loss clip \
  --box-weight "$BOX_WEIGHT" --steps "$STEPS" --batch 32 --lr "$LR" --seed 1 --holdout 0 \
  --save-every "$STEPS" --threads "$THREADS"
echo "fine-tuning took $(($(date +%s) - start)) s with $THREADS thread(s)"
# Token queries: the map the box term trains (a word's own pieces in the caption).
"$CLI" eval --model "$WORK/run" --data "$WORK/check" --method filip --query token
"$CLI" eval --model "$WORK/run" --data "$WORK/check" --limit 100
