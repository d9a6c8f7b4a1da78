#!/usr/bin/env bash
# Kubernetes API latency of a 3-node hakube cluster (release build), as issue 4 asks:
# create/update/get/list p50/p99 at 100 and 1,000 requests/s, LIST of 10,000 pods, 1,000
# concurrent watches, and memory per 10,000 objects. The load generator is `hakube api-bench`
# (open loop at a fixed interval, latency from each request's scheduled send time, HTTP/2 over
# TLS with the admin kubeconfig's client certificate, 4 connections to the kubeconfig's server);
# see crates/hakube/src/commands/bench_api.rs.
#
#   sudo bench/api-latency.sh
#   RATES="100" DURATION=10 WATCH_RATES="10" sudo -E bench/api-latency.sh      # quicker
#   FRESH=0 sudo -E bench/api-latency.sh       # everything on one cluster that keeps growing
#
# Sequence ($BENCH_DIR/api on 127.50.7.11-13; with FRESH=1, the default, a fresh cluster for
# the memory/LIST group and for every later run, so each run sees only its own objects):
#   1. VmRSS/RssAnon of every node at idle, then 10,000 pods created in namespace `large`
#      (closed loop, 16 in flight: `api-bench --prepare-only`), 5 s of rest, RSS again:
#      the difference is the memory per 10,000 objects on each node (each holds a replica).
#   2. list-large: LISTs of those 10,000 pods at $LARGE_RATE/s for $LARGE_SECONDS s (one every
#      2 s by default, so LISTs do not queue behind each other: a LIST of 10,000 pods costs
#      the API node more than 0.5 s of CPU).
#   3. For each round, mode (create, update, get, list) and rate ($RATES): $DURATION s of load.
#      update and get use 1,000 pods in namespace `rw`, list a namespace of $LIST_OBJECTS pods,
#      create makes new pods in a namespace per run.
#   4. watch: $WATCHERS watches on a namespace, creates at each of $WATCH_RATES per second for
#      $DURATION s, delivery latency from each create's answer to each event.
# Every run appends to runs.tsv (load average before/after, leader changes seen by node1, RSS of
# each node after) and writes its JSON line to NAME.json; each cluster's logs are kept
# (logs-N.tar.gz); a markdown summary ends the output.
#
# Environment (besides lib.sh's HAKUBE_BIN, BENCH_NO_BUILD, BENCH_DIR, DAEMON_FLAGS):
#   RATES="100 1000" MODES="create update get list" DURATION=20 ROUNDS=1 FRESH=1
#   LARGE_OBJECTS=10000 LARGE_RATE=0.5 LARGE_SECONDS=40 LIST_OBJECTS=100 WATCHERS=1000
#   WATCH_RATES="10 30 100" CONNECTIONS=4 BASE=127.50.7
#   CARGO_BUILD_JOBS=1 (the build shares two cores with other work)
#   API_BENCH_BIN=… (the load generator's binary; default the cluster's HAKUBE_BIN)
#   TIMELINE=1 (each run's requests, scheduled offset and latency, in NAME.timeline.txt)
#   SETTLE=5 (seconds a fresh cluster rests before it is measured: its node agents start
#   containerd and its controllers take their Leases in the first seconds, which is start-up,
#   not the API's steady state)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATES="${RATES:-100 1000}"
MODES="${MODES:-create update get list}"
DURATION="${DURATION:-20}"
ROUNDS="${ROUNDS:-1}"
FRESH="${FRESH:-1}"
LARGE_OBJECTS="${LARGE_OBJECTS:-10000}"
LARGE_RATE="${LARGE_RATE:-0.5}"
LARGE_SECONDS="${LARGE_SECONDS:-40}"
LIST_OBJECTS="${LIST_OBJECTS:-100}"
WATCHERS="${WATCHERS:-1000}"
WATCH_RATES="${WATCH_RATES:-10 30 100}"
CONNECTIONS="${CONNECTIONS:-4}"
BASE="${BASE:-127.50.7}"
SETTLE="${SETTLE:-5}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

require_root
build_release
for tool in jq awk curl; do command -v "$tool" >/dev/null || die "need $tool"; done

results="$BENCH_DIR/results/api-latency-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
machine_summary > "$results/machine.txt"
{
    # The source tree now (the binary may have been built earlier: BENCH_NO_BUILD=1).
    echo "tree: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
    echo "binary built: $(date -u -r "$HAKUBE_BIN" +%Y-%m-%dT%H:%M:%SZ)"
    echo "started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "fresh cluster per run: $FRESH"
} >> "$results/machine.txt"
# A private copy, so a rebuild by someone else cannot swap the binary mid-run.
cp -p "$HAKUBE_BIN" "$results/hakube"
# The copy (200+ MB with debug info) would otherwise be written back ~30 s later, during the
# first measured run: that was the 47 ms create p99 of "round 1" in the thirteenth session.
sync "$results/hakube"
HAKUBE_BIN="$results/hakube"
LOAD_BIN="${API_BENCH_BIN:-$HAKUBE_BIN}"

loadavg() { cut -d' ' -f1 /proc/loadavg; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
cpu_ticks() {  # utime + stime of every daemon, in 1/100 s
    local pid t=0
    for pid in ${PIDS//,/ }; do t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"))); done
    echo "$t"
}
# rss_snapshot LABEL: one line per node: label node pid VmRSS_kB RssAnon_kB
rss_snapshot() {
    local dir pid
    for dir in $(node_dirs); do
        pid=$(node_pid "$dir")
        echo "$1 $(basename "$dir") $pid $(status_kb "$pid" VmRSS) $(status_kb "$pid" RssAnon)"
    done >> "$results/rss.txt"
}
rss_list() {  # "a / b / c" MB (VmRSS)
    local dir out=()
    for dir in $(node_dirs); do
        out+=("$(awk -v k="$(status_kb "$(node_pid "$dir")" VmRSS)" 'BEGIN {printf "%.0f", k/1024}')")
    done
    local IFS=/
    echo "${out[*]}" | sed 's|/| / |g'
}
# "LEADER_CHANGES TERM" as node1 sees them (its /metrics). The term also counts elections
# that the old leader won again.
raft_counters() {
    local f
    f=$(mktemp)
    scrape "$(node_dirs | head -1)" > "$f" || true
    echo "$(metric "$f" hakube_datastore_leader_changes_total | cut -d. -f1) $(metric "$f" hakube_datastore_term | cut -d. -f1)"
    rm -f "$f"
}

CLUSTERS=0
keep_logs() {  # the logs of the cluster about to be replaced or stopped
    [[ -n "${CLUSTER_DIR:-}" && -d "$CLUSTER_DIR/node1" ]] || return 0
    tar -C "$CLUSTER_DIR" -czf "$results/logs-$CLUSTERS.tar.gz" $(cd "$CLUSTER_DIR" && ls -d node*/hakube.log) 2>/dev/null || true
}
finish() {
    keep_logs
    cluster_down
}

start_cluster() {  # a fresh cluster; sets PIDS, KUBECONFIG_FILE
    keep_logs
    CLUSTERS=$((CLUSTERS + 1))
    cluster_up api "$BASE"
    trap finish EXIT
    wait_ready 60
    PIDS=$(all_pids)
    KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
    local server leader
    server=$(awk '$1 == "server:" {print $2; exit}' "$KUBECONFIG_FILE")
    leader=$(basename "$(leader_dir)")
    log "cluster $CLUSTERS: daemon pids $PIDS; API server $server (kubeconfig); datastore leader $leader"
    echo "cluster $CLUSTERS: api server $server, leader at start $leader, pids $PIDS" >> "$results/machine.txt"
    sleep "$SETTLE"
}

bench() {  # bench NAME ARGS…: one api-bench run; appends to runs.tsv
    local out="$results/$1.json" lb la cb ca tb ta extra=()
    # TIMELINE=1: each request's scheduled offset and latency in NAME.timeline.txt.
    [[ "${TIMELINE:-0}" != 1 || "$1" == watch-* ]] || extra=(--timeline "$results/$1.timeline.txt")
    shift
    lb=$(loadavg)
    read -r cb tb < <(raft_counters)
    log "load $lb: api-bench $*"
    if ! "$LOAD_BIN" api-bench --kubeconfig "$KUBECONFIG_FILE" --pids "$PIDS" \
        --connections "$CONNECTIONS" ${extra[@]+"${extra[@]}"} "$@" > "$out" 2> "$out.stderr"; then
        log "  failed: $(tail -3 "$out.stderr")"
        return 0
    fi
    la=$(loadavg)
    read -r ca ta < <(raft_counters)
    printf '%s\t%s\t%s\t%s\t%s\n' "$out" "$lb" "$la" "$((ca - cb)) / $((ta - tb))" "$(rss_list)" >> "$results/runs.tsv"
    log "  $(jq -c '{mode, rate, achieved_rate: (.achieved_rate | round), count, errors, p50_ms, p99_ms, max_ms}' "$out"); leader changes / new terms $((ca - cb)) / $((ta - tb)); load $la"
}

trap 'exit 130' INT
trap 'exit 143' TERM
start_cluster

# ------------------------------------------------------------------ memory per 10,000 objects
# Idle CPU of the three daemons (the background in the per-request CPU figures).
idle_before=$(cpu_ticks)
sleep 5
echo "idle CPU of the 3 daemons: $(( ($(cpu_ticks) - idle_before) * 10 / 5 )) ms/s" >> "$results/machine.txt"
rss_snapshot idle
log "creating $LARGE_OBJECTS pods in namespace large (load $(loadavg))"
"$LOAD_BIN" api-bench --kubeconfig "$KUBECONFIG_FILE" --mode list-large \
    --objects "$LARGE_OBJECTS" --namespace large --prepare-only > "$results/prepare-large.json"
sleep 5
rss_snapshot "after-$LARGE_OBJECTS-pods"
log "  $(jq -c '{prepared, prepare_s}' "$results/prepare-large.json"); load $(loadavg)"

# ------------------------------------------------------------------ LIST of 10,000 pods
bench "list-large-$LARGE_OBJECTS" --mode list-large --objects "$LARGE_OBJECTS" \
    --namespace large --rate "$LARGE_RATE" --seconds "$LARGE_SECONDS"
rss_snapshot after-lists

# ------------------------------------------------------------------ create/update/get/list
for round in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
        for rate in $RATES; do
            [[ "$FRESH" != 1 ]] || start_cluster
            case $mode in
                create) bench "create-$rate-r$round" --mode create --namespace "create-$rate-r$round" \
                            --rate "$rate" --seconds "$DURATION" ;;
                update|get) bench "$mode-$rate-r$round" --mode "$mode" --objects 1000 --namespace rw \
                            --rate "$rate" --seconds "$DURATION" ;;
                list) bench "list-$rate-r$round" --mode list --objects "$LIST_OBJECTS" --namespace list \
                            --rate "$rate" --seconds "$DURATION" ;;
            esac
        done
    done
done

# ------------------------------------------------------------------ 1,000 watches
for rate in $WATCH_RATES; do
    [[ "$FRESH" != 1 ]] || start_cluster
    bench "watch-$WATCHERS-$rate" --mode watch --watchers "$WATCHERS" --namespace "watch-$rate" \
        --rate "$rate" --seconds "$DURATION"
done
keep_logs

# ------------------------------------------------------------------ report
echo
echo "Machine: $(grep -E '^(nproc|cpu|load average|tree|binary built|idle CPU|fresh)' "$results/machine.txt" | paste -sd';' | sed 's/;/; /g')"
echo
echo "| mode | objects | target req/s | achieved req/s | ok | errors | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/req (3 nodes) | leader changes / new terms | load before → after | RSS MB per node after |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
while IFS=$'\t' read -r out lb la changes rss; do
    jq -r --arg load "$lb → $la" --arg rss "$rss" --arg changes "$changes" '
        def r(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        "| \(.mode) | \(.list_items // .objects // "") | \(.rate) | \(.achieved_rate | r(0)) | \(.count) | \(.errors)\(if .errors > 0 then " (" + (.error_kinds | to_entries | map("\(.key) × \(.value)") | join(", ")) + ")" else "" end) | \(.p50_ms | r(2)) | \(.p90_ms | r(2)) | \(.p99_ms | r(2)) | \(.max_ms | r(1)) | \(.server_cpu_ms_per_request | r(2)) | \($changes) | \($load) | \($rss) |"' "$out"
done < <(grep -v '/watch-' "$results/runs.tsv")

if grep -q '/watch-' "$results/runs.tsv"; then
    echo
    echo "| watchers | creates/s target → achieved | events (not delivered within 15 s) | delivery p50 / p90 / p99 / max ms after the create's answer | arrived before the answer | from scheduled send p50 / p99 ms | create p50 / p99 ms | watch setup ms | server CPU ms/create | leader changes / new terms | load |"
    echo "|---:|---|---|---|---:|---|---|---:|---:|---:|---|"
    while IFS=$'\t' read -r out lb la changes rss; do
        jq -r --arg load "$lb → $la" --arg changes "$changes" '
            def r(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
            "| \(.watchers) | \(.rate) → \(.achieved_rate | r(1)) | \(.count) (\(.events_missing)) | \(.p50_ms | r(2)) / \(.p90_ms | r(2)) / \(.p99_ms | r(2)) / \(.max_ms | r(1)) | \(.events_before_ack) | \(.from_send_p50_ms | r(2)) / \(.from_send_p99_ms | r(2)) | \(.write_p50_ms | r(2)) / \(.write_p99_ms | r(2)) | \(.watch_setup_ms | r(0)) | \(.server_cpu_ms_per_request | r(1)) | \($changes) | \($load) |"' "$out"
    done < <(grep '/watch-' "$results/runs.tsv")
fi

echo
echo "Errors (first message of each kind):"
for out in "$results"/*.json; do
    jq -r --arg f "$(basename "$out")" '(.error_examples // {}) | to_entries[] | "- \($f): \(.key): \(.value[0:300])"' "$out" 2>/dev/null || true
done

echo
echo "Memory: VmRSS (RssAnon) per node, MB, at idle, 5 s after creating $LARGE_OBJECTS pods ($(jq -r '"\(.prepared) created in \(.prepare_s * 10 | round / 10) s"' "$results/prepare-large.json")), and after the LISTs of them:"
echo
echo "| node | idle | after $LARGE_OBJECTS pods | difference | after the LISTs |"
echo "|---|---:|---:|---:|---:|"
awk -v after="after-$LARGE_OBJECTS-pods" '
    function mb(k) { return sprintf("%.1f", k / 1024) }
    { rss[$1, $2] = $4; anon[$1, $2] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END {
        for (i = 1; i <= n; i++) {
            x = order[i]
            printf "| %s | %s (%s) | %s (%s) | **%s (%s)** | %s (%s) |\n", x,
                mb(rss["idle", x]), mb(anon["idle", x]), mb(rss[after, x]), mb(anon[after, x]),
                mb(rss[after, x] - rss["idle", x]), mb(anon[after, x] - anon["idle", x]),
                mb(rss["after-lists", x]), mb(anon["after-lists", x])
        }
    }' "$results/rss.txt"
echo
echo "raw results: $results"
