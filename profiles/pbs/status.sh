#!/usr/bin/env bash
# Job state for snakemake-executor-plugin-cluster-generic: prints running, success or failed for
# the PBS job id given. `qstat -x` also lists finished jobs (PBS Pro / OpenPBS).
set -uo pipefail
info=$(qstat -x -f "$1" 2> /dev/null) || { echo running; exit 0; } # a busy server: ask again later
state=$(sed -n 's/^ *job_state = //p' <<< "$info")
status=$(sed -n 's/^ *Exit_status = //p' <<< "$info")
case "$state" in
F | C) [ "${status:-1}" = 0 ] && echo success || echo failed ;;
*) echo running ;;
esac
