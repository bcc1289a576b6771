#!/usr/bin/env bash
# A single-node Slurm on this machine, for the tests (as root, no systemd): start | stop | status.
# `start` writes /etc/slurm/slurm.conf (and gres.conf: one GPU) for this host and starts munged, slurmctld and slurmd;
# `stop` stops them by the PIDs in their pid files. Debian packages: slurm-wlm, munge.
set -euo pipefail
command="${1:-status}"
host=$(hostname -s)
case "$command" in
start)
    grep -q "[[:space:]]$host\b" /etc/hosts || echo "127.0.0.1 $host" >> /etc/hosts
    install -d -o munge -g munge -m 755 /run/munge
    [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create
    pgrep -x munged > /dev/null || su -s /bin/sh munge -c /usr/sbin/munged
    install -d -o slurm -g slurm -m 755 /run/slurm /var/spool/slurmctld /var/log/slurm
    install -d -m 755 /var/spool/slurmd /etc/slurm
    node=$(slurmd -C | head -1 | sed 's/ UpTime.*//; s/RealMemory=[0-9]*/RealMemory=4000/')
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localcluster
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
$node Gres=gpu:1 NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # one GPU declared on /dev/null (slurmd counts a GPU by its file): a job asking for one is
    # granted it (the profile's GPU request is tested), and torch in it still sees none
    echo "Name=gpu File=/dev/null" > /etc/slurm/gres.conf
    pgrep -x slurmctld > /dev/null || /usr/sbin/slurmctld
    pgrep -x slurmd > /dev/null || /usr/sbin/slurmd
    for _ in $(seq 60); do
        state=$(sinfo -h -o %t 2>/dev/null || true)
        [ "$state" = "idle" ] && exit 0
        sleep 0.5
    done
    echo "slurm did not become idle (state: ${state:-none})" >&2
    exit 1
    ;;
stop)
    for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/munge/munged.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2> /dev/null || true
    done
    ;;
status)
    sinfo -h -o %t
    ;;
esac
