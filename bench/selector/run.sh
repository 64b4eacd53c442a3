#!/bin/sh
# Runs the Go and Python sides of the selector comparisons on the same data
# and prints the ratios. Environment: DIR (data, default /tmp/asvp-bench),
# N (pool rows, 1000000), D (512), LABELED (1000), BUDGET (k-center picks,
# 100: numpy needs ~0.1-0.2 s per pick at 1M x 512, so the full 1,000 is
# left to `go test -bench Select1M`).
set -eu
cd "$(dirname "$0")/../.."
DIR=${DIR:-/tmp/asvp-bench}; N=${N:-1000000}; D=${D:-512}; LABELED=${LABELED:-1000}; BUDGET=${BUDGET:-100}
PY=/usr/bin/python3
go build -o "$DIR/gen" ./bench/selector/gen 2>/dev/null || { mkdir -p "$DIR"; go build -o "$DIR/gen" ./bench/selector/gen; }
G="$DIR/gen -out $DIR -n $N -d $D -labeled $LABELED -budget $BUDGET"
[ -f "$DIR/pool.npy" ] || $G data
echo "== logistic regression, Fashion-MNIST 5000/2000 raw pixels"
go_lr=$($G logreg); echo "go:      $go_lr"
C=$(echo "$go_lr" | $PY -c 'import json,sys; print(json.load(sys.stdin)["sklearn_C"])')
IT=$(echo "$go_lr" | $PY -c 'import json,sys; print(json.load(sys.stdin)["max_iter"])')
sk_lr=$($PY bench/selector/logreg_sklearn.py "$DIR" "$C" "$IT"); echo "sklearn: $sk_lr"
echo "== k-center greedy, pool ${N}x${D}, labeled $LABELED, budget $BUDGET"
go_kc=$($G kcenter); echo "go:      $go_kc"
np_kc=$($PY bench/selector/kcenter_numpy.py "$DIR" "$LABELED" "$BUDGET"); echo "numpy:   $np_kc"
$PY - "$go_lr" "$sk_lr" "$go_kc" "$np_kc" "$DIR" <<'PYEOF'
import json, sys
go_lr, sk_lr, go_kc, np_kc = (json.loads(a) for a in sys.argv[1:5])
d = sys.argv[5]
sk = sk_lr["same_as_go"]
print(f"logreg: accuracy go {go_lr['accuracy']:.4f} sklearn {sk['accuracy']:.4f} (sklearn default C=1: {sk_lr['sklearn_default']['accuracy']:.4f}); time go/sklearn {go_lr['seconds']/sk['seconds']:.2f}x")
g = [l.split() for l in open(d + "/go_kcenter.txt")]
n = [l.split() for l in open(d + "/numpy_kcenter.txt")]
same = sum(a[0] == b[0] for a, b in zip(g, n))
prefix = next((k for k, (a, b) in enumerate(zip(g, n)) if a[0] != b[0]), len(g))
print(f"kcenter: identical picks {same}/{len(g)} (identical prefix {prefix}); last radius go {go_kc['last_radius']:.4f} numpy {np_kc['last_radius']:.4f}; time go/numpy {go_kc['seconds']/np_kc['seconds']:.2f}x (go {go_kc['seconds']:.1f}s, numpy {np_kc['seconds']:.1f}s)")
PYEOF
