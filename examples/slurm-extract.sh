#!/usr/bin/env bash
# Feature extraction as a Slurm array, one cache file per shard (docs/scale-out.md):
#   sbatch --array=0-15 examples/slurm-extract.sh
#   # after every task finished:
#   asvp cache merge --out features/all.cache features/shard-*.cache
# Needs `asvp` on PATH and ASVP_HOME set (or the binary beside third_party/), on every node.
# The paths come from the environment (sbatch passes the submitting shell's on), defaults in brackets:
#   ASVP_DATA      dataset spec, readable at the same spec on every node [csv:/data/pool.csv]
#   ASVP_FEATURES  folder on shared storage that receives shard-$i.cache [features]
#   ASVP_LIMIT     extract the first N samples only, 0 for all [0]
# `make slurm-e2e` (scripts/slurm-e2e.sh) runs this very file on a single-node Slurm cluster.
#SBATCH --job-name=asvp-extract
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --requeue
set -euo pipefail
n=${SLURM_ARRAY_TASK_COUNT:?run as an array job: sbatch --array=0-15}
i=${SLURM_ARRAY_TASK_ID:?run as an array job: sbatch --array=0-15}
features=${ASVP_FEATURES:-features}
mkdir -p "$features"
# A requeued task reruns this same command: extract resumes its shard where it stopped.
exec asvp extract --data "${ASVP_DATA:-csv:/data/pool.csv}" --limit "${ASVP_LIMIT:-0}" \
  --model mobilenet_v2-nsfwjs --output pool_blocks_10_13_16 \
  --shard "$i/$n" --cache "$features/shard-$i.cache" --threads "$SLURM_CPUS_PER_TASK"
