#!/usr/bin/env bash
# Whole-program and package benchmarks behind BENCHMARKS.md. Writes raw outputs to out/bench/ and
# prints each figure with the command that produced it. Run on an otherwise idle machine: make bench
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=out/bench
mkdir -p "$out"
asvp=bin/asvp
c="$out/sizes.cache"
run() { echo "\$ $*" | tee -a "$out/log.txt"; "$@" 2>&1 | tee -a "$out/log.txt"; }
: >"$out/log.txt"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log.txt"

# 1. Extraction: the pipeline against a bare ONNX Runtime session (same model, batch 32, 2 threads).
run go test -run '^$' -bench 'BenchmarkExtractVsBare|BenchmarkSessionVsBare' -benchtime 20x -count 8 ./extractor/
run go test -run '^$' -bench BenchmarkPreprocess ./extractor/

# 2. Extraction throughput and linear-probe quality by input size (5,000 train / 2,000 test images).
for s in 96 128 160 224; do
  rm -f "$c"
  run "$asvp" extract --data fashion-mnist:train --limit 5000 --input-size "$s" --cache "$c" --quiet \
    --output pool_blocks_10_13_16,pool_block_13,pool_block_16,pool_final
  run "$asvp" extract --data fashion-mnist:test --limit 2000 --input-size "$s" --cache "$c" --quiet \
    --output pool_blocks_10_13_16,pool_block_13,pool_block_16,pool_final
  run "$asvp" probe --cache "$c" --labels 5000
  rm -f "$c"
  run "$asvp" extract --data fashion-mnist:test --limit 2000 --input-size "$s" --cache "$c" --quiet
done
rm -f "$c"

# 3. Cache bulk read against a plain file read of the same bytes.
run go test -run '^$' -bench 'BenchmarkReadMatrix/.*/vs-file' -benchtime 10x -count 8 ./cache/

# 4. Selection on 1,000,000 x 512 float32, budget 1,000 (time, peak memory), and against numpy/scikit-learn.
run go test -run '^$' -bench 'BenchmarkSelect1M' -benchtime 1x -timeout 60m ./selector/
run env BUDGET=1000 bash bench/selector/run.sh

# 5. Fine-tuning and re-alignment of 60,000 samples.
run go test -run '^$' -bench 'BenchmarkTrain|BenchmarkEmbed60k' -benchtime 3x ./models/nn/

# 6. Whole-program fine-tuning and re-alignment on all 60,000 pool (+10,000 test) samples: `asvp finetune`
#    trains on 1,000 labels and writes the aligned features of every sample as a new generation.
ft="$out/finetune.cache"
cp "${ASVP_DEMO_CACHE:-.asvp/fashion-mnist.cache}" "$ft" 2>/dev/null || {
  run "$asvp" extract --data fashion-mnist:train --cache "$ft" --quiet
  run "$asvp" extract --data fashion-mnist:test --cache "$ft" --quiet
}
# The first 1,000 training labels as id,label (the IDX label file is an 8-byte header, then one byte each;
# head closes the pipe early, hence no pipefail here).
(set +o pipefail; echo "id,label"; zcat /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz | tail -c +9 |
  head -c 1000 | od -An -tu1 -v -w1 | awk '{printf "train/%05d,%d\n", NR-1, $1}') >"$out/labeled1000.csv"
run "$asvp" finetune --cache "$ft" --data fashion-mnist:train --labeled "$out/labeled1000.csv" --method ft --seed 1 \
  --test fashion-mnist:test --save "$out/net.bin"
rm -f "$ft"
