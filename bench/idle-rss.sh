#!/usr/bin/env bash
# Idle footprint and start-up time of a 3-node cluster (release build).
#
# $RUNS times: a fresh cluster (empty data directories) is started with
# `hakube up --dir … --base-address …`, timed by wall clock until it returns (up returns once the
# datastore has a leader with quorum and every node serves and reports ready); then the cluster
# sits idle for $IDLE_SECONDS and each node's daemon is measured: VmRSS and VmHWM from
# /proc/PID/status, and its CPU over the idle period (utime+stime from /proc/PID/stat) as % of one
# core. Then `hakube down`. Prints markdown tables; raw numbers land in $BENCH_DIR/results/.
#
#   sudo bench/idle-rss.sh
#   RUNS=5 IDLE_SECONDS=60 sudo -E bench/idle-rss.sh
#
# Cluster: $BENCH_DIR/idle on 127.50.3.11-13.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-3}"
IDLE_SECONDS="${IDLE_SECONDS:-30}"

require_root
build_release

results="$BENCH_DIR/results/idle-rss-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
machine_summary > "$results/machine.txt"

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

up_times=()
rss_rows=()
for run in $(seq 1 "$RUNS"); do
    CLUSTER_DIR="$BENCH_DIR/idle"
    if [[ -d "$CLUSTER_DIR" ]]; then
        "$HAKUBE_BIN" down --dir "$CLUSTER_DIR" >&2 || true
        rm -rf "$CLUSTER_DIR"
    fi
    sync
    start=$(date +%s.%N)
    cluster_up idle 127.50.3
    end=$(date +%s.%N)
    up_s=$(echo "$end - $start" | bc -l | awk '{printf "%.2f", $1}')
    up_times+=("$up_s")
    log "run $run: hakube up took ${up_s} s; idling ${IDLE_SECONDS} s"

    declare -A before=()
    for dir in $(node_dirs); do
        pid=$(node_pid "$dir")
        before[$dir]=$(cpu_ticks "$pid")
    done
    sleep "$IDLE_SECONDS"
    for dir in $(node_dirs); do
        pid=$(node_pid "$dir")
        rss=$(status_kb "$pid" VmRSS)
        hwm=$(status_kb "$pid" VmHWM)
        ticks=$(( $(cpu_ticks "$pid") - ${before[$dir]} ))
        cpu_pct=$(echo "$ticks / $IDLE_SECONDS" | bc -l | awk '{printf "%.2f", $1}')  # ticks are 1/100 s
        row="| $run | $(basename "$dir") | $(awk -v k="$rss" 'BEGIN {printf "%.1f", k/1024}') | $(awk -v k="$hwm" 'BEGIN {printf "%.1f", k/1024}') | $cpu_pct |"
        rss_rows+=("$row")
        echo "$run $(basename "$dir") $pid $rss $hwm $ticks" >> "$results/rss.txt"
    done
    unset before
    cluster_down
    CLUSTER_DIR=""
done
printf '%s\n' "${up_times[@]}" > "$results/up-seconds.txt"

echo
echo "| run | \`hakube up\` (3 nodes, fresh) s |"
echo "|---:|---:|"
i=1
for t in "${up_times[@]}"; do echo "| $i | $t |"; i=$((i + 1)); done
echo
echo "| run | node | VmRSS MB after ${IDLE_SECONDS} s idle | VmHWM MB | CPU % of one core while idle |"
echo "|---:|---|---:|---:|---:|"
printf '%s\n' "${rss_rows[@]}"
echo
echo "raw results: $results"
