#!/usr/bin/env bash
# A real Slurm on this machine, for the test of `mmsr slurm`: munge and a one-node Slurm (controller and node daemon
# on localhost, private config, ports and state in a temporary folder), a small grid submitted as an array of 2
# tasks plus the merge job, then checks that every run finished exactly once and the merged report exists.
#
#   scripts/slurm_check.sh MMSR_BINARY        (exit 77 when Slurm or munge is not installed: the test skips)
set -euo pipefail
MMSR="$(readlink -f "${1:-build/bin/mmsr}")"
for tool in slurmctld slurmd munged sbatch squeue; do
  command -v "$tool" > /dev/null || { echo "no $tool here (scripts/setup.sh installs slurm-wlm and munge): skipped"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "the one-node Slurm of this check runs its daemons as root: skipped"; exit 77; }
W="$(mktemp -d /tmp/mmsr-slurm.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  [ -n "${MMSR_SLURM_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
say() { printf '[slurm] %s\n' "$*"; }

mkdir -p "$W/munge" "$W/state" "$W/spool" "$W/log"
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 2> /dev/null
chmod 400 "$W/munge/munge.key"
chmod 700 "$W/munge"
munged --force --foreground --socket="$W/munge/socket" --key-file="$W/munge/munge.key" \
  --pid-file="$W/munge/pid" --log-file="$W/munge/log" --seed-file="$W/munge/seed" > "$W/munge/out" 2>&1 &
PIDS+=($!)

# Free ports for this Slurm only.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CTLD_PORT=$(port); SLURMD_PORT=$(port)
HOST=$(hostname -s)
cat > "$W/slurm.conf" <<CONF
ClusterName=mmsrtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/socket
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$W/slurm.conf"
sleep 1
slurmctld -D -i -f "$SLURM_CONF" > "$W/log/slurmctld.out" 2>&1 &
PIDS+=($!)
sleep 2
slurmd -D -f "$SLURM_CONF" > "$W/log/slurmd.out" 2>&1 &
PIDS+=($!)
for i in $(seq 1 30); do
  sinfo -h -o %T 2> /dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T 2> /dev/null | grep -q idle || { say "FAIL: the one-node Slurm did not come up"; tail -20 "$W/log/"*; exit 1; }
say "one-node Slurm is up ($(sinfo -h -o '%N %T %c'))"

cat > "$W/grid.toml" <<'TOML'
[experiment]
name = "slurm-check"
seeds = [1, 2, 3]
[data.synthetic]
users = 200
items = 80
clusters = 6
[protocol]
max_len = 10
[train]
epochs = 2
batch_size = 32
[[model]]
name = "SASRec"
tower = { plugin = "id", dim = [8, 16] }
backbone = { plugin = "sasrec", layers = 1 }
loss = "softmax"
TOML
ids=$("$MMSR" slurm "$W/grid.toml" --shards 2 --cpus-per-task 1 --time 00:10:00 --out "$W/out" 2> "$W/submit.log")
say "submitted: $ids"
for i in $(seq 1 300); do
  [ -z "$(squeue -h 2> /dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h)" ] || { say "FAIL: jobs still queued after 5 minutes"; squeue; exit 1; }
fail=0
runs=$(sqlite3 "$W/out/grid.sqlite" "SELECT COUNT(*) FROM runs WHERE status='finished'" 2> /dev/null || echo 0)
distinct=$(sqlite3 "$W/out/grid.sqlite" "SELECT COUNT(DISTINCT run_key) FROM runs" 2> /dev/null || echo 0)
shards=$(ls "$W/out/shards/" | grep -c 'sqlite$' || true)
say "shards: $shards stores; merged: $runs finished runs, $distinct identities"
[ "$shards" = 2 ] || { say "FAIL: expected 2 shard stores"; fail=1; }
[ "$runs" = 6 ] && [ "$distinct" = 6 ] || { say "FAIL: expected 6 runs, each once"; fail=1; }
[ -s "$W/out/report/report.html" ] || { say "FAIL: no merged report"; fail=1; }
if [ "$fail" = 1 ]; then tail -5 "$W/out/slurm/"*.log; fi
exit $fail
