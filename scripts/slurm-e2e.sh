#!/usr/bin/env bash
# make slurm-e2e: the scale-out contract (docs/scale-out.md) on a real Slurm engine. Starts a
# single-node Slurm cluster on this machine (munged, slurmctld, slurmd; a generated slurm.conf and
# munge key in a temporary folder), and there:
#   1. submits examples/slurm-extract.sh, the very file, as a 4-task array over the first
#      SLURM_E2E_TRAIN images of Fashion-MNIST train, merges the shards and checks that every feature
#      set of the merge equals a single-process extraction bit for bit (asvp cache export, cmp);
#   2. submits it again, cancels one task in the middle of its shard (scancel), requeues it
#      (scontrol requeue), and checks that the task resumed its shard and that the merge is again
#      bit for bit the single-process one;
#   3. submits examples/slurm-simulate.sh as a 3-task array (one simulation, its (pipeline, seed)
#      units split over the tasks), joins the parts with asvp report, and checks that the joined
#      results equal a single-process asvp simulate with the same flags, round by round.
# Stops every process it started and removes the folder on exit, failed or not (a trap; Ctrl-C too).
# Installs slurmctld, slurmd, slurm-client and munge from Debian when missing (as root, or with sudo).
# Usage: scripts/slurm-e2e.sh   (after make setup build; `make slurm-e2e` does both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N_TRAIN=${SLURM_E2E_TRAIN:-4000} # 4 shards of 1,000
N_TEST=${SLURM_E2E_TEST:-500}
KEEP=${SLURM_E2E_KEEP:-} # set: keep the temporary folder (logs, caches) for a look afterwards

log() { echo "slurm-e2e: $*" >&2; }
die() { echo "slurm-e2e: FAIL: $*" >&2; exit 1; }
t0=$(date +%s)

. "$root/scripts/lib.sh" # apt_install
PATH=$PATH:/usr/sbin:/sbin
for c in munged slurmctld slurmd sbatch; do
  command -v "$c" >/dev/null || { apt_install slurmctld slurmd slurm-client munge; break; }
done
[ "$(id -u)" = 0 ] || die "slurmd must run as root to start jobs; run as root (CI containers are)"
asvp=$root/bin/asvp
[ -x "$asvp" ] || die "$asvp missing: run make build (make slurm-e2e does)"

# Everything lives here, and every process this script starts carries SLURM_CONF pointing here in
# its environment: the clean-up finds them by that, and only them.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/asvp-slurm-e2e.XXXXXX")
chmod 700 "$tmp"
conf=$tmp/etc/slurm.conf
export SLURM_CONF=$conf
ours() { # the PIDs of the live processes whose environment holds our SLURM_CONF
  grep -lzxF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$"
  return 0
}
cleanup() {
  local rc=$? pids sig f
  trap - EXIT INT TERM
  set +e
  if [ "$rc" != 0 ] && [ -d "$tmp/log" ]; then
    for f in "$tmp"/log/*; do
      echo "----- $f (last 20 lines)" >&2
      tail -n 20 "$f" >&2
    done
  fi
  # The jobs first, while slurmctld and slurmd are there to end them; then the daemons; then
  # whatever of ours is still alive.
  if [ -f "$SLURM_CONF" ] && squeue -h 2>/dev/null | grep -q .; then
    scancel --quiet 2>/dev/null
    for _ in $(seq 20); do squeue -h 2>/dev/null | grep -q . || break; sleep 0.5; done
  fi
  export -n SLURM_CONF # what the clean-up runs is not ours to stop
  for sig in TERM KILL; do
    pids=$(ours)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086 # a list of PIDs
    kill -s "$sig" $pids 2>/dev/null
    for _ in $(seq 20); do [ -z "$(ours)" ] && break; sleep 0.25; done
  done
  pids=$(ours)
  [ -n "$pids" ] && { echo "slurm-e2e: could not stop processes" $pids >&2; rc=1; }
  if [ -n "$KEEP" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  if [ "$rc" = 0 ]; then log "passed in $(($(date +%s) - t0)) s, nothing left running"; else log "failed (exit $rc); nothing left running"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. munge: a fresh key, its own socket.
mkdir -p "$tmp/etc" "$tmp/munge" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/run" "$tmp/work"
chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/etc/munge.key"
chmod 400 "$tmp/etc/munge.key"
sock=$tmp/munge/munge.socket
munged --foreground --force --key-file="$tmp/etc/munge.key" --socket="$sock" --pid-file="$tmp/run/munged.pid" \
  --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/munged.seed" 2>>"$tmp/log/munged.log" &
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "munged did not start"
munge --socket="$sock" -n | unmunge --socket="$sock" >/dev/null || die "munge cannot decode its own credential"

# 2. slurm.conf: one node of 8 CPUs and 10 GB, as declared (config_overrides), whatever the machine
# has: the example's --cpus-per-task=4 and --mem=4G then run unchanged, two tasks at a time.
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
cat >"$SLURM_CONF" <<EOF
ClusterName=asvp-e2e
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=$(id -un)
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/slurmd-%n
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd-%n.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=e2e NodeHostname=$host NodeAddr=127.0.0.1 CPUs=8 RealMemory=10000 State=UNKNOWN
PartitionName=e2e Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out" 2>&1 &
slurmd -D -N e2e -f "$SLURM_CONF" >>"$tmp/log/slurmd.out" 2>&1 &
for _ in $(seq 100); do
  sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle && break
  sleep 0.3
done
sinfo -h -N -o '%T' | grep -qx idle || die "the node did not come up idle: $(sinfo -N 2>&1)"
log "cluster up ($(sinfo -h -o '%P %D node, %c CPUs, %m MB')), slurmctld port $port"

# The jobs find asvp and its third_party/ through the environment sbatch passes on.
export PATH=$root/bin:$PATH ASVP_HOME=$root

# wait_job JOBID: waits for every task of an array job to end; fails unless all COMPLETED.
wait_job() {
  local states
  for _ in $(seq 1200); do
    squeue -h -j "$1" 2>/dev/null | grep -q . || break
    sleep 0.5
  done
  squeue -h -j "$1" 2>/dev/null | grep -q . && die "job $1 still queued or running after 10 minutes"
  states=$(scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | sort | uniq -c | tr -s ' \n' ' ')
  scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]*' | grep -vqx 'JobState=COMPLETED' &&
    die "job $1 ended with states: $states"
  log "job $1: $states"
}
# task_state JOBID_TASK: the state of one array task.
task_state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
# same_sets A B: every feature set (and activations set) of cache A equals B's, generation 0, bit for bit.
same_sets() {
  local keys k n=0
  keys=$("$asvp" cache ls --cache "$1" --json | grep -o '"key": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{16,\}')
  [ -n "$keys" ] || die "no feature sets in $1"
  for k in $keys; do
    "$asvp" cache export --cache "$1" --set "$k" --gen 0 --out "$tmp/a.npy" >/dev/null
    "$asvp" cache export --cache "$2" --set "$k" --gen 0 --out "$tmp/b.npy" >/dev/null ||
      die "$2 lacks set $k of $1"
    cmp "$tmp/a.npy" "$tmp/b.npy" || die "set $k: vectors of $2 differ from $1"
    cmp "$tmp/a.npy.ids.txt" "$tmp/b.npy.ids.txt" || die "set $k: sample IDs of $2 differ from $1"
    n=$((n + 1))
  done
  [ "$("$asvp" cache ls --cache "$2" --json | grep -c '"key"')" = "$n" ] || die "$2 has other sets than $1"
  log "$2: all $n sets equal $1's, bit for bit ($(wc -l <"$tmp/a.npy.ids.txt") samples each)"
}

# bgwait CMD...: runs CMD and waits for it in a way a signal interrupts (the trap then stops it).
bgwait() { "$@" & wait "$!"; }

cd "$tmp/work"
# 3. The reference: one process.
log "single-process extraction of $N_TRAIN Fashion-MNIST training images"
bgwait "$asvp" extract --data fashion-mnist:train --limit "$N_TRAIN" --model mobilenet_v2-nsfwjs --output pool_blocks_10_13_16 \
  --cache single.cache --quiet >/dev/null

# 4. The example, as a 4-task array.
export ASVP_DATA=fashion-mnist:train ASVP_LIMIT=$N_TRAIN ASVP_FEATURES=$tmp/work/run1
job=$(sbatch --parsable --array=0-3 --output="$tmp/log/extract1-%a.out" --open-mode=append "$root/examples/slurm-extract.sh")
log "submitted examples/slurm-extract.sh as array job $job (4 shards)"
wait_job "$job"
"$asvp" cache merge --out run1.cache run1/shard-*.cache >/dev/null
"$asvp" cache verify --cache run1.cache >/dev/null
same_sets single.cache run1.cache

# 5. Again, with task 1 cancelled in the middle of its shard and requeued.
export ASVP_FEATURES=$tmp/work/run2
job=$(sbatch --parsable --array=0-3 --output="$tmp/log/extract2-%a.out" --open-mode=append "$root/examples/slurm-extract.sh")
log "submitted it again as array job $job; cancelling task 1 once its shard is partly written"
# extract prints "extract: DONE/TOTAL samples ..." every 2 s, after storing them.
progressed() { grep -q '^extract: [1-9][0-9]*/' "$tmp/log/extract2-1.out" 2>/dev/null; }
for _ in $(seq 1200); do
  progressed && break
  [ "$(task_state "${job}_1")" = COMPLETED ] && break
  sleep 0.1
done
[ "$(task_state "${job}_1")" = RUNNING ] || die "task ${job}_1 is $(task_state "${job}_1"), not running: it cannot be cancelled in the middle"
scancel "${job}_1"
for _ in $(seq 100); do [ "$(task_state "${job}_1")" = CANCELLED ] && break; sleep 0.2; done
[ "$(task_state "${job}_1")" = CANCELLED ] || die "task ${job}_1 is $(task_state "${job}_1") after scancel"
log "task ${job}_1 cancelled after \"$(grep '^extract: ' "$tmp/log/extract2-1.out" | tail -1)\"; requeueing it"
scontrol requeue "${job}_1"
wait_job "$job"
# The requeued run's result (the only one: the cancelled run printed none) says it found part of its
# shard done.
out1=$tmp/log/extract2-1.out
n=$(grep -c '"already_cached"' "$out1") || true
[ "$n" = 1 ] || die "task 1 printed $n results, want 1 (the requeued run's): did the cancelled run finish?"
cached=$(grep -o '"already_cached": *[0-9]*' "$out1" | grep -o '[0-9]*$')
done_=$(grep -o '"extracted": *[0-9]*' "$out1" | grep -o '[0-9]*$')
{ [ "$cached" -gt 0 ] && [ "$done_" -gt 0 ] && [ $((cached + done_)) = $((N_TRAIN / 4)) ]; } ||
  die "the requeued task 1 did not resume its shard: already_cached $cached, extracted $done_"
log "requeued task 1 resumed: $cached samples already in its shard, $done_ extracted"
"$asvp" cache merge --out run2.cache run2/shard-*.cache >/dev/null
"$asvp" cache verify --cache run2.cache >/dev/null
same_sets single.cache run2.cache

# 6. A simulation as an array: 4 pipelines x 2 seeds, split over 3 tasks, joined; against one process.
bgwait "$asvp" extract --data fashion-mnist:test --limit "$N_TEST" --model mobilenet_v2-nsfwjs --output pool_blocks_10_13_16 \
  --cache run1.cache --quiet >/dev/null
export ASVP_CACHE=$tmp/work/run1.cache ASVP_PARTS=$tmp/work/sim
export ASVP_SIM_FLAGS="--pool-limit 600 --init 40 --budget 40 --rounds 2 --seeds 2 --tune-epochs 1 --proxy-epochs 10
  --indicator every --every 2 --min-labels 0 --name e2e --quiet"
job=$(sbatch --parsable --array=0-2 --output="$tmp/log/simulate-%a.out" --open-mode=append "$root/examples/slurm-simulate.sh")
log "submitted examples/slurm-simulate.sh as array job $job (3 parts)"
cp run1.cache one.cache
# shellcheck disable=SC2086 # ASVP_SIM_FLAGS is a list of flags
bgwait "$asvp" simulate --cache one.cache --pool fashion-mnist:train --test fashion-mnist:test \
  --output pool_blocks_10_13_16 --pipelines random,standard,svpp,asvp --strategy margin --proxy mlp \
  --init 200 --budget 300 --rounds 6 --seeds 3 --tune-sample-epochs 15000 --name fidelity \
  --workers 4 --out one $ASVP_SIM_FLAGS >/dev/null
log "single-process simulate done"
wait_job "$job"
"$asvp" report --out joined sim/part-*/results.json >/dev/null
# What no two runs share stays out: the measured seconds and costs, and the generation numbers of
# re-aligned features (each cache numbers its own). Compared: pipeline, seed, round, labels, accuracy,
# train accuracy, method, realigned, updates, indicator value and decision, labeling cost; and the
# hash of every round's labeled set.
cols() { cut -d, -f1-7,17-21 "$1"; }
hashes() { grep -o '"labeled_sha256": *"[0-9a-f]*"' "$1"; }
cmp <(cols one/results.csv) <(cols joined/results.csv) || die "joined results.csv differs from the single process's"
cmp <(hashes one/results.json) <(hashes joined/results.json) || die "joined labeled sets differ from the single process's"
[ "$(hashes one/results.json | wc -l)" -ge 30 ] || die "the single run has $(hashes one/results.json | wc -l) rounds, want 30"
log "joined report of 3 parts equals the single-process run: $(($(wc -l <one/results.csv) - 1)) rounds compared"
