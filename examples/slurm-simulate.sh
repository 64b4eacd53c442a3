#!/usr/bin/env bash
# One `asvp simulate` as a Slurm array: task i of n runs every n-th (pipeline, seed) of the simulation
# (--shard i/n) in its own copy of the cache, and writes its part's results.json (docs/scale-out.md):
#   sbatch --array=0-11 examples/slurm-simulate.sh      # 4 pipelines x 3 seeds: one unit per task
#   # after every task finished:
#   asvp report --out report simulation/part-*/results.json
# The report equals the one `asvp simulate` with the same flags writes in one process, round by round
# (the measured seconds aside). Defaults are the fidelity experiment's (scripts/fidelity.sh); the cache
# must hold the pool and the test set with their activations (extract both with the default cut).
# Paths and settings from the environment, defaults in brackets:
#   ASVP_CACHE       the cache with the pool and test features [features/all.cache]
#   ASVP_PARTS       folder on shared storage for the parts' caches and results [simulation]
#   ASVP_SIM_FLAGS   more simulate flags, after (so overriding) the ones below [none]
# Every task must get the same flags, and the join needs every task's part: rerun (or requeue) a
# failed task; it resumes its finished rounds from its own cache copy.
# `make slurm-e2e` (scripts/slurm-e2e.sh) runs this very file on a single-node Slurm cluster.
#SBATCH --job-name=asvp-simulate
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --requeue
set -euo pipefail
n=${SLURM_ARRAY_TASK_COUNT:?run as an array job: sbatch --array=0-11}
i=${SLURM_ARRAY_TASK_ID:?run as an array job: sbatch --array=0-11}
parts=${ASVP_PARTS:-simulation}
mkdir -p "$parts"
# The simulation writes its rounds (and asvp's re-aligned features) into the cache, and a cache has
# one writer at a time: each task works in its own copy, made once (a requeued task keeps its own).
own="$parts/part-$i.cache"
if [ ! -f "$own" ]; then
  cp "${ASVP_CACHE:-features/all.cache}" "$own.tmp"
  mv "$own.tmp" "$own"
fi
# shellcheck disable=SC2086 # ASVP_SIM_FLAGS is a list of flags
exec asvp simulate --cache "$own" --pool fashion-mnist:train --test fashion-mnist:test \
  --output pool_blocks_10_13_16 --pipelines random,standard,svpp,asvp --strategy margin --proxy mlp \
  --init 200 --budget 300 --rounds 6 --seeds 3 --tune-sample-epochs 15000 --name fidelity \
  --workers "$SLURM_CPUS_PER_TASK" --shard "$i/$n" --out "$parts/part-$i" ${ASVP_SIM_FLAGS:-}
