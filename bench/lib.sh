# Shared helpers for the bench/ scripts (sourced, not run). Run the scripts as root.
#
# Environment:
#   HAKUBE_BIN   the binary to use (default: target/release/hakube, built with
#                `cargo build --release -p hakube` unless BENCH_NO_BUILD=1)
#   DAEMON_FLAGS daemon flags for every node (`hakube up … -- FLAGS`), e.g. shorter Raft timings
#   BENCH_DIR    where the test clusters live (default /var/lib/hakube-bench; on the real disk,
#                not tmpfs, so fsync costs what it costs in production)
#
# Each script starts its own cluster on its own loopback range (127.50.N.x) with
# `hakube up --dir … --base-address …`, and stops exactly that cluster with `hakube down --dir …`
# (which stops each node by the PID in its data directory) on exit.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/var/lib/hakube-bench}"
HAKUBE_BIN="${HAKUBE_BIN:-$REPO_ROOT/target/release/hakube}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (the daemons bind loopback aliases and use /var/lib)"
}

build_release() {
    if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "building: cargo build --release -p hakube"
        (cd "$REPO_ROOT" && cargo build --release -p hakube) >&2
    fi
    [[ -x "$HAKUBE_BIN" ]] || die "no binary at $HAKUBE_BIN"
    # A fresh build leaves hundreds of MB of dirty pages; the kernel writes them back about
    # 30 s later (vm.dirty_expire_centisecs), in the middle of a measurement, where they held
    # every fsync of the cluster for ~100 ms. Write them now.
    sync
}

# cluster_up NAME BASE_ADDRESS [NODES]: a fresh cluster in $BENCH_DIR/NAME; sets CLUSTER_DIR.
# Registers cluster_down on exit.
cluster_up() {
    local name=$1 base=$2 nodes=${3:-3}
    CLUSTER_DIR="$BENCH_DIR/$name"
    if [[ -d "$CLUSTER_DIR" ]]; then
        "$HAKUBE_BIN" down --dir "$CLUSTER_DIR" >&2 || true
        rm -rf "$CLUSTER_DIR"
    fi
    mkdir -p "$CLUSTER_DIR"
    trap cluster_down EXIT
    # DAEMON_FLAGS (e.g. "--election-timeout-ms 250 --heartbeat-interval-ms 50") go to every node.
    local flags=()
    read -r -a flags <<< "${DAEMON_FLAGS:-}"
    log "hakube up --nodes $nodes --dir $CLUSTER_DIR --base-address $base${flags[*]:+ -- ${flags[*]}}"
    "$HAKUBE_BIN" up --nodes "$nodes" --dir "$CLUSTER_DIR" --base-address "$base" ${flags[@]+-- "${flags[@]}"} >&2
}

# cluster_up_simulated NAME BASE_ADDRESS COUNT: a fresh 3-node cluster with COUNT simulated
# nodes (`hakube up --simulated-nodes`); returns once they are all Ready. Sets CLUSTER_DIR and
# KUBECONFIG; registers cluster_down on exit.
cluster_up_simulated() {
    local name=$1 base=$2 count=$3
    CLUSTER_DIR="$BENCH_DIR/$name"
    if [[ -d "$CLUSTER_DIR" ]]; then "$HAKUBE_BIN" down --dir "$CLUSTER_DIR" >&2 || true; rm -rf "$CLUSTER_DIR"; fi
    mkdir -p "$CLUSTER_DIR"
    trap cluster_down EXIT
    "$HAKUBE_BIN" up --dir "$CLUSTER_DIR" --base-address "$base" --simulated-nodes "$count" >&2
    export KUBECONFIG="$CLUSTER_DIR/kubeconfig"
    until [[ $(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready ") -ge $((count + 3)) ]]; do sleep 1; done
}

cluster_down() {
    if [[ -n "${CLUSTER_DIR:-}" && -d "$CLUSTER_DIR" ]]; then
        log "hakube down --dir $CLUSTER_DIR"
        "$HAKUBE_BIN" down --dir "$CLUSTER_DIR" >&2 || true
    fi
}

node_dirs() { ls -d "$CLUSTER_DIR"/node* | sort -V; }

node_pid() { cat "$1/hakube.pid"; }

# Comma-separated PIDs of every node of the cluster.
all_pids() {
    local dir pids=()
    for dir in $(node_dirs); do pids+=("$(node_pid "$dir")"); done
    local IFS=,
    echo "${pids[*]}"
}

# The data directory of the datastore leader (asked through any node that answers).
leader_dir() {
    local dir name
    for dir in $(node_dirs); do
        if name=$("$HAKUBE_BIN" dbctl --data-dir "$dir" --timeout 5 leader 2>/dev/null); then
            echo "$CLUSTER_DIR/$name"
            return 0
        fi
    done
    return 1
}

# Waits until every node reports the cluster ready (leader with quorum, all reachable).
wait_ready() {
    local dir
    for dir in $(node_dirs); do
        "$HAKUBE_BIN" status --data-dir "$dir" --wait-ready --timeout "${1:-60}" >/dev/null
    done
}

# machine_summary: one line per fact, for the results files.
machine_summary() {
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "disk: $(df -hT "$BENCH_DIR" | awk 'NR==2 {print $1, $2, $3}')"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "binary: $HAKUBE_BIN ($("$HAKUBE_BIN" version 2>/dev/null | head -1))"
}

# metric DIR NAME: the sum of a Prometheus series NAME (all label sets) from a node's /metrics.
scrape() { curl -s --max-time 5 --unix-socket "$1/hakube.sock" http://localhost/metrics; }
metric() { awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%.6f\n", s}' "$1"; }
