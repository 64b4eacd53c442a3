#!/bin/sh
# MatMul32 (float32) and MatMul (float64) on the MobileNetV2 tail's shapes
# against numpy's float32 matmul on the same shapes, THREADS threads each;
# prints median GFLOP/s per shape over ROUNDS rounds and the ratios. Each
# round runs the Go benchmarks once and then numpy once, so that a load
# from elsewhere on a shared machine falls on both sides alike.
# Environment: ROUNDS (default 5), THREADS (GOMAXPROCS and the BLAS threads,
# 2), OPENBLAS_DIR (a folder holding an OpenBLAS libblas.so.3, e.g. one
# unpacked from Debian's libopenblas0-pthread with dpkg -x; if set, numpy is
# also timed with it through LD_LIBRARY_PATH, next to the BLAS it loads by
# default).
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}; THREADS=${THREADS:-2}; PY=/usr/bin/python3
OUT=$(mktemp -d)
go test -c -o "$OUT/nn.test" ./models/nn/
for r in $(seq "$ROUNDS"); do
	GOMAXPROCS=$THREADS "$OUT/nn.test" -test.run '^$' -test.bench '^BenchmarkMatMul(32)?$' -test.benchtime 0.3s >>"$OUT/go.txt"
	NAMES=$(sed -n 's|^BenchmarkMatMul32/\([^ -]*\)[-0-9]* .*|\1|p' "$OUT/go.txt" | sort -u)
	THREADS=$THREADS REPS=1 $PY bench/matmul/matmul_numpy.py $NAMES >>"$OUT/np.json"
	if [ -n "${OPENBLAS_DIR:-}" ]; then
		LD_LIBRARY_PATH=$OPENBLAS_DIR THREADS=$THREADS REPS=1 $PY bench/matmul/matmul_numpy.py $NAMES >>"$OUT/ob.json"
	fi
done
touch "$OUT/ob.json"
$PY - "$OUT" <<'PYEOF'
import json, re, statistics, sys
d = sys.argv[1]
go = {}
for line in open(d + "/go.txt"):
    m = re.match(r"^Benchmark(MatMul32|MatMul)/([^\s-]+)(?:-\d+)?\s.*\s([\d.]+) GFLOP/s", line)
    if m:
        go.setdefault((m[1], m[2]), []).append(float(m[3]))
def runs(path):
    out = {}
    for line in open(path):
        for k, v in json.loads(line).items():
            out.setdefault(k, []).append(v)
    return out
npr, obr = runs(d + "/np.json"), runs(d + "/ob.json")
med = lambda v: statistics.median(v)
print(f"numpy BLAS: {npr['_blas'][0]}" + (f"; OpenBLAS: {obr['_blas'][0]}" if obr else ""))
hdr = f"{'shape':26} {'f32':>7} {'(min-max)':>11} {'f64':>7} {'f32/f64':>8} {'numpy':>7} {'f32/np':>7}"
if obr:
    hdr += f" {'openblas':>8} {'(min-max)':>11} {'f32/ob':>7}"
print(hdr + f"   (GFLOP/s, medians of {len(npr['_blas'])} rounds)")
for name in [n for n in npr if not n.startswith("_")]:
    f32, f64 = go[("MatMul32", name)], go.get(("MatMul", name), [float("nan")])
    m32, m64, mnp = med(f32), med(f64), med(npr[name])
    row = f"{name:26} {m32:7.1f} {min(f32):5.0f}-{max(f32):<5.0f} {m64:7.1f} {m32 / m64:8.2f} {mnp:7.1f} {m32 / mnp:7.1f}"
    if obr:
        ob = obr[name]
        row += f" {med(ob):8.1f} {min(ob):5.0f}-{max(ob):<5.0f} {m32 / med(ob):7.2f}"
    print(row)
PYEOF
rm -r "$OUT"
