#!/usr/bin/env bash
# The longer experiment behind docs/fidelity.md (not in CI; at most about 60 minutes on 2 cores): a
# larger pool, larger budgets and more seeds than `make demo`, so that the differences between
# pipelines rise above the noise of one seed and one test set. Writes its report to OUT_DIR and its
# summary table to docs/fidelity.md.
# Usage: scripts/fidelity.sh [OUT_DIR]   (after make setup build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/out/fidelity}
export ASVP_DEMO_POOL=${ASVP_FIDELITY_POOL:-20000}
export ASVP_DEMO_TEST=${ASVP_FIDELITY_TEST:-10000}
export ASVP_DEMO_INIT=${ASVP_FIDELITY_INIT:-200}
export ASVP_DEMO_BUDGET=${ASVP_FIDELITY_BUDGET:-300}
export ASVP_DEMO_ROUNDS=${ASVP_FIDELITY_ROUNDS:-6}
export ASVP_DEMO_SEEDS=${ASVP_FIDELITY_SEEDS:-3}
export ASVP_DEMO_TUNE_SAMPLE_EPOCHS=${ASVP_FIDELITY_TUNE_SAMPLE_EPOCHS:-15000}
export ASVP_DEMO_NAME=fidelity
# A second target, above random's final accuracy, where the pipelines part.
TARGET=${ASVP_FIDELITY_TARGET:-0.88}
export ASVP_DEMO_TARGETS=$TARGET
export ASVP_DEMO_CACHE=${ASVP_FIDELITY_CACHE:-$root/.asvp/fashion-mnist-fidelity.cache}
t0=$(date +%s)
bash "$root/scripts/demo.sh" "$out"
{
  echo "# Fidelity run: the paper's shape at larger budgets"
  echo
  echo "Written by \`make fidelity\` (scripts/fidelity.sh) on $(date -u +%Y-%m-%d), $(nproc) cores, in $(( $(date +%s) - t0 )) s:"
  echo "pool $ASVP_DEMO_POOL, test $ASVP_DEMO_TEST, $ASVP_DEMO_INIT initial labels + $ASVP_DEMO_ROUNDS rounds of $ASVP_DEMO_BUDGET,"
  echo "$ASVP_DEMO_SEEDS seeds, fine-tunes of $ASVP_DEMO_TUNE_SAMPLE_EPOCHS labels x epochs per stage (a rerun resumes the"
  echo "stored rounds: only the first run computes). Full report: \`${out#"$root"/}/report.md\`, with the accuracy of every"
  echo "pipeline at every budget."
  echo
  echo "Measured compute:"
  echo
  echo '```'
  cat "$out/summary.txt"
  echo '```'
  echo
  echo "Projected GPU prices (\$2.00 per fine-tune, \$0.50 per pass over the pool):"
  echo
  echo '```'
  cat "$out/projected/summary.txt"
  echo '```'
  echo
  echo "Labels and cost to reach accuracy $TARGET, measured compute and projected GPU prices:"
  echo
  echo '```'
  cat "$out/target-$TARGET/summary.txt"
  echo
  cat "$out/target-$TARGET/projected/summary.txt"
  echo '```'
  echo
  echo "Mean test accuracy of every pipeline at every budget (from the report):"
  echo
  sed -n '/^## Per budget/,/^## /p' "$out/report.md" | sed '1d;$d'
} | sed "s#$root/##g" > "$root/docs/fidelity.md"
echo "fidelity: wrote docs/fidelity.md" >&2
