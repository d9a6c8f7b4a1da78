//! Tests for the kinds kubectl itself never sends as protobuf (client-go
//! controllers and other typed clients do): one encoder-built body per
//! group, aimed at what each adds to the decoder (pointer zeros, maps of
//! messages, `ExtraValue`, doubles, the recursive CRD schema).

use serde_json::{Value, json};

use super::tests::{Enc, body};
use super::{ProtobufError, decode, kinds};

/// 2026-01-02T03:04:05Z.
const T: i64 = 1_767_323_045;

fn time(seconds: i64, nanos: i64) -> Enc {
    Enc::new().int(1, seconds).int(2, nanos)
}

/// `ObjectMeta{name}`.
fn name(n: &str) -> Enc {
    Enc::new().str(1, n)
}

fn quantity(q: &str) -> Enc {
    Enc::new().str(1, q)
}

fn decoded(api_version: &str, kind: &str, object: Enc) -> Value {
    decode(&body(api_version, kind, object)).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// Every kind the API server serves, with the request kinds of its
/// subresources (pods/binding, pods/eviction, serviceaccounts/token,
/// */scale).
const SERVED: &[(&str, &str)] = &[
    ("v1", "Binding"),
    ("v1", "ConfigMap"),
    ("v1", "Endpoints"),
    ("v1", "Event"),
    ("v1", "LimitRange"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "PersistentVolume"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("v1", "PodTemplate"),
    ("v1", "ReplicationController"),
    ("v1", "ResourceQuota"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apps/v1", "ControllerRevision"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"),
    ("authentication.k8s.io/v1", "TokenRequest"),
    ("authentication.k8s.io/v1", "TokenReview"),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
    ("authorization.k8s.io/v1", "SubjectAccessReview"),
    ("autoscaling/v1", "Scale"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("batch/v1", "CronJob"),
    ("batch/v1", "Job"),
    ("coordination.k8s.io/v1", "Lease"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("events.k8s.io/v1", "Event"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "Eviction"),
    ("policy/v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("storage.k8s.io/v1", "StorageClass"),
];

#[test]
fn every_served_kind_is_accepted_and_nothing_else() {
    let mut accepted: Vec<(&str, &str)> = kinds::KINDS.iter().map(|(v, k, _)| (*v, *k)).collect();
    accepted.sort_unstable();
    let mut served = SERVED.to_vec();
    served.sort_unstable();
    assert_eq!(accepted, served);
    for (api_version, kind) in SERVED {
        let object = Enc::new().msg(1, Enc::new().str(1, "x").str(3, "ns"));
        assert_eq!(
            decoded(api_version, kind, object),
            json!({
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"name": "x", "namespace": "ns"},
            })
        );
    }
    // Other versions of a served group use other field numbers.
    assert!(matches!(
        decode(&body(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            Enc::new()
        )),
        Err(ProtobufError::UnknownKind { .. })
    ));
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> Enc {
    values
        .iter()
        .fold(Enc::new().str(1, key).str(2, operator), |e, v| e.str(3, v))
}

fn extra_value(items: &[&str]) -> Enc {
    items.iter().fold(Enc::new(), |e, item| e.str(1, item))
}

#[test]
fn subject_access_review_extra_values_and_selectors() {
    let attributes = Enc::new()
        .str(1, "ns")
        .str(2, "list")
        .str(5, "pods")
        .msg(
            8,
            Enc::new()
                .str(1, "spec.nodeName=n1")
                .msg(2, requirement("spec.nodeName", "In", &["n1"])),
        )
        .msg(9, Enc::new().msg(2, requirement("app", "Exists", &[])));
    let spec = Enc::new()
        .msg(1, attributes)
        .str(3, "alice")
        .str(4, "dev")
        .str(4, "ops")
        .entry_msg(5, "scopes", extra_value(&["a", "b"]))
        .entry_msg(5, "none", extra_value(&[]))
        // A map entry without a value: Go's zero ExtraValue.
        .msg(5, Enc::new().str(1, "missing"))
        .str(6, "u1");
    let status = Enc::new().int(1, 1).str(2, "RBAC").int(4, 0);
    let review = Enc::new().msg(2, spec.clone()).msg(3, status);
    assert_eq!(
        decoded("authorization.k8s.io/v1", "SubjectAccessReview", review),
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": "ns",
                    "verb": "list",
                    "resource": "pods",
                    "fieldSelector": {
                        "rawSelector": "spec.nodeName=n1",
                        "requirements": [{"key": "spec.nodeName", "operator": "In", "values": ["n1"]}],
                    },
                    "labelSelector": {"requirements": [{"key": "app", "operator": "Exists"}]},
                },
                "user": "alice",
                "groups": ["dev", "ops"],
                "extra": {"scopes": ["a", "b"], "none": [], "missing": []},
                "uid": "u1",
            },
            "status": {"allowed": true, "reason": "RBAC"},
        })
    );

    let local = Enc::new().msg(1, Enc::new().str(3, "ns")).msg(2, spec);
    let local = decoded("authorization.k8s.io/v1", "LocalSubjectAccessReview", local);
    assert_eq!(local["metadata"], json!({"namespace": "ns"}));
    assert_eq!(local["spec"]["extra"]["scopes"], json!(["a", "b"]));
}

#[test]
fn token_review_user_info_extra() {
    let user = Enc::new()
        .str(1, "system:serviceaccount:default:bot")
        .str(2, "uid-1")
        .str(3, "system:serviceaccounts")
        .entry_msg(
            4,
            "authentication.kubernetes.io/pod-name",
            extra_value(&["p1"]),
        );
    let review = Enc::new()
        .msg(2, Enc::new().str(1, "tok").str(2, "api"))
        .msg(3, Enc::new().int(1, 1).msg(2, user).str(4, "api"));
    assert_eq!(
        decoded("authentication.k8s.io/v1", "TokenReview", review),
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": "tok", "audiences": ["api"]},
            "status": {
                "authenticated": true,
                "user": {
                    "username": "system:serviceaccount:default:bot",
                    "uid": "uid-1",
                    "groups": ["system:serviceaccounts"],
                    "extra": {"authentication.kubernetes.io/pod-name": ["p1"]},
                },
                "audiences": ["api"],
            },
        })
    );
}

#[test]
fn node_spec_and_status() {
    let taint = Enc::new()
        .str(1, "dedicated")
        .str(2, "gpu")
        .str(3, "NoSchedule")
        .msg(4, time(T, 0));
    let spec = Enc::new()
        .str(1, "10.0.0.0/24")
        .int(4, 1)
        .msg(5, taint)
        .str(7, "10.0.0.0/24");
    let condition = Enc::new()
        .str(1, "Ready")
        .str(2, "True")
        .msg(3, time(T, 0))
        .msg(4, time(0, 0))
        .str(5, "KubeletReady");
    let status = Enc::new()
        .entry_msg(1, "cpu", quantity("4"))
        .entry_msg(1, "memory", quantity("8Gi"))
        .entry_msg(2, "cpu", quantity("3800m"))
        .msg(4, condition)
        .msg(5, Enc::new().str(1, "InternalIP").str(2, "10.0.0.5"))
        .msg(6, Enc::new().msg(1, Enc::new().int(1, 10250)))
        .msg(
            7,
            Enc::new()
                .str(1, "m1")
                .str(7, "v1.33.0")
                .str(9, "linux")
                .str(10, "amd64"),
        );
    let node = Enc::new().msg(1, name("n1")).msg(2, spec).msg(3, status);
    assert_eq!(
        decoded("v1", "Node", node),
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "spec": {
                "podCIDR": "10.0.0.0/24",
                "unschedulable": true,
                "taints": [{
                    "key": "dedicated",
                    "value": "gpu",
                    "effect": "NoSchedule",
                    "timeAdded": "2026-01-02T03:04:05Z",
                }],
                "podCIDRs": ["10.0.0.0/24"],
            },
            "status": {
                "capacity": {"cpu": "4", "memory": "8Gi"},
                "allocatable": {"cpu": "3800m"},
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": "2026-01-02T03:04:05Z",
                    "reason": "KubeletReady",
                }],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": "m1",
                    "kubeletVersion": "v1.33.0",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        })
    );
}

#[test]
fn persistent_volume_inlines_its_source() {
    let csi = Enc::new()
        .str(1, "ebs.csi.aws.com")
        .str(2, "vol-1")
        .int(3, 0)
        .str(4, "ext4")
        .entry(5, "type", b"gp3");
    let affinity = Enc::new().msg(
        1,
        Enc::new().msg(1, Enc::new().msg(1, requirement("zone", "In", &["a"]))),
    );
    let spec = Enc::new()
        .entry_msg(1, "storage", quantity("10Gi"))
        .msg(2, Enc::new().msg(22, csi))
        .str(3, "ReadWriteOnce")
        .msg(4, Enc::new().str(2, "prod").str(3, "data"))
        .str(5, "Retain")
        .str(6, "gp3")
        .str(8, "Filesystem")
        .msg(9, affinity);
    let volume = Enc::new()
        .msg(1, name("pv1"))
        .msg(2, spec)
        .msg(3, Enc::new().str(1, "Bound"));
    assert_eq!(
        decoded("v1", "PersistentVolume", volume),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "pv1"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "csi": {
                    "driver": "ebs.csi.aws.com",
                    "volumeHandle": "vol-1",
                    "fsType": "ext4",
                    "volumeAttributes": {"type": "gp3"},
                },
                "accessModes": ["ReadWriteOnce"],
                "claimRef": {"namespace": "prod", "name": "data"},
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "gp3",
                "volumeMode": "Filesystem",
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                }]}},
            },
            "status": {"phase": "Bound"},
        })
    );
}

fn pod_template(app: &str, image: &str) -> Enc {
    Enc::new()
        .msg(1, Enc::new().entry(11, "app", app.as_bytes()))
        .msg(2, Enc::new().msg(2, Enc::new().str(1, app).str(2, image)))
}

fn pod_template_json(app: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": image}]},
    })
}

#[test]
fn stateful_set_claim_templates_keep_pointer_zeros() {
    let claim = Enc::new().msg(1, name("data")).msg(
        2,
        Enc::new()
            .str(1, "ReadWriteOnce")
            .msg(2, Enc::new().entry_msg(2, "storage", quantity("1Gi")))
            .str(5, ""),
    );
    let spec = Enc::new()
        .int(1, 0)
        .msg(2, Enc::new().entry(1, "app", b"db"))
        .msg(3, pod_template("db", "postgres"))
        .msg(4, claim)
        .str(5, "db")
        .str(6, "Parallel")
        .msg(10, Enc::new().str(1, "Retain").str(2, "Delete"))
        .msg(11, Enc::new().int(1, 0));
    let set = decoded(
        "apps/v1",
        "StatefulSet",
        Enc::new().msg(1, name("db")).msg(2, spec),
    );
    assert_eq!(
        set["spec"],
        json!({
            "replicas": 0,
            "selector": {"matchLabels": {"app": "db"}},
            "template": pod_template_json("db", "postgres"),
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    // *string: an empty class name is a real value.
                    "storageClassName": "",
                },
            }],
            "serviceName": "db",
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
            "ordinals": {"start": 0},
        })
    );
}

#[test]
fn workload_kinds() {
    let replica_set = Enc::new().msg(
        2,
        Enc::new()
            .int(1, 2)
            .msg(2, Enc::new().entry(1, "app", b"web"))
            .msg(3, pod_template("web", "nginx")),
    );
    assert_eq!(
        decoded("apps/v1", "ReplicaSet", replica_set)["spec"],
        json!({
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template_json("web", "nginx"),
        })
    );
    let daemon_set = Enc::new().msg(
        2,
        Enc::new()
            .msg(1, Enc::new().entry(1, "app", b"agent"))
            .msg(2, pod_template("agent", "agent:1"))
            .msg(
                3,
                Enc::new()
                    .str(1, "RollingUpdate")
                    .msg(2, Enc::new().msg(1, Enc::new().int(1, 1).str(3, "10%"))),
            )
            .int(6, 10),
    );
    assert_eq!(
        decoded("apps/v1", "DaemonSet", daemon_set)["spec"],
        json!({
            "selector": {"matchLabels": {"app": "agent"}},
            "template": pod_template_json("agent", "agent:1"),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "revisionHistoryLimit": 10,
        })
    );
    let revision = Enc::new()
        .msg(1, name("web-7d9"))
        .msg(
            2,
            Enc::new().str(1, r#"{"spec":{"template":{"$patch":"replace"}}}"#),
        )
        .int(3, 2);
    assert_eq!(
        decoded("apps/v1", "ControllerRevision", revision),
        json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "web-7d9"},
            "data": {"spec": {"template": {"$patch": "replace"}}},
            "revision": 2,
        })
    );
    let controller = Enc::new().msg(
        2,
        Enc::new()
            .int(1, 0)
            .entry(2, "app", b"web")
            .msg(3, pod_template("web", "nginx")),
    );
    assert_eq!(
        decoded("v1", "ReplicationController", controller)["spec"],
        json!({
            "replicas": 0,
            "selector": {"app": "web"},
            "template": pod_template_json("web", "nginx"),
        })
    );
    let template = Enc::new()
        .msg(1, name("t"))
        .msg(2, pod_template("job", "busybox"));
    assert_eq!(
        decoded("v1", "PodTemplate", template)["template"],
        pod_template_json("job", "busybox")
    );
}

#[test]
fn scale_and_horizontal_pod_autoscaler_behavior() {
    let scale = Enc::new()
        .msg(1, name("web"))
        .msg(2, Enc::new().int(1, 3))
        .msg(3, Enc::new().int(1, 1).str(2, "app=web"));
    assert_eq!(
        decoded("autoscaling/v1", "Scale", scale),
        json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "web"},
            "spec": {"replicas": 3},
            "status": {"replicas": 1, "selector": "app=web"},
        })
    );
    let rules = Enc::new()
        .str(1, "Max")
        .msg(2, Enc::new().str(1, "Percent").int(2, 10).int(3, 60))
        .int(3, 300)
        .msg(4, quantity("0.1"));
    let spec = Enc::new()
        .msg(
            1,
            Enc::new()
                .str(1, "Deployment")
                .str(2, "web")
                .str(3, "apps/v1"),
        )
        .int(2, 1)
        .int(3, 10)
        .msg(5, Enc::new().msg(2, rules));
    assert_eq!(
        decoded(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Enc::new().msg(2, spec)
        )["spec"],
        json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "behavior": {"scaleDown": {
                "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
                "stabilizationWindowSeconds": 300,
                "tolerance": "0.1",
            }},
        })
    );
}

#[test]
fn core_cluster_objects() {
    let binding = Enc::new()
        .msg(1, name("p1"))
        .msg(2, Enc::new().str(1, "Node").str(3, "n1"));
    assert_eq!(
        decoded("v1", "Binding", binding),
        json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "p1"},
            "target": {"kind": "Node", "name": "n1"},
        })
    );
    let subset = Enc::new()
        .msg(
            1,
            Enc::new()
                .str(1, "10.0.0.1")
                .msg(2, Enc::new().str(1, "Pod").str(3, "p1"))
                .str(4, "n1"),
        )
        .msg(3, Enc::new().str(1, "http").int(2, 80).str(3, "TCP"));
    assert_eq!(
        decoded("v1", "Endpoints", Enc::new().msg(2, subset))["subsets"],
        json!([{
            "addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "p1"}, "nodeName": "n1"}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        }])
    );
    let limit = Enc::new()
        .str(1, "Container")
        .entry_msg(4, "cpu", quantity("500m"))
        .entry_msg(5, "cpu", quantity("100m"));
    assert_eq!(
        decoded(
            "v1",
            "LimitRange",
            Enc::new().msg(2, Enc::new().msg(1, limit))
        )["spec"],
        json!({"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}}]})
    );
    let claim = Enc::new()
        .msg(
            2,
            Enc::new()
                .str(1, "ReadWriteOnce")
                .msg(2, Enc::new().entry_msg(2, "storage", quantity("5Gi")))
                .str(3, "pv1")
                .str(5, "gp3"),
        )
        .msg(
            3,
            Enc::new()
                .str(1, "Bound")
                .str(2, "ReadWriteOnce")
                .entry_msg(3, "storage", quantity("5Gi")),
        );
    assert_eq!(
        decoded("v1", "PersistentVolumeClaim", claim),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
                "volumeName": "pv1",
                "storageClassName": "gp3",
            },
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}},
        })
    );
}

#[test]
fn lease_micro_times_and_pointer_zero() {
    let spec = Enc::new()
        .str(1, "n1")
        .int(2, 40)
        .msg(3, time(T, 0))
        .msg(4, time(T, 500_000_000))
        .int(5, 0);
    assert_eq!(
        decoded("coordination.k8s.io/v1", "Lease", Enc::new().msg(2, spec))["spec"],
        json!({
            "holderIdentity": "n1",
            "leaseDurationSeconds": 40,
            "acquireTime": "2026-01-02T03:04:05.000000Z",
            "renewTime": "2026-01-02T03:04:05.500000Z",
            "leaseTransitions": 0,
        })
    );
}

#[test]
fn endpoint_slice_and_events_v1() {
    let endpoint = Enc::new()
        .str(1, "10.1.1.1")
        .msg(2, Enc::new().int(1, 1).int(2, 1).int(3, 0))
        .msg(4, Enc::new().str(1, "Pod").str(2, "default").str(3, "p1"))
        .str(6, "n1")
        .str(7, "a");
    let slice = Enc::new()
        .msg(1, name("web-abc"))
        .msg(2, endpoint)
        .msg(3, Enc::new().str(1, "http").str(2, "TCP").int(3, 80))
        .str(4, "IPv4");
    assert_eq!(
        decoded("discovery.k8s.io/v1", "EndpointSlice", slice),
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abc"},
            "endpoints": [{
                "addresses": ["10.1.1.1"],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": "default", "name": "p1"},
                "nodeName": "n1",
                "zone": "a",
            }],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
            "addressType": "IPv4",
        })
    );

    let event = Enc::new()
        .msg(1, name("e1"))
        .msg(2, time(T, 123_456_789))
        .msg(3, Enc::new().int(1, 2).msg(2, time(T, 0)))
        .str(4, "kubelet")
        .str(5, "kubelet-n1")
        .str(6, "Pulling")
        .str(7, "Pulled")
        .msg(8, Enc::new().str(1, "Pod").str(3, "p1"))
        .str(10, "pulled image")
        .str(11, "Normal")
        .int(15, 0);
    assert_eq!(
        decoded("events.k8s.io/v1", "Event", event),
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "e1"},
            "eventTime": "2026-01-02T03:04:05.123456Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:05.000000Z"},
            "reportingController": "kubelet",
            "reportingInstance": "kubelet-n1",
            "action": "Pulling",
            "reason": "Pulled",
            "regarding": {"kind": "Pod", "name": "p1"},
            "note": "pulled image",
            "type": "Normal",
        })
    );
}

#[test]
fn storage_class_and_networking_kinds() {
    let class = Enc::new()
        .msg(1, name("gp3"))
        .str(2, "ebs.csi.aws.com")
        .entry(3, "type", b"gp3")
        .str(4, "Delete")
        .str(5, "debug")
        .int(6, 0)
        .str(7, "WaitForFirstConsumer")
        .msg(
            8,
            Enc::new().msg(
                1,
                Enc::new()
                    .str(1, "topology.kubernetes.io/zone")
                    .str(2, "a")
                    .str(2, "b"),
            ),
        );
    assert_eq!(
        decoded("storage.k8s.io/v1", "StorageClass", class),
        json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3"},
            "reclaimPolicy": "Delete",
            "mountOptions": ["debug"],
            "allowVolumeExpansion": false,
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [{"matchLabelExpressions": [
                {"key": "topology.kubernetes.io/zone", "values": ["a", "b"]},
            ]}],
        })
    );

    let rule = Enc::new()
        .msg(
            1,
            Enc::new()
                .str(1, "TCP")
                .msg(2, Enc::new().int(1, 0).int(2, 80))
                .int(3, 90),
        )
        .msg(1, Enc::new().msg(2, Enc::new().int(1, 1).str(3, "http")))
        .msg(
            2,
            Enc::new().msg(3, Enc::new().str(1, "10.0.0.0/8").str(2, "10.1.0.0/16")),
        )
        .msg(2, Enc::new().msg(2, Enc::new()));
    let spec = Enc::new()
        .msg(1, Enc::new().entry(1, "app", b"web"))
        .msg(2, rule)
        .str(4, "Ingress");
    assert_eq!(
        decoded(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            Enc::new().msg(2, spec)
        )["spec"],
        json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{
                "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}, {"port": "http"}],
                "from": [
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                    {"namespaceSelector": {}},
                ],
            }],
            "policyTypes": ["Ingress"],
        })
    );

    let parameters = Enc::new()
        .str(1, "k8s.example.com")
        .str(2, "IngressParameters")
        .str(3, "p")
        .str(4, "Namespace")
        .str(5, "ns");
    let class = Enc::new().msg(
        2,
        Enc::new().str(1, "example.com/ingress").msg(2, parameters),
    );
    assert_eq!(
        decoded("networking.k8s.io/v1", "IngressClass", class)["spec"],
        json!({
            "controller": "example.com/ingress",
            "parameters": {
                "apiGroup": "k8s.example.com",
                "kind": "IngressParameters",
                "name": "p",
                "scope": "Namespace",
                "namespace": "ns",
            },
        })
    );
}

/// JSONSchemaProps{type}.
fn schema(t: &str) -> Enc {
    Enc::new().str(5, t)
}

/// apiextensions `JSON{raw}`.
fn raw(json: &str) -> Enc {
    Enc::new().str(1, json)
}

fn with_properties(mut parent: Enc, properties: Vec<(&str, Enc)>) -> Enc {
    for (key, value) in properties {
        parent = parent.entry_msg(29, key, value);
    }
    parent
}

fn crd(open_api_v3_schema: Enc) -> Enc {
    let version = Enc::new()
        .str(1, "v1")
        .int(2, 1)
        .int(3, 1)
        .msg(4, Enc::new().msg(1, open_api_v3_schema))
        .msg(
            5,
            Enc::new().msg(1, Enc::new()).msg(
                2,
                Enc::new()
                    .str(1, ".spec.replicas")
                    .str(2, ".status.replicas"),
            ),
        )
        .msg(
            6,
            Enc::new()
                .str(1, "Size")
                .str(2, "integer")
                .str(6, ".spec.size"),
        );
    let names = Enc::new()
        .str(1, "widgets")
        .str(2, "widget")
        .str(3, "wd")
        .str(4, "Widget")
        .str(5, "WidgetList");
    let spec = Enc::new()
        .str(1, "example.com")
        .msg(3, names)
        .str(4, "Namespaced")
        .msg(7, version)
        .msg(9, Enc::new().str(1, "None"));
    Enc::new().msg(1, name("widgets.example.com")).msg(2, spec)
}

#[test]
fn custom_resource_definition_with_recursive_schema() {
    let size = schema("integer")
        .msg(8, raw("3"))
        .double(9, 10.5)
        .double(11, 1.0)
        .msg(44, Enc::new().str(1, "self > 0").str(2, "positive"));
    let tags = schema("array")
        .msg(
            24,
            Enc::new().msg(
                1,
                schema("string").msg(20, raw(r#""a""#)).msg(20, raw("null")),
            ),
        )
        .str(42, "set");
    let pair = schema("array").msg(
        24,
        Enc::new()
            .msg(2, schema("string"))
            .msg(2, schema("integer")),
    );
    let labels = schema("object").msg(30, Enc::new().int(1, 1).msg(2, schema("string")));
    let closed = schema("object").msg(30, Enc::new().int(1, 0));
    let any = Enc::new().int(38, 1).int(39, 0);
    let dependent = schema("object")
        .entry_msg(32, "a", Enc::new().str(2, "b").str(2, "c"))
        .entry_msg(32, "d", Enc::new().msg(1, Enc::new().str(23, "e")));
    let spec = with_properties(
        schema("object").str(23, "size"),
        vec![
            ("size", size),
            ("tags", tags),
            ("pair", pair),
            ("labels", labels),
            ("closed", closed),
            ("any", any),
            ("dep", dependent),
        ],
    )
    .int(37, 1)
    .int(12, 0);
    let root = with_properties(
        schema("object"),
        vec![("spec", spec), ("status", schema("object").int(38, 1))],
    );
    let decoded = decoded(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        crd(root),
    );
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {
                    "plural": "widgets",
                    "singular": "widget",
                    "shortNames": ["wd"],
                    "kind": "Widget",
                    "listKind": "WidgetList",
                },
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {
                                        "type": "integer",
                                        "default": 3,
                                        "maximum": 10.5,
                                        "minimum": 1,
                                        "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}],
                                    },
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string", "enum": ["a", null]},
                                        "x-kubernetes-list-type": "set",
                                    },
                                    "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "closed": {"type": "object", "additionalProperties": false},
                                    "any": {"x-kubernetes-preserve-unknown-fields": true},
                                    "dep": {"type": "object", "dependencies": {"a": ["b", "c"], "d": {"required": ["e"]}}},
                                },
                                "nullable": true,
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        },
                    }},
                    "subresources": {
                        "status": {},
                        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
                    },
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                }],
                "conversion": {"strategy": "None"},
            },
        })
    );
    let minimum = &decoded["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["size"]["minimum"];
    assert!(minimum.is_i64(), "{minimum}");
}

#[test]
fn crd_number_errors() {
    let err = |props: Enc| {
        decode(&body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd(props),
        ))
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let nan = err(schema("number").double(9, f64::NAN));
    assert!(
        nan.starts_with("field 9 of JSONSchemaProps is not a finite number (NaN) at byte "),
        "{nan}"
    );
    let varint = err(schema("number").int(11, 1));
    assert!(
        varint.starts_with(
            "field 11 of JSONSchemaProps has wire type 0 (varint), expected 1 (fixed64) at byte "
        ),
        "{varint}"
    );
    let truncated = err(Enc::new().key(9, 1).str(5, "x"));
    assert!(truncated.contains("needs 8 bytes"), "{truncated}");
}

#[test]
fn deep_crd_schemas_stop_at_the_depth_limit_without_overflowing_the_stack() {
    fn nested(levels: usize) -> Vec<u8> {
        let mut props = schema("string");
        for _ in 0..levels {
            props = schema("object").entry_msg(29, "x", props);
        }
        body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd(props),
        )
    }
    let (deep, too_deep) = (nested(80), nested(2_000));
    // The 2 MiB a tokio worker thread has. At the depth limit an unoptimized
    // build uses about 1.3 MiB of it (an optimized one about 0.2 MiB); without
    // the limit 2,000 levels would overflow it and abort the test binary.
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || (decode(&deep).map(|_| ()), decode(&too_deep).map(|_| ())))
        .expect("spawn")
        .join()
        .expect("no stack overflow");
    assert_eq!(outcome.0, Ok(()));
    assert!(
        matches!(outcome.1, Err(ProtobufError::TooDeep { .. })),
        "{:?}",
        outcome.1
    );
}
