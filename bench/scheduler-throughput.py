#!/usr/bin/env python3
"""Scheduler throughput against a running cluster, measured like upstream's scheduler_perf
(pods already in the API, the scheduler's binding rate), not the controllers' creation rate.

1. creates N pods (pause image) in a fresh namespace, with a nodeSelector no node has yet:
   the scheduler marks them Unschedulable;
2. once every pod says so, labels every simulated node (16 PATCHes at a time) so all of them
   fit at once, and records when the first PATCH was sent;
3. follows one watch of the namespace and prints one JSON line: seconds from that moment until
   every pod is bound, pods/s over that time, and the per-second binding rate's p50 and max.

    bench/scheduler-throughput.py KUBECONFIG [N] [NAMESPACE]
"""
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import Api

LABEL = "bench.hakube.io/open"
CREATE_THREADS = 8
LABEL_THREADS = 16


class Follower(threading.Thread):
    """Reads the namespace's pod watch; keeps which pods exist, are unschedulable, are bound."""

    def __init__(self, client, namespace, version):
        super().__init__(daemon=True)
        self.client, self.namespace, self.version = client, namespace, version
        self.lock = threading.Lock()
        self.unschedulable, self.bound = set(), {}
        self.seen = set()

    def run(self):
        while True:
            stream = self.client.watch(f"/api/v1/namespaces/{self.namespace}/pods?watch=1"
                                       f"&allowWatchBookmarks=false&timeoutSeconds=3600"
                                       f"&resourceVersion={self.version}")
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
        name = pod["metadata"]["name"]
        now = time.monotonic()
        with self.lock:
            self.seen.add(name)
            if pod["spec"].get("nodeName"):
                self.bound.setdefault(name, now)
            for condition in pod.get("status", {}).get("conditions", []):
                if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                    self.unschedulable.add(name)

    def counts(self):
        with self.lock:
            return len(self.seen), len(self.unschedulable), len(self.bound)


def wait_for(what, check, deadline_s):
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    kubeconfig = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    namespace = sys.argv[3] if len(sys.argv) > 3 else "scheduler-bench"
    client = Api(kubeconfig)
    api = client.connect()
    Api.request(api, "POST", "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    listing = Api.request(api, "GET", f"/api/v1/namespaces/{namespace}/pods?limit=1")
    follower = Follower(client, namespace, listing["metadata"]["resourceVersion"])
    follower.start()

    def create(indexes):
        connection = client.connect()
        for i in indexes:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}"},
                   "spec": {"nodeSelector": {LABEL: "true"},
                            "containers": [{"name": "pause", "image": "hakube.local/pause:1"}]}}
            Api.create(connection, f"/api/v1/namespaces/{namespace}/pods", pod)

    started = time.monotonic()
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, [range(k, count, CREATE_THREADS) for k in range(CREATE_THREADS)]))
    created_s = time.monotonic() - started
    wait_for("every pod marked Unschedulable", lambda: follower.counts()[1] >= count, 600)
    time.sleep(2)

    nodes = Api.request(api, "GET", "/api/v1/nodes?labelSelector=node.hakube.io%2Fsimulated%3Dtrue")
    names = [n["metadata"]["name"] for n in nodes["items"]]

    def label(batch):
        connection = client.connect()
        for name in batch:
            Api.request(connection, "PATCH", f"/api/v1/nodes/{name}",
                        {"metadata": {"labels": {LABEL: "true"}}},
                        content_type="application/merge-patch+json")

    opened = time.monotonic()
    with ThreadPoolExecutor(LABEL_THREADS) as pool:
        list(pool.map(label, [names[k::LABEL_THREADS] for k in range(LABEL_THREADS)]))
    labelled_s = time.monotonic() - opened
    wait_for("every pod bound", lambda: follower.counts()[2] >= count, 900)
    with follower.lock:
        times = sorted(t - opened for t in follower.bound.values())
    total_s = times[-1]
    per_second = [0] * (int(total_s) + 1)
    for t in times:
        per_second[max(0, int(t))] += 1
    busy = sorted(per_second)
    print(json.dumps({
        "pods": count, "nodes": len(names),
        "created_s": round(created_s, 2), "labels_s": round(labelled_s, 2),
        "first_bound_s": round(times[0], 3), "all_bound_s": round(total_s, 3),
        "pods_per_s": round(count / total_s, 1),
        "per_second_p50": busy[len(busy) // 2], "per_second_max": busy[-1],
        "per_second": per_second,
    }))


main()
