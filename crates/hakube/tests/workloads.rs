//! Workloads on real containers (containerd, runc, CNI) with the real kubectl: the
//! walkthrough's Deployment spread over three nodes, pods reachable from the host and from
//! each other across nodes, the scheduler's and controllers' Leases, and a node's death: it
//! turns NotReady, its pods are replaced on the live nodes, and it comes back Ready. Images
//! are built from Debian packages (scripts/build-test-images.sh) and imported with `hakube
//! images import`; nothing is pulled from the network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::images::{guard_cluster_cidr, import_images};
use common::kubectl::{Kubectl, contains};
use common::pods::{PROBE_POD, pods, wget};
use common::{Cluster, wait_until};

#[test]
fn a_deployment_runs_on_every_node_and_moves_off_a_dead_one() {
    let cidr = "10.170.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up(
        "127.21.70",
        3,
        &[
            "--cluster-cidr",
            cidr,
            "--node-lease-duration",
            "4",
            "--node-monitor-grace-period",
            "5",
            "--pod-eviction-timeout",
            "3",
            "--leader-elect-lease-duration",
            "4",
        ],
    );
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");

    // The walkthrough: three replicas, one per node, serving.
    contains(
        &kubectl.ok(&[
            "create",
            "deployment",
            "nginx-test",
            "--image=nginx:1.27",
            "--replicas=3",
        ]),
        "deployment.apps/nginx-test created",
    );
    contains(
        &kubectl.ok(&[
            "rollout",
            "status",
            "deployment/nginx-test",
            "--timeout=120s",
        ]),
        "successfully rolled out",
    );
    let running = pods(&kubectl, "app=nginx-test");
    assert_eq!(running.len(), 3, "{running:?}");
    let mut nodes: Vec<&str> = running.iter().map(|p| p.3.as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["node1", "node2", "node3"], "one replica per node");
    for (name, phase, ip, _) in &running {
        assert_eq!(phase, "Running", "{name}");
        assert!(ip.starts_with("10.170."), "{name} has {ip}");
        contains(&wget(&format!("http://{ip}/")), "hello from nginx");
    }
    let wide = kubectl.ok(&["get", "pods", "-o", "wide"]);
    contains(&wide, "Running");
    contains(&wide, "10.170.");

    // Pod to pod across nodes: a pod on node1 fetches the page of the replica on node2.
    let target = running.iter().find(|p| p.3 == "node2").unwrap().2.clone();
    kubectl.apply(&["apply"], &PROBE_POD.replace("TARGET", &target));
    let succeeded = wait_until(Duration::from_secs(60), || {
        kubectl.ok(&["get", "pod", "probe", "-o", "jsonpath={.status.phase}"]) == "Succeeded"
    });
    assert!(
        succeeded,
        "the probe pod did not reach the other node's pod: {}",
        kubectl.ok(&["get", "pod", "probe", "-o", "yaml"])
    );

    // Logs come from the node agents: the probe's output, and nginx's access log of the
    // host's requests.
    contains(&kubectl.ok(&["logs", "probe"]), "hello from nginx");
    let first = &running[0].0;
    contains(&kubectl.ok(&["logs", first, "--tail=5"]), "GET / HTTP");
    contains(
        &kubectl.fails(&["logs", first, "-c", "missing"]),
        "container missing is not valid",
    );

    // One scheduler and one controller manager, each holding its Lease.
    let leases = kubectl.ok(&["get", "lease", "-n", "kube-system"]);
    contains(&leases, "kube-scheduler");
    contains(&leases, "kube-controller-manager");

    // node3 dies (its containers keep running: only the agent is gone).
    cluster.signal(3, "KILL");
    let not_ready = wait_until(Duration::from_secs(60), || {
        kubectl.ok(&["get", "node", "node3"]).contains("NotReady")
    });
    assert!(not_ready, "node3 never turned NotReady");
    contains(
        &kubectl.ok(&["get", "node", "node3", "-o", "jsonpath={.spec.taints}"]),
        "node.kubernetes.io/unreachable",
    );
    // Its replica is replaced on a live node after the toleration (3 s here).
    let replaced = wait_until(Duration::from_secs(90), || {
        let now = pods(&kubectl, "app=nginx-test");
        now.len() == 3 && now.iter().all(|p| p.1 == "Running" && p.3 != "node3")
    });
    assert!(
        replaced,
        "node3's replica was not replaced: {}",
        kubectl.ok(&["get", "pods", "-o", "wide"])
    );

    // node3 comes back: Ready again, and what it ran for the old replica is gone.
    cluster.start(3);
    let ready = wait_until(Duration::from_secs(60), || {
        let node = kubectl.ok(&["get", "node", "node3"]);
        node.contains(" Ready") && !node.contains("NotReady")
    });
    assert!(ready, "node3 never became Ready again");
    let cleaned = wait_until(Duration::from_secs(60), || {
        !kubectl.ok(&["get", "pods", "-o", "wide"]).contains("node3")
            || pods(&kubectl, "app=nginx-test")
                .iter()
                .all(|p| p.3 != "node3")
    });
    assert!(cleaned, "{}", kubectl.ok(&["get", "pods", "-o", "wide"]));
}

const DAEMON_AND_STATEFUL_SETS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: hakube.local/busybox:1
        command: [\"sleep\", \"3600\"]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: hakube.local/busybox:1
        command: [\"sleep\", \"3600\"]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: web
";

const POD_INPUTS: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello-from-config}
---
apiVersion: v1
kind: Secret
metadata: {name: credentials}
data: {password: czNjcmV0}
---
apiVersion: batch/v1
kind: Job
metadata: {name: inputs}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: show
        image: hakube.local/busybox:1
        command: [sh, -c, 'echo $GREETING; cat /credentials/password; echo; test -s /token/token && echo token-present']
        env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
        volumeMounts:
        - {name: credentials, mountPath: /credentials}
        - {name: token, mountPath: /token}
      volumes:
      - name: credentials
        secret: {secretName: credentials}
      - name: token
        projected:
          sources:
          - serviceAccountToken: {path: token, expirationSeconds: 3600}
";

const FAILING_JOB: &str = "
apiVersion: batch/v1
kind: Job
metadata:
  name: exits-42
spec:
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {containerName: main, operator: In, values: [42]}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: hakube.local/busybox:1
        command: [sh, -c, 'exit 42']
";

#[test]
fn daemon_sets_stateful_sets_jobs_and_a_drain_on_real_containers() {
    let cidr = "10.171.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up("127.21.71", 3, &["--cluster-cidr", cidr]);
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");

    // A Job runs to completion and its output is in its log.
    kubectl.ok(&[
        "create",
        "job",
        "hello",
        "--image=hakube.local/busybox:1",
        "--",
        "echo",
        "hi",
    ]);
    kubectl.ok(&[
        "wait",
        "--for=condition=Complete",
        "job/hello",
        "--timeout=90s",
    ]);
    assert_eq!(kubectl.ok(&["logs", "job/hello"]).trim(), "hi");

    // A podFailurePolicy fails the Job on the exit code it names, without a retry.
    kubectl.apply(&["apply"], FAILING_JOB);
    kubectl.ok(&[
        "wait",
        "--for=condition=Failed",
        "job/exits-42",
        "--timeout=90s",
    ]);
    let failed = kubectl.ok(&[
        "get",
        "job",
        "exits-42",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message} ({.status.failed})"#,
    ]);
    assert!(
        failed.starts_with("PodFailurePolicy: Container main for pod default/exits-42-")
            && failed.ends_with("failed with exit code 42 matching FailJob rule at index 0 (1)"),
        "{failed}"
    );

    // What a pod references reaches its container: a ConfigMap key in its env, a Secret as
    // files, a projected service account token.
    kubectl.apply(&["apply"], POD_INPUTS);
    kubectl.ok(&[
        "wait",
        "--for=condition=Complete",
        "job/inputs",
        "--timeout=90s",
    ]);
    assert_eq!(
        kubectl.ok(&["logs", "job/inputs"]).trim(),
        "hello-from-config\ns3cret\ntoken-present"
    );

    // One daemon pod per node; StatefulSet pods named by ordinal, created in order.
    kubectl.apply(&["apply"], DAEMON_AND_STATEFUL_SETS);
    let daemons_ready = wait_until(Duration::from_secs(90), || {
        kubectl.ok(&["get", "ds", "agent", "-o", "jsonpath={.status.numberReady}"]) == "3"
    });
    assert!(
        daemons_ready,
        "{}",
        kubectl.ok(&["get", "pods", "-o", "wide"])
    );
    contains(
        &kubectl.ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]),
        "roll",
    );
    let web = pods(&kubectl, "app=web");
    let mut names: Vec<&str> = web.iter().map(|p| p.0.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["web-0", "web-1"]);

    // Drain evicts through the eviction API (the budget lets one of two go), keeps the
    // daemon pod, and the StatefulSet's pod comes back elsewhere under the same name.
    let drained = web[0].3.clone();
    let drain = kubectl.ok(&[
        "drain",
        &drained,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=90s",
    ]);
    contains(&drain, "evicted");
    contains(&drain, "drained");
    contains(
        &kubectl.ok(&["get", "node", &drained]),
        "SchedulingDisabled",
    );
    let moved = wait_until(Duration::from_secs(90), || {
        let now = pods(&kubectl, "app=web");
        now.len() == 2 && now.iter().all(|p| p.1 == "Running" && p.3 != drained)
    });
    assert!(moved, "{}", kubectl.ok(&["get", "pods", "-o", "wide"]));
    assert!(
        pods(&kubectl, "app=agent").iter().any(|p| p.3 == drained),
        "the daemon pod stays on the drained node"
    );
    kubectl.ok(&["uncordon", &drained]);
}
