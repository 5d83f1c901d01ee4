#!/usr/bin/env bash
# Stops the one-node cluster that scripts/slurm/start-local-cluster.sh started in STATE_DIR: cancels its jobs, then
# ends slurmd, slurmctld and munged by the process ids in their pid files (nothing else is signalled).
# Usage: scripts/slurm/stop-local-cluster.sh STATE_DIR [--remove]   (--remove also deletes STATE_DIR)
set -euo pipefail
dir="${1:?usage: stop-local-cluster.sh STATE_DIR [--remove]}"
export PATH="$PATH:/usr/sbin:/sbin"
if [ -f "$dir/slurm.conf" ]; then
  SLURM_CONF="$dir/slurm.conf" scancel --quiet --user=root >/dev/null 2>&1 || true
fi
# Waits up to 10 s for a process to end after SIGTERM, then kills it.
stop_pid_file() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
stop_pid_file "$dir/slurmd.pid"
stop_pid_file "$dir/slurmctld.pid"
stop_pid_file "$dir/munge/munged.pid"
if [ "${2:-}" = "--remove" ]; then rm -rf "$dir"; fi
