#!/usr/bin/env bash
# Feature extraction as a Slurm array: sbatch --array=0-15 examples/slurm-extract.sh
#SBATCH --job-name=asvp-extract
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --requeue
set -euo pipefail
n=${SLURM_ARRAY_TASK_COUNT:-16}
i=${SLURM_ARRAY_TASK_ID:?run as an array job}
mkdir -p features
exec asvp extract --data csv:/data/pool.csv --output pool_blocks_10_13_16 \
  --shard "$i/$n" --cache "features/shard-$i.cache" --threads "$SLURM_CPUS_PER_TASK"
