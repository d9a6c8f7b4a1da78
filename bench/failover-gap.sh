#!/usr/bin/env bash
# Write unavailability when the datastore leader dies (release build, 3-node cluster, default
# timings: heartbeat 100 ms, election timeout 1000 ms).
#
# Each trial: a writer (`hakube dbctl bench --clients 1 --report-gaps`, one closed-loop client
# putting 256-byte values through a FOLLOWER's admin socket, which forwards to the leader) runs for
# $WRITE_SECONDS; after $KILL_AFTER s the leader's daemon gets SIGKILL. The writer reports the
# longest time between two successful writes: from the last write acknowledged before the kill to
# the first acknowledged after the new leader took over. The killed node is then restarted
# (`hakube start --data-dir …`) and the cluster must be ready again before the next trial.
# Prints each trial, then median and max. Raw JSON lands in $BENCH_DIR/results/.
#
#   sudo bench/failover-gap.sh
#   TRIALS=20 sudo -E bench/failover-gap.sh
#
# Cluster: $BENCH_DIR/failover on 127.50.2.11-13.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TRIALS="${TRIALS:-10}"
WRITE_SECONDS="${WRITE_SECONDS:-10}"
KILL_AFTER="${KILL_AFTER:-3}"

require_root
build_release
cluster_up failover 127.50.2
wait_ready 60

results="$BENCH_DIR/results/failover-gap-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
machine_summary > "$results/machine.txt"

gaps=()
for trial in $(seq 1 "$TRIALS"); do
    leader=$(leader_dir) || die "no leader before trial $trial"
    follower=""
    for dir in $(node_dirs); do
        if [[ "$dir" != "$leader" ]]; then follower=$dir; break; fi
    done
    leader_pid=$(node_pid "$leader")
    out="$results/trial-$trial.json"
    "$HAKUBE_BIN" dbctl --data-dir "$follower" --timeout 10 bench --clients 1 \
        --duration "$WRITE_SECONDS" --value-size 256 --report-gaps --json > "$out" &
    writer=$!
    sleep "$KILL_AFTER"
    kill -9 "$leader_pid"
    killed_at=$(date +%s.%N)
    wait "$writer" || true
    [[ -s "$out" ]] || die "trial $trial: the writer printed nothing"
    gap=$(jq -r '.max_gap_ms | . * 10 | round / 10' "$out")
    at=$(jq -r '.max_gap_at_s' "$out")
    errors=$(jq -r '.errors' "$out")
    new_leader=$(leader_dir || echo "?")
    log "trial $trial: killed $(basename "$leader") (pid $leader_pid) through $(basename "$follower"): gap ${gap} ms (ended at ${at} s), ${errors} failed puts, new leader $(basename "$new_leader")"
    gaps+=("$gap")
    echo "$trial $(basename "$leader") $(basename "$follower") $gap $errors $(basename "$new_leader") $killed_at" >> "$results/trials.txt"
    "$HAKUBE_BIN" start --data-dir "$leader" >&2
    wait_ready 120
    sleep 2  # let the restarted node catch up and every node see it reachable
done

sorted=$(printf '%s\n' "${gaps[@]}" | sort -g)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}')
max=$(echo "$sorted" | tail -1)
min=$(echo "$sorted" | head -1)

echo
echo "| trial | killed leader | writer via | write gap ms | failed puts | new leader |"
echo "|---:|---|---|---:|---:|---|"
while read -r trial killed via gap errors new _; do
    echo "| $trial | $killed | $via | $gap | $errors | $new |"
done < "$results/trials.txt"
echo
echo "write gap over $TRIALS trials: median ${median} ms, min ${min} ms, max ${max} ms"
echo "raw results: $results"
