"""sklearn LogisticRegression (multinomial, lbfgs) on the Fashion-MNIST arrays
written by `go run ./bench/selector/gen data` (5,000 train / 2,000 test, raw pixels/255).

usage: logreg_sklearn.py DIR C MAX_ITER
"""
import json
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

d, C, max_iter = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
Xtr, ytr = np.load(d + "/fmnist_train_x.npy"), np.load(d + "/fmnist_train_y.npy")
Xte, yte = np.load(d + "/fmnist_test_x.npy"), np.load(d + "/fmnist_test_y.npy")
warnings.simplefilter("ignore", ConvergenceWarning)
out = {}
for name, c, it in [("same_as_go", C, max_iter), ("sklearn_default", 1.0, 100)]:
    t0 = time.perf_counter()
    m = LogisticRegression(C=c, max_iter=it).fit(Xtr, ytr)
    out[name] = {"seconds": time.perf_counter() - t0, "accuracy": float((m.predict(Xte) == yte).mean()), "C": c, "max_iter": it}
print(json.dumps(out))
