#!/bin/sh
# The Go tail (models/finetune BenchmarkTailTrain, BenchmarkTailTrain5,
# BenchmarkTailForward, BenchmarkTailFeatures) against PyTorch on the same
# tail with BatchNorm (torch_tail.py THREADS bn), THREADS threads each;
# prints the median of each figure over ROUNDS rounds and the ratios of
# the medians. Each round runs the Go benchmarks once and then PyTorch
# once, so that a load from elsewhere on a shared machine falls on both
# sides alike. Environment: ROUNDS (default 5), THREADS (GOMAXPROCS and
# torch threads, 2), TORCH_TAIL (default ../shared/bench/torch_tail.py beside the checkout,
# needs Debian's python3-torch).
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}; THREADS=${THREADS:-2}; PY=/usr/bin/python3
TORCH_TAIL=${TORCH_TAIL:-../shared/bench/torch_tail.py}
OUT=$(mktemp -d)
go test -c -o "$OUT/ft.test" ./models/finetune/
for r in $(seq "$ROUNDS"); do
	(cd models/finetune && GOMAXPROCS=$THREADS "$OUT/ft.test" -test.run '^$' \
		-test.bench '^BenchmarkTail(Train|Train5|Forward|Features)$' -test.benchtime 3x) | tee -a "$OUT/go.txt" | grep Benchmark
	$PY "$TORCH_TAIL" "$THREADS" bn | tee -a "$OUT/torch.txt"
done
$PY - "$OUT" <<'PYEOF'
import re, statistics, sys
d = sys.argv[1]
go = {}
for line in open(d + "/go.txt"):
    m = re.match(r"^BenchmarkTail(\w+?)(?:-\d+)?\s.*?\s([\d.]+) (samples·epochs/s|images/s)", line)
    if m:
        go.setdefault(m[1], []).append(float(m[2]))
tr, fw = [], []
for line in open(d + "/torch.txt"):
    m = re.search(r"train (\d+) samples\*epochs/s, forward (\d+) images/s", line)
    if m:
        tr.append(float(m[1])); fw.append(float(m[2]))
med = statistics.median
rng = lambda v: f"{min(v):.0f}-{max(v):.0f}"
print(f"medians of {len(tr)} rounds (min-max):")
print(f"torch train {med(tr):.0f} ({rng(tr)}) samples*epochs/s, forward {med(fw):.0f} ({rng(fw)}) images/s")
for name, ref, unit in [("Train", tr, "samples*epochs/s"), ("Train5", tr, "samples*epochs/s"),
                        ("Forward", fw, "images/s"), ("Features", fw, "images/s")]:
    v = go.get(name)
    if v:
        print(f"go {name:9} {med(v):6.0f} ({rng(v)}) {unit}: {med(v) / med(ref):.2f}x torch")
if go.get("Features"):
    print(f"70,000 samples through Features: {70000 / med(go['Features']):.1f} s")
PYEOF
rm -r "$OUT"
