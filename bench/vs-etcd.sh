#!/usr/bin/env bash
# hakube's datastore side by side with a real etcd (Debian's etcd 3.4) on this machine.
#
# Starts a 3-node hakube cluster ($BENCH_DIR/vs-hakube, 127.50.4.11-13, etcd v3 API on :12379
# with MUTUAL TLS) and a 3-member etcd cluster ($BENCH_DIR/vs-etcd, 127.50.5.11-13, client 2379 /
# peer 2380, default fsync and timings, --quota-backend-bytes 8 GiB), both on the real disk.
# etcd runs with mutual TLS on its client and peer ports too (ETCD_TLS=1, the default: like for
# like, as kubeadm and MicroK8s deploy it; P-256 certificates from a throwaway CA made here with
# openssl), or plain http with ETCD_TLS=0 (the setup of the benchmarks before the fourteenth
# session). Then, interleaved A B A B (for each round and client count: hakube, then etcd), runs the
# same Rust client, `hakube dbctl bench --endpoints <leader>`, at 1, 16 and 256 clients with
# 256-byte values (3 s warm-up, 20 s measured) against each system's leader, with --pids = that
# system's three server processes (so cpu_ms_per_1k_writes covers all members), and records every
# member's VmRSS and the load average after each run. Finally `etcdctl check perf --load=s|m|l`
# (60 s each) against each system's leader, interleaved too. Prints markdown tables; raw output
# lands in $BENCH_DIR/results/vs-etcd-*.
#
#   sudo bench/vs-etcd.sh
#   BENCH_NO_BUILD=1 HAKUBE_BIN=target/release/hakube sudo -E bench/vs-etcd.sh
#   CLIENTS="1 16" ROUNDS=1 CHECK_PERF="s" sudo -E bench/vs-etcd.sh
#
# Idempotent: a cluster left over from an earlier run (in $BENCH_DIR/vs-*) is stopped (hakube by
# `hakube down --dir`, etcd by the PIDs in its pid files) and wiped first. On exit it stops exactly
# what it started, by PID and by `hakube down --dir`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENTS="${CLIENTS:-1 16 256}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
VALUE_SIZE="${VALUE_SIZE:-256}"
ROUNDS="${ROUNDS:-2}"
CHECK_PERF="${CHECK_PERF-s m l}"   # CHECK_PERF="" skips it
ETCD_BIN="${ETCD_BIN:-/usr/bin/etcd}"
ETCDCTL_BIN="${ETCDCTL_BIN:-/usr/bin/etcdctl}"
ETCD_BASE="${ETCD_BASE:-127.50.5}"
ETCD_QUOTA="${ETCD_QUOTA:-8589934592}"   # 8 GiB: check perf --load=l writes ~200 MB and nothing compacts
ETCD_TLS="${ETCD_TLS:-1}"

require_root
build_release
[[ -x "$ETCD_BIN" && -x "$ETCDCTL_BIN" ]] || die "need $ETCD_BIN and $ETCDCTL_BIN (Debian etcd-server, etcd-client)"
for tool in jq bc curl openssl; do command -v "$tool" >/dev/null || die "need $tool"; done

results="$BENCH_DIR/results/vs-etcd-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
machine_summary > "$results/machine.txt"
echo "etcd: $("$ETCD_BIN" --version | head -1)" >> "$results/machine.txt"
echo "etcd with mutual TLS: $ETCD_TLS" >> "$results/machine.txt"

# ---------------------------------------------------------------- etcd: start and stop by PID
ETCD_DIR="$BENCH_DIR/vs-etcd"
ETCD_PIDS=()

etcd_down() {
    local f pid
    for f in "$ETCD_DIR"/etcd*.pid; do
        [[ -f "$f" ]] || continue
        pid=$(cat "$f")
        # Only a process that is really that etcd member (its cmdline names its data dir).
        if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "--data-dir $ETCD_DIR/"; then
            log "stopping etcd pid $pid"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
            [[ ! -d /proc/$pid ]] || kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}

# etcd_certificate NAME SUBJECT_ALT_NAME USAGES: a P-256 key and certificate signed by the CA.
etcd_certificate() {
    local pki=$ETCD_DIR/pki
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
        -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 2 -out "$pki/$1.crt" \
        -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$2" "$3") 2>/dev/null
}

# ETCD_TLS=1: a CA, a certificate per member (server and peer), one for the clients; sets
# ETCD_SCHEME and ETCD_CLIENT_TLS (the flags etcdctl and dbctl bench need).
ETCD_CLIENT_TLS=()
ETCD_SCHEME=http
etcd_pki() {
    [[ "$ETCD_TLS" == 1 ]] || return 0
    local pki=$ETCD_DIR/pki i
    mkdir -p "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=vs-etcd-ca -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
    for i in 1 2 3; do
        # 127.0.0.1 too: members dial their peers from it, and etcd checks a peer certificate
        # against the address it came from.
        etcd_certificate "etcd$i" "IP:$ETCD_BASE.1$i,IP:127.0.0.1" serverAuth,clientAuth
    done
    etcd_certificate client "DNS:client" clientAuth
    ETCD_SCHEME=https
    ETCD_CLIENT_TLS=(--cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")
}

# The TLS flags of member I (none with ETCD_TLS=0).
etcd_member_tls() {
    [[ "$ETCD_TLS" == 1 ]] || return 0
    local pki=$ETCD_DIR/pki
    echo --cert-file "$pki/etcd$1.crt" --key-file "$pki/etcd$1.key" --client-cert-auth \
        --trusted-ca-file "$pki/ca.crt" --peer-cert-file "$pki/etcd$1.crt" \
        --peer-key-file "$pki/etcd$1.key" --peer-client-cert-auth \
        --peer-trusted-ca-file "$pki/ca.crt"
}

etcd_up() {
    etcd_down
    rm -rf "$ETCD_DIR"
    mkdir -p "$ETCD_DIR"
    etcd_pki
    local i ip cluster="" tls=()
    for i in 1 2 3; do cluster+="${cluster:+,}etcd$i=$ETCD_SCHEME://$ETCD_BASE.1$i:2380"; done
    for i in 1 2 3; do
        ip="$ETCD_BASE.1$i"
        read -r -a tls <<< "$(etcd_member_tls "$i")"
        # setsid: its own session, so a Ctrl-C of this script does not reach it before etcd_down.
        setsid "$ETCD_BIN" --name "etcd$i" --data-dir "$ETCD_DIR/etcd$i" \
            --listen-client-urls "$ETCD_SCHEME://$ip:2379" \
            --advertise-client-urls "$ETCD_SCHEME://$ip:2379" \
            --listen-peer-urls "$ETCD_SCHEME://$ip:2380" \
            --initial-advertise-peer-urls "$ETCD_SCHEME://$ip:2380" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token vs-etcd --quota-backend-bytes "$ETCD_QUOTA" \
            ${tls[@]+"${tls[@]}"} > "$ETCD_DIR/etcd$i.log" 2>&1 < /dev/null &
        echo $! > "$ETCD_DIR/etcd$i.pid"
        ETCD_PIDS+=("$!")
    done
    ETCD_ENDPOINTS=""
    for i in 1 2 3; do ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}$ETCD_SCHEME://$ETCD_BASE.1$i:2379"; done
    local deadline=$((SECONDS + 60))
    until etcdctl_etcd --endpoints "$ETCD_ENDPOINTS" endpoint health >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "etcd not healthy after 60 s (see $ETCD_DIR/etcd*.log)"
        sleep 0.5
    done
    log "etcd up: pids ${ETCD_PIDS[*]}"
}

# etcdctl against the etcd cluster, with its client certificate when ETCD_TLS=1.
etcdctl_etcd() { "$ETCDCTL_BIN" ${ETCD_CLIENT_TLS[@]+"${ETCD_CLIENT_TLS[@]}"} "$@"; }

etcd_leader() {
    etcdctl_etcd --endpoints "$ETCD_ENDPOINTS" endpoint status -w json \
        | jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' | head -1
}

# ---------------------------------------------------------------- hakube
cleanup() {
    cluster_down
    etcd_down
}

# A signal must still run the EXIT trap (bash skips it when killed by an untrapped signal).
trap 'exit 130' INT
trap 'exit 143' TERM
cluster_up vs-hakube 127.50.4
trap cleanup EXIT
wait_ready 60
HAKUBE_PIDS=$(all_pids)
etcd_up
trap cleanup EXIT
ETCD_PID_LIST=$(IFS=,; echo "${ETCD_PIDS[*]}")

# hakube's leader: `hakube status --format json` names it; `hakube config --etcd` on that node
# gives its etcd endpoint and the client certificate (mutual TLS).
hakube_leader_env() {
    local dir name
    for dir in $(node_dirs); do
        if name=$("$HAKUBE_BIN" status --data-dir "$dir" --format json --timeout 5 2>/dev/null | jq -er '.leader'); then
            # Not exported (HK_ENDPOINTS, HK_CACERT, …), so the etcdctl calls against etcd do not see them.
            eval "$("$HAKUBE_BIN" config --etcd --data-dir "$CLUSTER_DIR/$name" | sed 's/^export ETCDCTL_/HK_/')"
            HAKUBE_LEADER=$name
            return 0
        fi
    done
    return 1
}

rss_mb() { awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
rss_list() {  # PID,PID,… -> "a / b / c" MB
    local pid out=()
    for pid in ${1//,/ }; do out+=("$(rss_mb "$pid")"); done
    local IFS=/
    echo "${out[*]}" | sed 's|/| / |g'
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# run_bench SYSTEM CLIENTS ROUND: one `dbctl bench` against SYSTEM's leader; appends to runs.tsv
run_bench() {
    local system=$1 clients=$2 round=$3 out="$results/$1-c$2-r$3.json" pids cmd
    if [[ $system == hakube ]]; then
        hakube_leader_env || die "no hakube leader"
        pids=$HAKUBE_PIDS
        cmd=("$HAKUBE_BIN" dbctl bench --endpoints "$HK_ENDPOINTS" --cacert "$HK_CACERT"
             --cert "$HK_CERT" --key "$HK_KEY")
        leader="$HAKUBE_LEADER $HK_ENDPOINTS"
    else
        leader=$(etcd_leader)
        [[ -n "$leader" ]] || die "no etcd leader"
        pids=$ETCD_PID_LIST
        cmd=("$HAKUBE_BIN" dbctl bench --endpoints "$leader" ${ETCD_CLIENT_TLS[@]+"${ETCD_CLIENT_TLS[@]}"})
    fi
    cmd+=(--clients "$clients" --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE"
          --pids "$pids" --json)
    local load_before
    load_before=$(loadavg)
    log "round $round, $system, $clients clients, leader $leader, load $load_before: ${cmd[*]}"
    "${cmd[@]}" > "$out"
    local rss load_after
    rss=$(rss_list "$pids")
    load_after=$(loadavg)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$clients" "$round" "$rss" "$load_before" "$load_after" "$out" >> "$results/runs.tsv"
    log "  $(jq -c '{"writes/s", p50_ms, p99_ms, cpu_ms_per_1k_writes, errors}' "$out"); RSS MB $rss; load $load_after"
}

for round in $(seq 1 "$ROUNDS"); do
    for clients in $CLIENTS; do
        run_bench hakube "$clients" "$round"
        run_bench etcd "$clients" "$round"
    done
done

# ---------------------------------------------------------------- etcdctl check perf
# Both against the leader's endpoint, each with its client certificate (mutual TLS).
for load in $CHECK_PERF; do
    for system in hakube etcd; do
        out="$results/checkperf-$system-$load.txt"
        lb=$(loadavg)
        if [[ $system == hakube ]]; then
            hakube_leader_env || die "no hakube leader"
            ep=$HK_ENDPOINTS
            log "check perf --load=$load against hakube ($ep), load $lb"
            "$ETCDCTL_BIN" --endpoints "$ep" --cacert "$HK_CACERT" --cert "$HK_CERT" \
                --key "$HK_KEY" check perf --load="$load" > "$out" 2>&1 || true
            pids=$HAKUBE_PIDS
        else
            ep=$(etcd_leader)
            log "check perf --load=$load against etcd ($ep), load $lb"
            etcdctl_etcd --endpoints "$ep" check perf --load="$load" > "$out" 2>&1 || true
            pids=$ETCD_PID_LIST
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$system" "$load" "$lb" "$(loadavg)" "$(rss_list "$pids")" >> "$results/checkperf.tsv"
        tr '\r' '\n' < "$out" | grep -E '^(PASS|FAIL)|^Slowest request|^Stddev|^Throughput' | sed "s/^/  $system $load: /" >&2 || true
    done
done

# ---------------------------------------------------------------- report
fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x == "" || x == "null") print "n/a"; else printf "%.*f\n", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
field() { jq -r ".\"$2\" // empty" "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo
echo "Per run (RSS is VmRSS of each member after the run; load is the 1-minute load average before → after):"
echo
echo "| clients | round | system | writes/s | p50 ms | p99 ms | max ms | CPU ms / 1k writes (3 members) | RSS per member MB | errors | load |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---|"
while IFS=$'\t' read -r system clients round rss lb la out; do
    echo "| $clients | $round | $system | $(fmt "$(field "$out" writes/s)" 0) | $(fmt "$(field "$out" p50_ms)" 2) | $(fmt "$(field "$out" p99_ms)" 2) | $(fmt "$(field "$out" max_ms)" 1) | $(fmt "$(field "$out" cpu_ms_per_1k_writes)" 0) | $rss | $(field "$out" errors) | $lb → $la |"
done < "$results/runs.tsv"

echo
echo "Median over rounds, and hakube / etcd:"
echo
echo "| clients | hakube w/s | etcd w/s | ratio | hakube p50 | etcd p50 | ratio | hakube p99 | etcd p99 | ratio | hakube CPU ms/1k | etcd CPU ms/1k | ratio | hakube RSS MB (largest member, any round) | etcd RSS MB (largest member, any round) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
med() {  # med SYSTEM CLIENTS FIELD
    awk -F'\t' -v s="$1" -v c="$2" '$1 == s && $2 == c {print $7}' "$results/runs.tsv" \
        | while read -r f; do field "$f" "$3"; done | median
}
medrss() {
    awk -F'\t' -v s="$1" -v c="$2" '$1 == s && $2 == c {print $4}' "$results/runs.tsv" \
        | tr '/' '\n' | tr -d ' ' | median_max
}
median_max() { sort -g | tail -1; }
for clients in $CLIENTS; do
    hw=$(med hakube "$clients" writes/s) ew=$(med etcd "$clients" writes/s)
    h50=$(med hakube "$clients" p50_ms) e50=$(med etcd "$clients" p50_ms)
    h99=$(med hakube "$clients" p99_ms) e99=$(med etcd "$clients" p99_ms)
    hc=$(med hakube "$clients" cpu_ms_per_1k_writes) ec=$(med etcd "$clients" cpu_ms_per_1k_writes)
    echo "| $clients | $(fmt "$hw" 0) | $(fmt "$ew" 0) | $(ratio "$hw" "$ew") | $(fmt "$h50" 2) | $(fmt "$e50" 2) | $(ratio "$h50" "$e50") | $(fmt "$h99" 2) | $(fmt "$e99" 2) | $(ratio "$h99" "$e99") | $(fmt "$hc" 0) | $(fmt "$ec" 0) | $(ratio "$hc" "$ec") | $(medrss hakube "$clients") | $(medrss etcd "$clients") |"
done

if [[ -s "$results/checkperf.tsv" ]]; then
    echo
    echo "etcdctl check perf (60 s each, against the leader):"
    echo
    echo "| load | system | result lines | load avg | RSS per member MB after |"
    echo "|---|---|---|---|---|"
    while IFS=$'\t' read -r system load lb la rss; do
        lines=$(tr '\r' '\n' < "$results/checkperf-$system-$load.txt" | grep -E '^(PASS|FAIL)|^Slowest request|^Stddev|^Throughput' | paste -sd';' | sed 's/;/; /g')
        [[ -n "$lines" ]] || lines="(no verdict: $(tr '\r' '\n' < "$results/checkperf-$system-$load.txt" | grep -v '^ *$' | tail -1))"
        echo "| $load | $system | $lines | $lb → $la | $rss |"
    done < "$results/checkperf.tsv"
fi
echo
if [[ "$ETCD_TLS" == 1 ]]; then
    echo "hakube and etcd: mutual TLS between clients and members and between members."
else
    echo "hakube: etcd v3 API with mutual TLS (client certificate); etcd: plain http, no TLS."
fi
echo "raw results: $results"
