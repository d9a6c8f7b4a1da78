//! Simulated nodes (`hakube up --simulated-nodes N`, for benchmarks): they register as
//! Ready nodes marked `simulated`, report the pods bound to them Running, and finish their
//! deletions, so a Deployment over them rolls out, spreads, scales down and goes away with the
//! real scheduler and controllers. No containers run (the real nodes get no pod CIDR).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::kubectl::{Kubectl, contains};
use common::pods::pods;
use common::{Cluster, wait_until};

const SIMULATED: usize = 4;

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sim
spec:
  replicas: 40
  selector:
    matchLabels: {app: sim}
  template:
    metadata:
      labels: {app: sim}
    spec:
      nodeSelector: {node.hakube.io/simulated: \"true\"}
      containers:
      - name: pause
        image: hakube.local/pause:1
";

const LIMIT_RANGE: &str = "
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
spec:
  limits:
  - type: Container
    defaultRequest: {cpu: 100m}
";

/// A StatefulSet and a DaemonSet on the simulated nodes, for their revision history.
const HISTORY_SETS: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: history
  annotations: {kubernetes.io/change-cause: first}
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      nodeSelector: {node.hakube.io/simulated: \"true\"}
      containers:
      - name: pause
        image: hakube.local/pause:1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: logger
  namespace: history
spec:
  selector:
    matchLabels: {app: logger}
  template:
    metadata:
      labels: {app: logger}
    spec:
      nodeSelector: {node.hakube.io/simulated: \"true\"}
      containers:
      - name: pause
        image: hakube.local/pause:1
";

/// A pod no node fits until one gets the label it selects.
const WAITING_POD: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: waiting
spec:
  nodeSelector: {test.hakube.io/open: \"true\"}
  containers:
  - name: pause
    image: hakube.local/pause:1
";

fn pods_per_node(kubectl: &Kubectl) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, phase, ip, node) in pods(kubectl, "app=sim") {
        assert!(ip.starts_with("198.18."), "a simulated pod address: {ip}");
        if phase == "Running" {
            *counts.entry(node).or_default() += 1;
        }
    }
    counts
}

#[test]
fn a_deployment_rolls_out_over_simulated_nodes_and_goes_away() {
    let simulated = SIMULATED.to_string();
    let cluster = Cluster::up_with("127.21.76", 3, &["--simulated-nodes", &simulated], &[]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    let ready_simulated = || {
        let out = kubectl.run(&[
            "get",
            "nodes",
            "-l",
            "node.hakube.io/simulated=true",
            "--no-headers",
        ]);
        out.stdout.lines().filter(|l| l.contains(" Ready ")).count()
    };
    assert!(
        wait_until(Duration::from_secs(60), || ready_simulated() == SIMULATED),
        "{SIMULATED} simulated nodes Ready:\n{}",
        kubectl.run(&["get", "nodes"]).stdout
    );
    contains(&kubectl.ok(&["get", "nodes"]), "simulated");

    // Pods created in batches are admitted like any other: LimitRange defaults apply.
    kubectl.apply(&["apply"], LIMIT_RANGE);
    kubectl.apply(&["apply"], DEPLOYMENT);
    contains(
        &kubectl.ok(&["rollout", "status", "deployment/sim", "--timeout=120s"]),
        "successfully rolled out",
    );
    let requests = kubectl.ok(&[
        "get",
        "pods",
        "-l",
        "app=sim",
        "-o",
        "jsonpath={range .items[*]}{.spec.containers[0].resources.requests.cpu}{\" \"}{end}",
    ]);
    assert!(
        requests.split_whitespace().count() == 40
            && requests.split_whitespace().all(|r| r == "100m"),
        "every pod got the LimitRange's default request: {requests}"
    );
    let spread = pods_per_node(&kubectl);
    assert_eq!(spread.values().sum::<usize>(), 40, "{spread:?}");
    assert_eq!(
        spread.len(),
        SIMULATED,
        "every simulated node got pods: {spread:?}"
    );
    assert!(
        spread.values().all(|&n| n >= 5),
        "the scheduler spreads a workload: {spread:?}"
    );

    // The scheduler writes its bindings and their events in batches: each pod has its event.
    let reasons = kubectl.ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}",
    ]);
    let scheduled = reasons.lines().filter(|r| *r == "Scheduled").count();
    assert!(scheduled >= 40, "a Scheduled event per pod: {reasons}");
    // The ReplicaSet created its pods in batches, with their events (upstream's spam filter
    // lets 25 through per object).
    let created = reasons.lines().filter(|r| *r == "SuccessfulCreate").count();
    assert!(created >= 25, "SuccessfulCreate events: {reasons}");

    a_replica_set_stops_at_its_quota(&kubectl);

    a_pod_waits_for_a_node_that_fits(&kubectl);

    stateful_and_daemon_sets_keep_their_history(&kubectl);

    kubectl.ok(&["scale", "deployment/sim", "--replicas=10"]);
    assert!(
        wait_until(Duration::from_secs(90), || pods(&kubectl, "app=sim").len()
            == 10),
        "scaled down to 10: {:?}",
        pods(&kubectl, "app=sim")
    );
    contains(
        &kubectl.ok(&["rollout", "status", "deployment/sim", "--timeout=60s"]),
        "successfully rolled out",
    );

    kubectl.ok(&["delete", "deployment", "sim"]);
    assert!(
        wait_until(Duration::from_secs(90), || {
            kubectl
                .run(&["get", "pods", "-l", "app=sim", "--no-headers"])
                .stdout
                .trim()
                .is_empty()
        }),
        "the pods went with their Deployment:\n{}",
        kubectl.run(&["get", "pods", "-o", "wide"]).stdout
    );
}

/// A pod that fits nowhere stays Pending with upstream's reasons, and is bound as soon as a
/// node fits.
fn a_pod_waits_for_a_node_that_fits(kubectl: &Kubectl) {
    kubectl.apply(&["apply"], WAITING_POD);
    let total = SIMULATED + 3;
    let reason = format!(
        "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector"
    );
    assert!(
        wait_until(Duration::from_secs(60), || {
            let described = kubectl.run(&["describe", "pod", "waiting"]).stdout;
            described.contains("FailedScheduling") && described.contains(&reason)
        }),
        "FailedScheduling with {reason:?}:\n{}",
        kubectl.run(&["describe", "pod", "waiting"]).stdout
    );
    contains(
        &kubectl.ok(&["get", "pod", "waiting", "-o", "jsonpath={.status.phase}"]),
        "Pending",
    );
    let node = kubectl.ok(&[
        "get",
        "nodes",
        "-l",
        "node.hakube.io/simulated=true",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    kubectl.ok(&["label", "node", &node, "test.hakube.io/open=true"]);
    let assigned = format!("Successfully assigned default/waiting to {node}");
    assert!(
        wait_until(Duration::from_secs(60), || {
            kubectl
                .run(&["describe", "pod", "waiting"])
                .stdout
                .contains(&assigned)
        }),
        "{assigned:?}:\n{}",
        kubectl.run(&["describe", "pod", "waiting"]).stdout
    );
    contains(
        &kubectl.ok(&["get", "pod", "waiting", "-o", "jsonpath={.spec.nodeName}"]),
        &node,
    );
    kubectl.ok(&["delete", "pod", "waiting", "--wait=false"]);
}

/// Pods created in batches still charge the namespace's quota: the ReplicaSet stops at it and
/// says why.
fn a_replica_set_stops_at_its_quota(kubectl: &Kubectl) {
    kubectl.ok(&["create", "namespace", "capped"]);
    kubectl.ok(&["create", "quota", "q", "--hard=pods=3", "-n", "capped"]);
    let manifest = DEPLOYMENT
        .replace("name: sim", "name: capped\n  namespace: capped")
        .replace("replicas: 40", "replicas: 5");
    kubectl.apply(&["apply"], &manifest);
    let pods_in = || {
        kubectl
            .run(&["get", "pods", "-n", "capped", "--no-headers"])
            .stdout
            .lines()
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(60), || {
            kubectl
                .run(&["get", "events", "-n", "capped"])
                .stdout
                .contains("exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3")
        }),
        "FailedCreate for the quota:\n{}",
        kubectl.run(&["get", "events", "-n", "capped"]).stdout
    );
    assert_eq!(pods_in(), 3, "as many pods as the quota allows");
    kubectl.ok(&["delete", "namespace", "capped", "--wait=false"]);
}

/// `kubectl rollout history` lists a set's ControllerRevisions (with the change-cause the set
/// carried) and `rollout undo` puts an old template back, renumbering its revision.
fn stateful_and_daemon_sets_keep_their_history(kubectl: &Kubectl) {
    kubectl.ok(&["create", "namespace", "history"]);
    kubectl.apply(&["apply"], HISTORY_SETS);
    let history = ["-n", "history"];
    let run = |args: &[&str]| kubectl.ok(&[args, &history[..]].concat());
    contains(
        &run(&["rollout", "status", "statefulset/db", "--timeout=120s"]),
        "roll",
    );
    run(&[
        "annotate",
        "statefulset/db",
        "kubernetes.io/change-cause=set STAGE=two",
        "--overwrite",
    ]);
    run(&["set", "env", "statefulset/db", "STAGE=two"]);
    let revisions = |kind: &str| -> Vec<String> {
        run(&["rollout", "history", kind])
            .lines()
            .skip_while(|line| !line.starts_with("REVISION"))
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(60), || revisions("statefulset/db")
            == ["1 first", "2 set STAGE=two"]),
        "{:?}",
        revisions("statefulset/db")
    );
    contains(
        &run(&["rollout", "history", "statefulset/db", "--revision=2"]),
        "STAGE",
    );
    contains(
        &run(&["rollout", "status", "statefulset/db", "--timeout=120s"]),
        "roll",
    );
    contains(&run(&["rollout", "undo", "statefulset/db"]), "rolled back");
    assert_eq!(
        run(&[
            "get",
            "statefulset",
            "db",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env}"
        ]),
        ""
    );
    assert!(
        wait_until(Duration::from_secs(60), || revisions("statefulset/db")
            == ["2 set STAGE=two", "3 first"]),
        "the first template's revision is renumbered, not copied: {:?}",
        revisions("statefulset/db")
    );
    // A set deleted with --cascade=orphan leaves its revisions; a new set of the same name
    // (and selector) adopts them, history included.
    run(&["delete", "statefulset", "db", "--cascade=orphan"]);
    kubectl.apply(&["apply"], HISTORY_SETS);
    assert!(
        wait_until(Duration::from_secs(60), || revisions("statefulset/db")
            == ["2 set STAGE=two", "3 first"]),
        "the orphaned revisions are adopted: {:?}",
        revisions("statefulset/db")
    );
    assert!(
        wait_until(Duration::from_secs(60), || revisions("daemonset/logger")
            .len()
            == 1),
        "{:?}",
        revisions("daemonset/logger")
    );
}
