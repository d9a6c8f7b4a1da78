#!/usr/bin/env bash
# Time from a node's loss to its replicas Running elsewhere (issue 5), with short timings, on
# real containers: a 3-node cluster with --node-monitor-grace-period $GRACE and
# --pod-eviction-timeout $EVICTION (the tolerationSeconds admission gives pods), a Deployment of
# $REPLICAS pause replicas spread over the nodes; then node3's daemon is killed (SIGKILL; its
# containers keep running, as when a machine's agent dies) and the clock runs until every
# replica the node had is replaced by a Running pod on a live node. $RUNS runs, one fresh
# cluster each. Upstream's defaults (40 s lease, 50 s grace, 300 s toleration) would add ~6 min.
#
#   sudo bench/node-loss.sh
#   GRACE=5 EVICTION=3 RUNS=3 sudo -E bench/node-loss.sh
source "$(dirname "$0")/lib.sh"
require_root
build_release
GRACE="${GRACE:-5}"
EVICTION="${EVICTION:-3}"
LEASE="${LEASE:-4}"
REPLICAS="${REPLICAS:-6}"
RUNS="${RUNS:-3}"
IMAGES="$BENCH_DIR/images"
CIDR=10.183.0.0/16

log "building the test images into $IMAGES"
"$REPO_ROOT/scripts/build-test-images.sh" "$IMAGES" >&2
ip route show "$CIDR" | grep -q blackhole || ip route add blackhole "$CIDR"

# Running pods of app=lost that are not being deleted, as "name node" lines.
running() {
    kubectl get pods -l app=lost -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}' \
        | awk '$3 == "Running" && NF == 3 {print $1, $2}'
}

for run in $(seq 1 "$RUNS"); do
    DAEMON_FLAGS="--cluster-cidr $CIDR --node-lease-duration $LEASE --node-monitor-grace-period $GRACE --pod-eviction-timeout $EVICTION --leader-elect-lease-duration $LEASE" \
        cluster_up node-loss 127.50.11
    export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
    for attempt in $(seq 1 30); do
        "$HAKUBE_BIN" images import "$IMAGES/pause.tar" --data-dir "$CLUSTER_DIR/node1" >&2 && break
        sleep 2
    done
    kubectl create deployment lost --image=hakube.local/pause:1 --replicas="$REPLICAS" >&2
    kubectl rollout status deployment/lost --timeout=120s >&2
    on_node3=$(running | awk '$2 == "node3"' | wc -l)
    [[ "$on_node3" -gt 0 ]] || die "no replica landed on node3"
    kill -KILL "$(node_pid "$CLUSTER_DIR/node3")"
    start=$(date +%s.%N)
    not_ready_at=""
    while true; do
        now=$(date +%s.%N)
        elapsed=$(echo "$now - $start" | bc)
        if [[ -z "$not_ready_at" ]] && kubectl get node node3 --no-headers 2>/dev/null | grep -q NotReady; then
            not_ready_at=$elapsed
        fi
        live=$(running | awk '$2 != "node3"' | wc -l)
        [[ "$live" -ge "$REPLICAS" ]] && break
        (( $(echo "$elapsed > 180" | bc) )) && die "run $run: only $live of $REPLICAS replicas on live nodes after 180 s"
        sleep 0.2
    done
    echo "run $run: node3 had $on_node3 of $REPLICAS replicas; NotReady after ${not_ready_at:-?} s; all $REPLICAS Running on live nodes after $(printf '%.2f' "$elapsed") s (grace $GRACE s, toleration $EVICTION s)"
    cluster_down
done
