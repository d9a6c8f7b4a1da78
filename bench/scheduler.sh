#!/usr/bin/env bash
# Scheduler throughput (issue 5) on a 3-node hakube cluster with $SIMULATED simulated nodes
# (release build), run as root: $PODS pods waiting in the API while the scheduler stands by,
# then a scheduler takeover; seconds until all are bound (bench/scheduler-throughput.py). The
# nodes' CPU time and RSS at the end are printed too.
#
#   sudo bench/scheduler.sh
#   PODS=1000 SIMULATED=20 sudo -E bench/scheduler.sh      # quicker
source "$(dirname "$0")/lib.sh"
require_root
build_release
PODS="${PODS:-10000}"
SIMULATED="${SIMULATED:-100}"

cluster_up_simulated scheduler 127.50.14 "$SIMULATED"
sleep 5
machine_summary
echo "scheduler: $(python3 "$REPO_ROOT/bench/scheduler-throughput.py" "$KUBECONFIG" "$PODS")"
for dir in $(node_dirs); do
    pid=$(node_pid "$dir")
    echo "$(basename "$dir"): CPU $(awk '{printf "%.1f s", ($14 + $15) / 100}' "/proc/$pid/stat"), VmRSS $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") kB"
done
