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
POOL=${ASVP_DEMO_POOL:-10000}
TEST=${ASVP_DEMO_TEST:-2000}
mkdir -p "$out" "$(dirname "$cachef")"
t0=$(date +%s)
"$asvp" doctor
echo "demo: extracting $POOL training and $TEST test images (cached in $cachef)" >&2
"$asvp" extract --data fashion-mnist:train --limit "$POOL" --cache "$cachef" >"$out/extract_train.json"
"$asvp" extract --data fashion-mnist:test --limit "$TEST" --cache "$cachef" >"$out/extract_test.json"
echo "demo: simulating random, standard, svpp and asvp" >&2
"$asvp" simulate --cache "$cachef" --pool fashion-mnist:train --test fashion-mnist:test \
  --pipelines random,standard,svpp,asvp --strategy margin --proxy mlp \
  --init 100 --budget 100 --rounds 8 --seeds 3 --out "$out" | tee "$out/summary.txt"
echo "demo: finished in $(( $(date +%s) - t0 ))s; report: $out/report.html ($out/report.md)" >&2
