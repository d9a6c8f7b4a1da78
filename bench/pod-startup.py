#!/usr/bin/env python3
"""Pod startup latency against a running cluster: creates N pods one after another (image
already on the nodes) and measures, for each, the time from sending the create to the watch
event that shows the pod Running (its first container started), in milliseconds, and the part
of it until the watch showed the pod bound to a node (the scheduler's share). Prints one JSON
line: p50, p99, max, mean, n, and bound_p50/bound_p99. Talks to the API directly (the kubeconfig's server and
client certificate), so no kubectl process start-up is counted.

    bench/pod-startup.py KUBECONFIG [N] [IMAGE] [NAMESPACE]
    STARTUP_EACH=1 bench/pod-startup.py …     # also each pod's time, in order, on stderr
"""
import json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import Api

def main():
    kubeconfig = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    image = sys.argv[3] if len(sys.argv) > 3 else "hakube.local/busybox:1"
    namespace = sys.argv[4] if len(sys.argv) > 4 else "default"
    client = Api(kubeconfig)
    request = Api.request
    api = client.connect()
    latencies, bound = [], []
    for i in range(count):
        name = f"startup-{os.getpid()}-{i}"
        listing = request(api, "GET", f"/api/v1/namespaces/{namespace}/pods?limit=1")
        version = listing["metadata"]["resourceVersion"]
        stream = client.watch(f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion={version}"
                              f"&fieldSelector=metadata.name%3D{name}", timeout=60)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}
        start = time.monotonic()
        request(api, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        bound_at = None
        while True:
            line = stream.readline()
            if not line:
                raise SystemExit(f"watch ended before {name} ran")
            event = json.loads(line)
            if bound_at is None and event["object"]["spec"].get("nodeName"):
                bound_at = time.monotonic()
                bound.append((bound_at - start) * 1000)
            if event["object"].get("status", {}).get("phase") == "Running":
                latencies.append((time.monotonic() - start) * 1000)
                break
        stream.close()
        request(api, "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}",
                {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    if os.environ.get("STARTUP_EACH"):
        # Each pod's time in creation order (the tail's place: first pods, or spread out).
        print(json.dumps({"each_ms": [round(x) for x in latencies]}), file=sys.stderr)
    latencies.sort()
    bound.sort()
    pick = lambda values, q: values[min(len(values) - 1, int(q * len(values)))]
    print(json.dumps({"n": len(latencies), "p50_ms": round(pick(latencies, 0.50), 1),
                      "p99_ms": round(pick(latencies, 0.99), 1), "max_ms": round(latencies[-1], 1),
                      "mean_ms": round(sum(latencies) / len(latencies), 1),
                      "bound_p50_ms": round(pick(bound, 0.50), 1),
                      "bound_p99_ms": round(pick(bound, 0.99), 1)}))

main()
