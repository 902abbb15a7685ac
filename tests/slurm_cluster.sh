#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd from Debian's
# packages (slurmctld, slurmd, slurm-client, munge; scripts/setup.sh installs them), with a
# generated slurm.conf, their own key, socket, ports, state and log directories under WORKDIR.
#   tests/slurm_cluster.sh start WORKDIR   # prints the SLURM_CONF to export, waits for the node
#   tests/slurm_cluster.sh stop WORKDIR
# Runs as root (slurmd starts jobs as their user), as CI does.
set -euo pipefail
cmd=${1:?start or stop}
W=${2:?WORKDIR}

stop() {
  for d in slurmd slurmctld munged; do
    if [[ -f "$W/$d.pid" ]]; then kill "$(cat "$W/$d.pid")" 2>/dev/null || true; fi
  done
  # Job step daemons outlive slurmd (the report job's step lingers): ours carry our SLURM_CONF.
  for p in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$W/slurm.conf"; then kill -9 "$p" 2>/dev/null || true; fi
  done
  for _ in $(seq 50); do
    alive=0
    for d in slurmd slurmctld munged; do
      [[ -f "$W/$d.pid" ]] && kill -0 "$(cat "$W/$d.pid")" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.1
  done
}

if [[ $cmd == stop ]]; then stop; exit 0; fi
[[ $cmd == start ]] || { echo "usage: $0 start|stop WORKDIR" >&2; exit 2; }
for b in munged slurmctld slurmd sbatch squeue sinfo; do
  command -v "$b" > /dev/null || { echo "slurm_cluster.sh: $b not found (install slurmctld slurmd slurm-client munge)" >&2; exit 3; }
done
[[ $(id -u) -eq 0 ]] || { echo "slurm_cluster.sh: needs root (slurmd starts the jobs)" >&2; exit 4; }

stop
rm -rf "$W"
mkdir -p "$W/state" "$W/spool"
chmod 700 "$W"
head -c 1024 /dev/urandom > "$W/munge.key"
chmod 600 "$W/munge.key"
munged --force --key-file="$W/munge.key" --socket="$W/munge.sock" --pid-file="$W/munged.pid" \
  --log-file="$W/munged.log" --seed-file="$W/munge.seed"

host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
user=$(id -un)
cat > "$W/slurm.conf" <<CONF
ClusterName=softrltest
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$W/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N "$host"
for _ in $(seq 100); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; exit 0; fi
  sleep 0.2
done
echo "slurm_cluster.sh: the node did not come up; see $W/slurmctld.log and $W/slurmd.log" >&2
stop
exit 5
