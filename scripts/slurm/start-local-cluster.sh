#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, for tests and for trying `mmrl ablate --executor slurm`:
# its own munged (own key and socket), slurmctld and slurmd, all as daemons (no systemd needed), with every file
# (slurm.conf, state, spool, logs, pid files) under one directory. Runs as root (SlurmUser = SlurmdUser = root);
# no cgroups (proctrack/linuxproc, task/none), no accounting database (accounting_storage/none; finished jobs go to
# a jobcomp/filetxt file, and `scontrol show job` keeps them for MinJobAge seconds).
#
# Usage: scripts/slurm/start-local-cluster.sh [STATE_DIR]
#   STATE_DIR  defaults to $MMRL_SLURM_DIR, else a new directory under ${TMPDIR:-/tmp}.
#   MMRL_SLURM_CPUS  CPUs of the node (default 2).
# Prints, on its last line, `SLURM_CONF=<STATE_DIR>/slurm.conf`: the client commands (sbatch, squeue, scancel,
# scontrol, sacct) find this cluster through that variable. Waits until the node takes jobs; exits non-zero (with
# the daemons' logs on stderr) when it does not within 60 s. Stop it with scripts/slurm/stop-local-cluster.sh.
# Prerequisite (Debian): apt-get install -y slurm-wlm munge.
set -euo pipefail

dir="${1:-${MMRL_SLURM_DIR:-}}"
if [ -z "$dir" ]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/mmrl-slurm.XXXXXX")"; fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cpus="${MMRL_SLURM_CPUS:-2}"

for tool in munged mungekey slurmctld slurmd sinfo; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "start-local-cluster: $tool not found: install Slurm and munge (Debian: apt-get install -y slurm-wlm munge)" >&2
    exit 2
  fi
done
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" -ne 0 ]; then
  echo "start-local-cluster: must run as root (slurmd starts jobs as their users; this cluster runs everything as root)" >&2
  exit 2
fi

# An earlier cluster in the same directory: stop it first.
if [ -f "$dir/slurm.conf" ]; then "$(dirname "$0")/stop-local-cluster.sh" "$dir" >/dev/null 2>&1 || true; fi

# A free TCP port on localhost from $1 upwards (bash's /dev/tcp: a successful connect means taken).
free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

host="$(hostname -s 2>/dev/null || hostname)"
ctld_port="$(free_port "${MMRL_SLURMCTLD_PORT:-6817}")"
slurmd_port="$(free_port $((ctld_port + 1)))"
mem_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge"

# munge: a key of its own, so this cluster trusts nothing else; munged refuses insecure files, hence the modes.
if [ ! -s "$dir/munge/munge.key" ]; then
  mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024 2>/dev/null ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 2>/dev/null
fi
chmod 600 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket.2"
munged --force --key-file="$dir/munge/munge.key" --socket="$socket" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

cat >"$dir/slurm.conf" <<EOF
# One-node cluster written by scripts/slurm/start-local-cluster.sh
ClusterName=mmrl-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no systemd: processes are tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct has no database to read; finished jobs are written to a text file instead.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
# scancel: SIGTERM, then SIGKILL after KillWait seconds. Finished jobs stay visible to scontrol for MinJobAge s.
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF" -N "$host"

# Ready when the node is idle (or mixed/allocated: it takes jobs).
for _ in $(seq 1 120); do
  state="$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null || true)"
  case "$state" in
    idle* | mixed* | allocated*) echo "SLURM_CONF=$SLURM_CONF"; exit 0 ;;
  esac
  sleep 0.5
done
echo "start-local-cluster: node $host not ready after 60 s (state: ${state:-none}); logs:" >&2
for log in "$dir"/log/*.log; do echo "--- $log" >&2; tail -n 30 "$log" >&2 || true; done
"$(dirname "$0")/stop-local-cluster.sh" "$dir" >/dev/null 2>&1 || true
exit 1
