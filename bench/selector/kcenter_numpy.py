"""Greedy k-center (core-set) in numpy, the usual vectorised form: labeled rows
are the initial centers, then per pick one n x d matrix-vector product updates
the min-distance vector. Reads DIR/pool.npy written by `go run ./bench/selector/gen data`.

usage: kcenter_numpy.py DIR LABELED BUDGET
"""
import json
import sys
import time

import numpy as np

d, labeled, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = np.load(d + "/pool.npy", mmap_mode=None)
t0 = time.perf_counter()
sq = np.einsum("ij,ij->i", X, X)
min_d = np.full(X.shape[0], np.inf, dtype=np.float32)
C = X[:labeled]
for lo in range(0, X.shape[0], 65536):
    blk = X[lo:lo + 65536]
    dist = sq[lo:lo + 65536, None] + sq[None, :labeled] - 2.0 * (blk @ C.T)
    min_d[lo:lo + 65536] = np.maximum(dist.min(axis=1), 0)
min_d[:labeled] = 0
t_init = time.perf_counter() - t0
picks, scores = [], []
for _ in range(budget):
    i = int(np.argmax(min_d))
    picks.append(i)
    scores.append(float(np.sqrt(min_d[i])))
    dist = np.maximum(sq + sq[i] - 2.0 * (X @ X[i]), 0)
    np.minimum(min_d, dist, out=min_d)
    min_d[i] = 0
sec = time.perf_counter() - t0
with open(d + "/numpy_kcenter.txt", "w") as f:
    for i, s in zip(picks, scores):
        f.write(f"{i} {s:.6f}\n")
print(json.dumps({"seconds": sec, "init_seconds": t_init, "budget": budget, "last_radius": scores[-1]}))
