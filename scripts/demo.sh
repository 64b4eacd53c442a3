#!/usr/bin/env bash
# The main job on the default dataset and model: extract Fashion-MNIST features with the default
# backbone (once: the cache is reused by later runs), then simulate random, standard AL, SVPp and ASVP
# and write the total-cost report. Sized to finish within 15 minutes on 2 cores.
# Usage: scripts/demo.sh [OUT_DIR]   (after make setup build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/out/demo}
asvp="$root/bin/asvp"
cachef=${ASVP_DEMO_CACHE:-$root/.asvp/fashion-mnist.cache}
# The whole of Fashion-MNIST: 60,000 pool images, 10,000 test images (about 90 s of extraction on 2 cores).
POOL=${ASVP_DEMO_POOL:-60000}
TEST=${ASVP_DEMO_TEST:-10000}
ROUNDS=${ASVP_DEMO_ROUNDS:-10}
SEEDS=${ASVP_DEMO_SEEDS:-3}
mkdir -p "$out/projected" "$(dirname "$cachef")"
t0=$(date +%s)
"$asvp" doctor
echo "demo: extracting $POOL training and $TEST test images (cached in $cachef)" >&2
"$asvp" extract --data fashion-mnist:train --limit "$POOL" --cache "$cachef" >"$out/extract_train.json"
"$asvp" extract --data fashion-mnist:test --limit "$TEST" --cache "$cachef" >"$out/extract_test.json"
sim=("$asvp" simulate --cache "$cachef" --pool fashion-mnist:train --test fashion-mnist:test
  --pipelines random,standard,svpp,asvp --strategy margin --proxy mlp
  --init 100 --budget 100 --rounds "$ROUNDS" --seeds "$SEEDS" --name demo)
echo "demo: simulating random, standard, svpp and asvp (measured compute on this machine)" >&2
"${sim[@]}" --out "$out" | tee "$out/summary.txt"
# The same runs (resumed from the cache, no recomputation), priced as at a real scale: each fine-tune of
# the real backbone on a GPU at $2.00 and each pass over the pool at $0.50 (assumptions: set your own).
echo "demo: the same runs with projected GPU costs (--price-finetune 2.00 --price-extract 0.50)" >&2
"${sim[@]}" --quiet --price-finetune 2.00 --price-extract 0.50 --out "$out/projected" | tee "$out/projected/summary.txt"
echo "demo: finished in $(( $(date +%s) - t0 ))s; report: $out/report.html ($out/report.md), projected: $out/projected/report.html" >&2
