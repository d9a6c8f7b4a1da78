#!/usr/bin/env bash
# Datastore write throughput and latency of a 3-node hakube cluster (release build), like etcd's
# benchmark `put` with --target-leader: `hakube dbctl bench` against the leader's admin socket
# at 1, 16 and 256 clients, 256-byte values, 3 s warm-up then 20 s measured, CPU summed over all
# three daemons. Prints a markdown table; raw JSON lands in $BENCH_DIR/results/.
#
#   sudo bench/store-writes.sh
#   CLIENTS="1 16" DURATION=10 ROUNDS=3 FRESH=0 sudo -E bench/store-writes.sh
#
# Cluster: $BENCH_DIR/writes on 127.50.1.11-13.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENTS="${CLIENTS:-1 16 256}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
VALUE_SIZE="${VALUE_SIZE:-256}"
ROUNDS="${ROUNDS:-1}"

FRESH="${FRESH:-1}"

require_root
build_release

results="$BENCH_DIR/results/store-writes-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
machine_summary > "$results/machine.txt"

# A fresh cluster per run (FRESH=1, the default): the store keeps every version until compaction
# and snapshots its whole state every 10,000 entries, so a cluster that already took a few hundred
# thousand writes is slower; FRESH=0 runs everything on one cluster to show that.
start_cluster() {
    cluster_up writes 127.50.1
    wait_ready 60
    pids=$(all_pids)
    leader=$(leader_dir) || die "no leader"
    log "leader: $(basename "$leader"); daemon pids: $pids"
}
[[ "$FRESH" == 1 ]] || start_cluster

rows=()
fsync_rows=()
for round in $(seq 1 "$ROUNDS"); do
    for clients in $CLIENTS; do
        [[ "$FRESH" != 1 ]] || start_cluster
        out="$results/c${clients}-r${round}.json"
        cmd=("$HAKUBE_BIN" dbctl --data-dir "$leader" bench --clients "$clients"
             --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE"
             --pids "$pids" --json)
        log "round $round: ${cmd[*]}"
        for dir in $(node_dirs); do scrape "$dir" > "$out.$(basename "$dir").before.prom" || true; done
        "${cmd[@]}" > "$out"
        for dir in $(node_dirs); do scrape "$dir" > "$out.$(basename "$dir").after.prom" || true; done
        # Where the time goes, from the leader's metrics: Raft log commits (fsyncs) in the run.
        lb="$out.$(basename "$leader").before.prom" la="$out.$(basename "$leader").after.prom"
        fsyncs=$(echo "$(metric "$la" hakube_datastore_fsync_seconds_count) - $(metric "$lb" hakube_datastore_fsync_seconds_count)" | bc -l)
        fsync_s=$(echo "$(metric "$la" hakube_datastore_fsync_seconds_sum) - $(metric "$lb" hakube_datastore_fsync_seconds_sum)" | bc -l)
        writes=$(jq -r '.writes' "$out")
        fsync_rows+=("$(awk -v c="$clients" -v r="$round" -v f="$fsyncs" -v s="$fsync_s" -v w="$writes" -v d="$((DURATION + WARMUP))" 'BEGIN {
            if (f > 0) printf "| %s | %s | %.0f | %.2f | %.3f | %.0f%% |", c, r, f / d, w * d / f / '"$DURATION"', s / f * 1000, s / d * 100
            else printf "| %s | %s | n/a | n/a | n/a | n/a (this build reports no fsync timings) |", c, r }')")
        rows+=("$(jq -r --arg r "$round" '"| \(.clients) | \($r) | \(."writes/s" | floor) | \(.p50_ms * 1000 | round / 1000) | \(.p99_ms * 1000 | round / 1000) | \(.max_ms * 10 | round / 10) | \(.cpu_ms_per_1k_writes // "n/a" | if type == "number" then (. * 10 | round / 10) else . end) | \((.client_cpu_ms // 0) / 10 | round / 100) | \(.errors) |"' "$out")")
    done
done

echo
echo "| clients | round | writes/s | p50 ms | p99 ms | max ms | daemon CPU ms / 1k writes (3 nodes) | bench client CPU s | errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Leader's Raft log commits (fsync) during each run (warm-up included), from its /metrics:"
echo
echo "| clients | round | log commits/s | writes per commit | mean commit ms | leader time in commits |"
echo "|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${fsync_rows[@]}"
echo
echo "raw results: $results"
