#!/usr/bin/env python3
"""Scheduler throughput against a running cluster, measured like upstream's scheduler_perf:
the rate at which the scheduler binds pods already waiting in the API (not the controllers'
creation rate), here as a scheduler takeover with a backlog.

1. takes the kube-scheduler Lease for a made-up holder, so the cluster's scheduler stands by;
2. creates N pods (pause image, for the simulated nodes) in a fresh namespace: they wait;
3. frees the Lease (one write); the cluster's scheduler takes it over within its retry
   period and places the whole backlog;
4. follows one watch of the namespace and prints one JSON line: seconds from freeing the Lease
   to the scheduler holding it, to the first and to the last pod bound; pods/s from holding
   it to the last bound; and the per-second binding rates.

    bench/scheduler-throughput.py KUBECONFIG [N] [NAMESPACE]
"""
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import Api

CREATE_THREADS = 8
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"
HOLDER = "scheduler-bench-hold"


class Follower(threading.Thread):
    """Reads the namespace's pod watch; keeps which pods exist and when each was bound."""

    def __init__(self, client, namespace, version):
        super().__init__(daemon=True)
        self.client, self.namespace, self.version = client, namespace, version
        self.lock = threading.Lock()
        self.seen, self.bound = set(), {}

    def run(self):
        while True:
            stream = self.client.watch(f"/api/v1/namespaces/{self.namespace}/pods?watch=1"
                                       f"&timeoutSeconds=3600&resourceVersion={self.version}")
            while True:
                line = stream.readline()
                if not line:
                    break
                self.take(json.loads(line))

    def take(self, event):
        pod = event["object"]
        if event["type"] == "ERROR":
            raise SystemExit(f"watch error: {pod}")
        self.version = pod["metadata"]["resourceVersion"]
        now = time.monotonic()
        with self.lock:
            self.seen.add(pod["metadata"]["name"])
            if pod["spec"].get("nodeName"):
                self.bound.setdefault(pod["metadata"]["name"], now)

    def counts(self):
        with self.lock:
            return len(self.seen), len(self.bound)


def wait_for(what, check, deadline_s, every_s=0.05):
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every_s)


def set_holder(api, holder, duration_s):
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    patch = {"spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_s,
                      "renewTime": now, "acquireTime": now}}
    Api.request(api, "PATCH", LEASE, patch, content_type="application/merge-patch+json")


def holder(api):
    return Api.request(api, "GET", LEASE)["spec"].get("holderIdentity", "")


def main():
    kubeconfig = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    namespace = sys.argv[3] if len(sys.argv) > 3 else "scheduler-bench"
    client = Api(kubeconfig)
    api = client.connect()
    wait_for("a kube-scheduler Lease", lambda: holder(api) != "", 60, every_s=0.5)
    set_holder(api, HOLDER, 3600)
    # The scheduler sees it lost the Lease at its next renewal (every 2 s by default).
    time.sleep(5)
    Api.request(api, "POST", "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    listing = Api.request(api, "GET", f"/api/v1/namespaces/{namespace}/pods?limit=1")
    follower = Follower(client, namespace, listing["metadata"]["resourceVersion"])
    follower.start()

    def create(indexes):
        connection = client.connect()
        for i in indexes:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}"},
                   "spec": {"nodeSelector": {"node.hakube.io/simulated": "true"},
                            "containers": [{"name": "pause", "image": "hakube.local/pause:1"}]}}
            Api.create(connection, f"/api/v1/namespaces/{namespace}/pods", pod)

    started = time.monotonic()
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, [range(k, count, CREATE_THREADS) for k in range(CREATE_THREADS)]))
    created_s = time.monotonic() - started
    wait_for("every pod in the watch", lambda: follower.counts()[0] >= count, 600)
    if follower.counts()[1]:
        raise SystemExit("pods were bound while the Lease was held elsewhere")
    time.sleep(2)

    freed = time.monotonic()
    set_holder(api, "", 15)
    wait_for("the scheduler to take the Lease", lambda: holder(api) not in ("", HOLDER), 60,
             every_s=0.02)
    held_s = time.monotonic() - freed
    wait_for("every pod bound", lambda: follower.counts()[1] >= count, 900)
    with follower.lock:
        times = sorted(t - freed for t in follower.bound.values())
    total_s = times[-1]
    per_second = [0] * (int(total_s) + 1)
    for t in times:
        per_second[int(t)] += 1
    print(json.dumps({
        "pods": count, "created_s": round(created_s, 2),
        "lease_taken_s": round(held_s, 3), "first_bound_s": round(times[0], 3),
        "all_bound_s": round(total_s, 3),
        "pods_per_s": round(count / (total_s - held_s), 1),
        "per_second": per_second,
    }))


main()
