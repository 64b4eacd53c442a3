#!/usr/bin/env bash
# The main job on the default dataset and model: extract Fashion-MNIST features with the default
# backbone, and the activations of its tail's input (block 12) for the built-in fine-tuning (once: the
# cache is reused by later runs); then simulate random, standard AL, SVPp and ASVP with real fine-tuning
# of the backbone's top blocks and write the total-cost report. Sized to finish within 15 minutes on 2
# cores; `make fidelity` (scripts/fidelity.sh) runs the larger experiment.
# Usage: scripts/demo.sh [OUT_DIR]   (after make setup build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/out/demo}
asvp="$root/bin/asvp"
cachef=${ASVP_DEMO_CACHE:-$root/.asvp/fashion-mnist.cache}
# 10,000 pool images (the first of the training split), 5,000 test images.
POOL=${ASVP_DEMO_POOL:-10000}
TEST=${ASVP_DEMO_TEST:-5000}
INIT=${ASVP_DEMO_INIT:-200}
BUDGET=${ASVP_DEMO_BUDGET:-200}
ROUNDS=${ASVP_DEMO_ROUNDS:-5}
SEEDS=${ASVP_DEMO_SEEDS:-2}
# Labels x epochs of each fine-tune stage: 10 epochs at 1,000 labels.
TUNE=${ASVP_DEMO_TUNE_SAMPLE_EPOCHS:-10000}
NAME=${ASVP_DEMO_NAME:-demo}
mkdir -p "$out/projected" "$(dirname "$cachef")"
for target in ${ASVP_DEMO_TARGETS:-}; do mkdir -p "$out/target-$target/projected"; done
t0=$(date +%s)
"$asvp" doctor
echo "demo: extracting $POOL training and $TEST test images, with the activations the fine-tuning starts from (cached in $cachef)" >&2
"$asvp" extract --data fashion-mnist:train --limit "$POOL" --cache "$cachef" >"$out/extract_train.json"
"$asvp" extract --data fashion-mnist:test --limit "$TEST" --cache "$cachef" >"$out/extract_test.json"
sim=("$asvp" simulate --cache "$cachef" --pool fashion-mnist:train --test fashion-mnist:test --output pool_blocks_10_13_16
  --pipelines random,standard,svpp,asvp --strategy margin --proxy mlp
  --init "$INIT" --budget "$BUDGET" --rounds "$ROUNDS" --seeds "$SEEDS" --tune-sample-epochs "$TUNE" --name "$NAME")
echo "demo: simulating random, standard, svpp and asvp, every model the backbone's tail fine-tuned (measured compute on this machine)" >&2
"${sim[@]}" --out "$out" | tee "$out/summary.txt"
# The same runs (resumed from the cache, no recomputation), priced as at a real scale: each fine-tune of
# the real backbone on a GPU at $2.00 and each pass over the pool at $0.50 (assumptions: set your own).
echo "demo: the same runs with projected GPU costs (--price-finetune 2.00 --price-extract 0.50)" >&2
"${sim[@]}" --quiet --price-finetune 2.00 --price-extract 0.50 --out "$out/projected" | tee "$out/projected/summary.txt"
# Summaries at other target accuracies (ASVP_DEMO_TARGETS, space-separated), from the stored rounds.
for target in ${ASVP_DEMO_TARGETS:-}; do
  echo "demo: labels and cost to reach accuracy $target (stored rounds, no recomputation)" >&2
  "${sim[@]}" --quiet --target-acc "$target" --out "$out/target-$target" | tee "$out/target-$target/summary.txt"
  "${sim[@]}" --quiet --target-acc "$target" --price-finetune 2.00 --price-extract 0.50 --out "$out/target-$target/projected" |
    tee "$out/target-$target/projected/summary.txt"
done
echo "demo: finished in $(( $(date +%s) - t0 ))s; report: $out/report.html ($out/report.md), projected: $out/projected/report.html" >&2
