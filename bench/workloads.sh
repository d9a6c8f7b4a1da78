#!/usr/bin/env bash
# Workload benchmarks of issue 5 on a 3-node hakube cluster (release build), run as root:
#   1. idle RSS of each node's hakube process (and its containerd) 20 s after `hakube up`;
#   2. pod startup latency: $PODS pods created one after another (image present), time from
#      the create to the watch event showing the pod Running (bench/pod-startup.py);
#   3. scale with simulated nodes: a second cluster with $SIMULATED simulated nodes, one
#      Deployment of $REPLICAS replicas; seconds until all are bound and all are Ready, and
#      node1's RSS before (at rest, $SETTLE s after the simulated nodes are up, 30 by default)
#      and 5 s after, then every node's VmRSS and RssAnon 30 s after (the allocator hands freed
#      memory back after ~10 s).
#
#   sudo bench/workloads.sh
#   PODS=10 SIMULATED=20 REPLICAS=100 sudo -E bench/workloads.sh     # quicker
#   AFTER_COMPACTION=1 sudo -E bench/workloads.sh
#                                       # also every node's RSS 11 min after Ready, once the leader's
#                                       # compaction by time (every 5 min, to the revision seen 5 min
#                                       # earlier) has dropped the burst's history: the steady state
#   REPLICAS=10000 DEADLINE=900 SIMULATED_ONLY=1 sudo -E bench/workloads.sh
#                                       # replicas pinned to the simulated nodes (as in docs/benchmarks.md)
source "$(dirname "$0")/lib.sh"
require_root
build_release
PODS="${PODS:-30}"
SIMULATED="${SIMULATED:-100}"
REPLICAS="${REPLICAS:-200}"
DEADLINE="${DEADLINE:-600}"   # seconds to wait for the scale Deployment
SIMULATED_ONLY="${SIMULATED_ONLY:-}"   # set: the scale Deployment may use only simulated nodes
IMAGES="$BENCH_DIR/images"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
node_pid() { cat "$CLUSTER_DIR/node$1/hakube.pid"; }

log "building the test images into $IMAGES"
"$REPO_ROOT/scripts/build-test-images.sh" "$IMAGES" >&2

cluster_up workloads 127.50.9
export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
sleep 20
for k in 1 2 3; do
    pid=$(node_pid "$k")
    cpid=$(cat "$CLUSTER_DIR/node$k/cri/containerd.pid")
    echo "idle node$k: hakube VmRSS $(rss_kb "$pid") kB, containerd VmRSS $(rss_kb "$cpid") kB"
done
for attempt in $(seq 1 20); do
    "$HAKUBE_BIN" images import "$IMAGES/busybox.tar" --data-dir "$CLUSTER_DIR/node1" >&2 && break
    sleep 2
done
echo "pod startup ($PODS pods, image present): $(python3 "$REPO_ROOT/bench/pod-startup.py" "$KUBECONFIG" "$PODS")"
cluster_down

cluster_up_simulated simulated 127.50.10 "$SIMULATED"
# The scheduler spreads over the real nodes too: they need the image.
for attempt in $(seq 1 20); do
    "$HAKUBE_BIN" images import "$IMAGES/pause.tar" --data-dir "$CLUSTER_DIR/node1" >&2 && break
    sleep 2
done
# At rest before, as after (30 s): jemalloc hands freed pages back ~10 s after a burst, so a
# baseline taken sooner varies by several MB with what start-up just freed.
sleep "${SETTLE:-30}"
before=$(rss_kb "$(node_pid 1)")
rss_anon() { awk '/^RssAnon/ {print $2}' "/proc/$(node_pid "$1")/status"; }
before_anon=$(rss_anon 1)
echo "before the Deployment: node1 RssAnon $before_anon kB"
start=$(date +%s.%N)
# pause runs until stopped (busybox's default command exits at once: never Ready).
if [[ -n "$SIMULATED_ONLY" ]]; then
    kubectl apply -f - >&2 <<MANIFEST
apiVersion: apps/v1
kind: Deployment
metadata: {name: scale}
spec:
  replicas: $REPLICAS
  selector: {matchLabels: {app: scale}}
  template:
    metadata: {labels: {app: scale}}
    spec:
      nodeSelector: {node.hakube.io/simulated: "true"}
      containers: [{name: pause, image: "hakube.local/pause:1"}]
MANIFEST
else
    kubectl create deployment scale --image=hakube.local/pause:1 --replicas="$REPLICAS" >&2
fi
bound_at=""
while true; do
    now=$(date +%s.%N)
    bound=$(kubectl get pods -l app=scale -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c . || true)
    ready=$(kubectl get deploy scale -o jsonpath='{.status.readyReplicas}')
    [[ -z "$bound_at" && "$bound" -ge "$REPLICAS" ]] && bound_at=$(echo "$now - $start" | bc)
    [[ "${ready:-0}" -ge "$REPLICAS" ]] && break
    if (( $(echo "$now - $start > $DEADLINE" | bc) )); then
        echo "simulated: $SIMULATED nodes, $REPLICAS replicas: after $DEADLINE s only $bound bound and ${ready:-0} Ready"
        exit 1
    fi
    sleep 1
done
ready_at=$(echo "$(date +%s.%N) - $start" | bc)
sleep 5
after=$(rss_kb "$(node_pid 1)")
echo "simulated: $SIMULATED nodes, $REPLICAS replicas: all bound after ${bound_at} s, all Ready after ${ready_at} s; node1 VmRSS ${before} kB -> ${after} kB"
sleep 25
report_rss() {
    for k in 1 2 3; do
        echo "$1 after Ready: node$k VmRSS $(rss_kb "$(node_pid "$k")") kB, RssAnon $(rss_anon "$k") kB"
    done
    echo "$1 after Ready: node1 RssAnon growth $(( ($(rss_anon 1) - before_anon) / 1024 )) MB"
}
report_rss "30 s"
if [[ -n "${AFTER_COMPACTION:-}" ]]; then
    sleep 630
    report_rss "11 min"
fi
