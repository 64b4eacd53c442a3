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

# 3. Cache bulk read against a plain file read of the same bytes (the sets hold views, as extraction
#    writes them); opening a 1,000,000-sample view and finding what to hash; hashing files.
run go test -run '^$' -bench 'BenchmarkReadMatrix/.*/vs-file' -benchtime 10x -count 8 ./cache/
run go test -run '^$' -bench BenchmarkViewOpen1M -benchtime 3x -benchmem ./cache/
run go test -run '^$' -bench BenchmarkSampleHash -count 3 ./datasets/

# 4. Selection on 1,000,000 x 512 float32, budget 1,000 (time, peak memory), and against numpy/scikit-learn.
run go test -run '^$' -bench 'BenchmarkSelect1M' -benchtime 1x -timeout 60m ./selector/
run env BUDGET=1000 bash bench/selector/run.sh

# 5. The fine-tuning arithmetic: the float32 GEMM on the tail's shapes; the tail's training and forward
#    (blocks 13-16 with BatchNorm, 6x6x96 inputs) against PyTorch on the same tail and threads, in the same
#    run (../shared/bench/torch_tail.py, Debian's python3-torch); the export of a fine-tuned network.
run go test -run '^$' -bench 'BenchmarkMatMul32$' -benchtime 20x ./models/nn/
run env ROUNDS=5 sh bench/finetune/tail_vs_torch.sh
run go test -run '^$' -bench BenchmarkBuildTuned -benchtime 10x ./models/export/

# 6. Whole-program fine-tuning and re-alignment on the demo's pool and test samples: `asvp finetune` trains
#    the backbone's tail on 1,000 labels and writes the re-aligned features of every sample as a new
#    generation (its JSON has the seconds of each phase, features included).
ft="$out/finetune.cache"
cp "${ASVP_DEMO_CACHE:-.asvp/fashion-mnist.cache}" "$ft" 2>/dev/null || {
  run "$asvp" extract --data fashion-mnist:train --cache "$ft" --quiet
  run "$asvp" extract --data fashion-mnist:test --cache "$ft" --quiet
}
# The first 1,000 training labels as id,label (the IDX label file is an 8-byte header, then one byte each;
# head closes the pipe early, hence no pipefail here).
(set +o pipefail; echo "id,label"; zcat /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz | tail -c +9 |
  head -c 1000 | od -An -tu1 -v -w1 | awk '{printf "train/%05d,%d\n", NR-1, $1}') >"$out/labeled1000.csv"
run "$asvp" finetune --cache "$ft" --data fashion-mnist:train --output pool_blocks_10_13_16 --labeled "$out/labeled1000.csv" \
  --method ft --seed 1 --test fashion-mnist:test --save "$out/net.bin"
rm -f "$ft"

# 7. Importing embeddings from elsewhere: a 1,000,000 x 512 float32 .npy (2 GB, seeded values) against a
#    plain read of it (cat), with the import's peak resident memory, by reference (the default) and with
#    --copy; then the package benchmark, which alternates import and read in one process. Needs about
#    7 GB free under $TMPDIR; the files are deleted after.
emb=$(mktemp -d)
run go run ./bench/importnpy -rows 1000000 -dim 512 -out "$emb/emb.npy"
for i in 1 2 3; do
  run /usr/bin/time -f 'cat: %e s, peak RSS %M KB' sh -c "cat '$emb/emb.npy' >/dev/null"
  run /usr/bin/time -f 'import by reference: %e s, peak RSS %M KB' "$asvp" cache import --cache "$emb/r$i.cache" \
    --from "$emb/emb.npy" --model synth --json --quiet
done
run /usr/bin/time -f 'import --copy: %e s, peak RSS %M KB' "$asvp" cache import --cache "$emb/c.cache" --from "$emb/emb.npy" \
  --model synth --copy --json --quiet
rm -rf "$emb"
run go test -run '^$' -bench 'BenchmarkImportNPY/reference' -benchtime 5x -timeout 30m ./loop/
run go test -run '^$' -bench 'BenchmarkImportNPY/copy/1000000x512' -benchtime 2x -timeout 30m ./loop/
