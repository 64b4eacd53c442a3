"""numpy's float32 matmul on the shapes of BenchmarkMatMul32, for the ratio
in run.sh. Shapes come as benchmark names, ..._MxNxK_XY with X, Y in {N, T}
(op(A) is M x K, op(B) is K x N; T: stored transposed, as MatMul32's
transA/transB). Prints one JSON object: name -> GFLOP/s (median of REPS
timings), plus the BLAS library numpy loaded.

usage: matmul_numpy.py NAME...   (env THREADS, default 2; REPS, default 7)
"""
import json
import os
import re
import sys
import time

threads = os.environ.get("THREADS", "2")
for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[v] = threads
import numpy as np  # noqa: E402  (after the thread settings)

reps = int(os.environ.get("REPS", "7"))
rng = np.random.default_rng(1)
out = {}
for name in sys.argv[1:]:
    mt = re.search(r"_(\d+)x(\d+)x(\d+)_([NT])([NT])$", name)
    m, n, k = int(mt[1]), int(mt[2]), int(mt[3])
    ta, tb = mt[4] == "T", mt[5] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(opa, opb, out=c)  # warm up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        runs = 0
        while True:
            np.matmul(opa, opb, out=c)
            runs += 1
            dt = time.perf_counter() - t0
            if dt > 0.1:
                break
        times.append(dt / runs)
    times.sort()
    out[name] = 2.0 * m * n * k / times[len(times) // 2] / 1e9
blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if re.search(r"blas|lapack|mkl", l)})
out["_blas"] = ", ".join(blas)
out["_threads"] = threads
print(json.dumps(out))
