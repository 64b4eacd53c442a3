#!/usr/bin/env bash
# Runs every fuzz target of the project for a bounded time each: scripts/fuzz.sh [DURATION, default 30s].
# Their seed corpora also run as plain tests in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $f for $t" >&2
    if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"; then
      echo "fuzz: $pkg $f FAILED (crasher saved under $dir/testdata/fuzz/$f)" >&2
      status=1
    fi
  done
done
exit $status
