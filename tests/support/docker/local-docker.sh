#!/usr/bin/env bash
# A docker daemon on this machine, for the tests (as root, no systemd): start | stop | status.
# Debian's docker.io provides dockerd. No container here needs a network, so the daemon runs
# without a bridge and without touching iptables (nothing is left behind when it stops). Its
# images live under ~/.cache/posepipe/docker so later runs on this machine reuse them.
set -euo pipefail
command="${1:-status}"
data_root="${POSEPIPE_DOCKER_ROOT:-$HOME/.cache/posepipe/docker}"
pidfile=/run/posepipe-dockerd.pid
case "$command" in
start)
    docker info > /dev/null 2>&1 && exit 0
    mkdir -p "$data_root"
    nohup dockerd --data-root "$data_root/data" --iptables=false --bridge=none --pidfile "$pidfile" \
        > "$data_root/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
        docker info > /dev/null 2>&1 && exit 0
        sleep 0.5
    done
    echo "dockerd did not answer; see $data_root/dockerd.log" >&2
    exit 1
    ;;
stop)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2> /dev/null || true
    ;;
status)
    docker info --format '{{.ServerVersion}}'
    ;;
esac
