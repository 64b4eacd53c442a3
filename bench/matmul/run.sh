#!/bin/sh
# MatMul32 (float32) and MatMul (float64) on the MobileNetV2 tail's shapes
# against numpy's float32 matmul on the same shapes, 2 threads each; prints
# median GFLOP/s per shape and the ratios. Environment: COUNT (go -count,
# default 5), THREADS (GOMAXPROCS and the BLAS threads, 2), OPENBLAS_DIR (a
# folder holding an OpenBLAS libblas.so.3, e.g. one unpacked from Debian's
# libopenblas0-pthread with dpkg -x; if set, numpy is also timed with it
# through LD_LIBRARY_PATH, next to the BLAS it loads by default).
set -eu
cd "$(dirname "$0")/../.."
COUNT=${COUNT:-5}; THREADS=${THREADS:-2}; PY=/usr/bin/python3
OUT=$(mktemp -d)
GOMAXPROCS=$THREADS go test -run '^$' -bench '^BenchmarkMatMul(32)?$' -benchtime 0.3s -count "$COUNT" ./models/nn/ >"$OUT/go.txt"
NAMES=$(sed -n 's|^BenchmarkMatMul32/\([^ ]*\)-[0-9]* .*|\1|p' "$OUT/go.txt" | sort -u)
THREADS=$THREADS $PY bench/matmul/matmul_numpy.py $NAMES >"$OUT/np.json"
if [ -n "${OPENBLAS_DIR:-}" ]; then
	LD_LIBRARY_PATH=$OPENBLAS_DIR THREADS=$THREADS $PY bench/matmul/matmul_numpy.py $NAMES >"$OUT/ob.json"
else
	echo '{}' >"$OUT/ob.json"
fi
$PY - "$OUT" <<'PYEOF'
import json, re, statistics, sys
d = sys.argv[1]
go = {}
for line in open(d + "/go.txt"):
    m = re.match(r"^Benchmark(MatMul32|MatMul)/(\S+)-\d+\s.*\s([\d.]+) GFLOP/s", line)
    if m:
        go.setdefault((m[1], m[2]), []).append(float(m[3]))
npj, obj = json.load(open(d + "/np.json")), json.load(open(d + "/ob.json"))
print(f"numpy BLAS: {npj['_blas']}" + (f"; OpenBLAS: {obj['_blas']}" if obj else ""))
hdr = f"{'shape':26} {'f32':>7} {'(min-max)':>11} {'f64':>7} {'f32/f64':>8} {'numpy':>7} {'f32/np':>7}"
if obj:
    hdr += f" {'openblas':>8} {'f32/ob':>7}"
print(hdr + "   (GFLOP/s, medians of " + str(len(next(iter(go.values())))) + " runs)")
for name in sorted({n for _, n in go}, key=lambda n: list(npj).index(n)):
    f32, f64 = go[("MatMul32", name)], go.get(("MatMul", name), [0])
    m32, m64 = statistics.median(f32), statistics.median(f64)
    row = f"{name:26} {m32:7.1f} {min(f32):5.0f}-{max(f32):<5.0f} {m64:7.1f} {m32 / m64:8.2f} {npj[name]:7.1f} {m32 / npj[name]:7.1f}"
    if obj:
        row += f" {obj[name]:8.1f} {m32 / obj[name]:7.2f}"
    print(row)
PYEOF
rm -r "$OUT"
