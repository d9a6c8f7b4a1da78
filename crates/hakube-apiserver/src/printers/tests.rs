//! Tests for the printers: upstream's HumanDuration boundaries and expected
//! rows for representative objects of each covered resource.

use serde_json::{Value, json};

use super::{age, human_duration, printer_for};

/// 2024-06-01T12:00:00Z, the "now" of every test.
const NOW: i64 = 1_717_243_200;

/// An RFC 3339 timestamp `seconds` before NOW.
fn ago(seconds: i64) -> String {
    jiff::Timestamp::from_second(NOW - seconds)
        .unwrap()
        .to_string()
}

/// The row for `object`, checked to have exactly one cell per column.
fn row(group: &str, resource: &str, object: &Value) -> Vec<Value> {
    let printer = printer_for(group, resource);
    let cells = (printer.cells)(object, NOW);
    assert_eq!(cells.len(), printer.columns.len(), "{group}/{resource}");
    cells
}

fn column_names(group: &str, resource: &str) -> Vec<&'static str> {
    printer_for(group, resource)
        .columns
        .iter()
        .map(|column| column.name)
        .collect()
}

#[test]
fn human_duration_matches_upstream_boundaries() {
    let cases: &[(i64, &str)] = &[
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (190, "3m10s"),
        (599, "9m59s"),
        (600, "10m"),
        (70 * 60, "70m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 30 * 60, "3h30m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        ((7 * 24 + 23) * 3600, "7d23h"),
        ((8 * 24 + 2) * 3600, "8d"),
        (367 * 24 * 3600, "367d"),
        (729 * 24 * 3600, "729d"),
        (730 * 24 * 3600, "2y"),
        ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        ((365 * 8 * 24 - 1) * 3600, "7y364d"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
        (365 * 20 * 24 * 3600, "20y"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(human_duration(*seconds), *expected, "{seconds}s");
    }
}

#[test]
fn age_handles_missing_unparsable_and_fractional_timestamps() {
    assert_eq!(age(None, NOW), "<unknown>");
    assert_eq!(age(Some(""), NOW), "<unknown>");
    assert_eq!(age(Some("yesterday"), NOW), "<unknown>");
    assert_eq!(age(Some(&ago(303)), NOW), "5m3s");
    assert_eq!(age(Some("2024-06-01T11:59:59.500000Z"), NOW), "0s");
    assert_eq!(age(Some("2024-06-01T13:59:00+02:00"), NOW), "60s");
    assert_eq!(age(Some(&ago(-5)), NOW), "<invalid>");
}

fn node(ready_status: &str, unschedulable: bool) -> Value {
    json!({
        "metadata": {"name": "node-1", "creationTimestamp": ago(3 * 86_400 + 7200),
            "labels": {"node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "", "kubernetes.io/role": "master"}},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready_status}],
            "addresses": [{"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "10.0.0.5"}],
            "nodeInfo": {"kubeletVersion": "v1.31.2", "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.2"}}
    })
}

#[test]
fn ready_node() {
    assert_eq!(
        column_names("", "nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        row("", "nodes", &node("True", false)),
        [
            "node-1",
            "Ready",
            "control-plane,master",
            "3d2h",
            "v1.31.2",
            "10.0.0.5",
            "<none>",
            "Debian GNU/Linux 12",
            "6.1.0",
            "containerd://1.7.2"
        ]
    );
}

#[test]
fn not_ready_cordoned_node_and_node_without_conditions() {
    let cells = row("", "nodes", &node("Unknown", true));
    assert_eq!(cells[1], "NotReady,SchedulingDisabled");
    let bare = row("", "nodes", &json!({"metadata": {"name": "bare"}}));
    assert_eq!(
        bare,
        [
            "bare",
            "Unknown",
            "<none>",
            "<unknown>",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ]
    );
}

#[test]
fn running_pod() {
    let pod = json!({
        "metadata": {"name": "web-0", "creationTimestamp": ago(600)},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "sidecar"}]},
        "status": {"phase": "Running", "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "sidecar", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
    });
    assert_eq!(
        row("", "pods", &pod),
        [
            "web-0",
            "2/2",
            "Running",
            "0",
            "10m",
            "10.244.0.7",
            "node-1",
            "<none>",
            "<none>"
        ]
    );
}

#[test]
fn crash_looping_pod_reports_restarts_with_last_termination() {
    let pod = json!({
        "metadata": {"name": "crasher", "creationTimestamp": ago(3600)},
        "spec": {"containers": [{"name": "app"}], "readinessGates": [{"conditionType": "example.com/gate"}]},
        "status": {"phase": "Running",
            "conditions": [{"type": "example.com/gate", "status": "False"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "finishedAt": ago(300)}}}]}
    });
    let cells = row("", "pods", &pod);
    assert_eq!(cells[1..4], ["0/1", "CrashLoopBackOff", "4 (5m ago)"]);
    assert_eq!(cells[8], "0/1");
}

#[test]
fn terminating_and_node_lost_pods() {
    let mut pod = json!({
        "metadata": {"name": "leaving", "creationTimestamp": ago(60),
            "deletionTimestamp": ago(-30)},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
            "restartCount": 0, "state": {"running": {}}}]}
    });
    assert_eq!(row("", "pods", &pod)[2], "Terminating");
    pod["status"]["reason"] = json!("NodeLost");
    assert_eq!(row("", "pods", &pod)[2], "Unknown");
    pod["status"]["phase"] = json!("Succeeded");
    pod["status"]["reason"] = json!(null);
    pod["status"]["containerStatuses"] = json!([{"name": "app", "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
    assert_eq!(row("", "pods", &pod)[2], "Completed");
}

#[test]
fn pod_status_covers_init_containers_and_pending_states() {
    let pod = json!({
        "metadata": {"name": "init"},
        "spec": {"initContainers": [{"name": "setup"}, {"name": "migrate"},
                {"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}]},
        "status": {"phase": "Pending",
            "initContainerStatuses": [
                {"name": "setup", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                {"name": "migrate", "restartCount": 1, "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}
    });
    let cells = row("", "pods", &pod);
    assert_eq!(cells[1..4], ["0/2", "Init:1/3", "1"]);

    let creating = json!({
        "metadata": {"name": "new"},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "app",
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    });
    assert_eq!(row("", "pods", &creating)[2], "ContainerCreating");

    let failed_init = json!({
        "metadata": {"name": "bad"},
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "setup",
            "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}
    });
    assert_eq!(row("", "pods", &failed_init)[2], "Init:ExitCode:2");

    let errored = json!({
        "metadata": {"name": "errored"},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "app",
            "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}
    });
    assert_eq!(row("", "pods", &errored)[2], "Error");
}

#[test]
fn deployment() {
    let deployment = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(2 * 86_400)},
        "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"},
                {"name": "log", "image": "busybox"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        column_names("apps", "deployments"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        row("apps", "deployments", &deployment),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("2d"),
            json!("web,log"),
            json!("nginx:1.27,busybox"),
            json!("app=web,tier in (a,b)")
        ]
    );
}

#[test]
fn replica_set_daemon_set_stateful_set_and_revision() {
    let template = json!({"spec": {"containers": [{"name": "c", "image": "i"}],
        "nodeSelector": {"disk": "ssd"}}});
    let replica_set = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2,
        "template": template}, "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(row("apps", "replicasets", &replica_set)[1..4], [2, 2, 1]);
    assert_eq!(row("apps", "replicasets", &replica_set)[7], "<none>");
    let daemon_set = json!({"metadata": {"name": "ds"}, "spec": {"template": template},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "numberReady": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}});
    assert_eq!(row("apps", "daemonsets", &daemon_set)[6], "disk=ssd");
    let stateful_set = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3},
        "status": {"readyReplicas": 1}});
    assert_eq!(row("apps", "statefulsets", &stateful_set)[1], "1/3");
    let revision = json!({"metadata": {"name": "ds-7f", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "controller": true}]},
        "revision": 4});
    assert_eq!(
        row("apps", "controllerrevisions", &revision)[1..3],
        [json!("daemonset.apps/ds"), json!(4)]
    );
}

#[test]
fn jobs_and_cron_jobs() {
    let job = json!({
        "metadata": {"name": "pi", "creationTimestamp": ago(600)},
        "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}},
        "status": {"succeeded": 1, "startTime": ago(600), "completionTime": ago(555),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}]}
    });
    assert_eq!(
        row("batch", "jobs", &job)[..5],
        ["pi", "Complete", "1/1", "45s", "10m"]
    );
    let running = json!({"metadata": {"name": "w"}, "spec": {"parallelism": 3},
        "status": {"startTime": ago(90)}});
    assert_eq!(
        row("batch", "jobs", &running)[1..4],
        ["Running", "0/1 of 3", "90s"]
    );
    let suspended = json!({"metadata": {"name": "s"},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    assert_eq!(
        row("batch", "jobs", &suspended)[1..4],
        ["Suspended", "0/1", ""]
    );

    let cron_job = json!({
        "metadata": {"name": "nightly", "creationTimestamp": ago(86_400 * 10)},
        "spec": {"schedule": "0 3 * * *", "timeZone": "Etc/UTC", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(3600)}
    });
    assert_eq!(
        row("batch", "cronjobs", &cron_job)[..7],
        [
            json!("nightly"),
            json!("0 3 * * *"),
            json!("Etc/UTC"),
            json!("False"),
            json!(1),
            json!("60m"),
            json!("10d")
        ]
    );
}

#[test]
fn service_with_node_ports() {
    let service = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(7200)},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "selector": {"app": "web", "tier": "front"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        row("", "services", &service),
        [
            "web",
            "NodePort",
            "10.96.0.10",
            "<none>",
            "80:30080/TCP,53/UDP",
            "120m",
            "app=web,tier=front"
        ]
    );
    let balancer = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
        "clusterIPs": ["10.96.0.11"], "externalIPs": ["192.0.2.9"]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.4"}]}}});
    let cells = row("", "services", &balancer);
    assert_eq!(cells[3], "203.0.113.4,lb.example.com,192.0.2.9");
    assert_eq!(cells[4], "<none>");
    let pending = json!({"metadata": {"name": "p"}, "spec": {"type": "LoadBalancer"}});
    assert_eq!(row("", "services", &pending)[2..4], ["<none>", "<pending>"]);
}

#[test]
fn endpoints_and_endpoint_slices_list_at_most_three() {
    let endpoints = json!({"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        row("", "endpoints", &endpoints)[1],
        "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    );
    let empty = json!({"metadata": {"name": "none"}});
    assert_eq!(row("", "endpoints", &empty)[1], "<none>");
    let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv6",
        "ports": [{"port": 80}, {"name": "https"}, {}],
        "endpoints": [{"addresses": ["fd00::1"]}]});
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", &slice)[1..4],
        ["IPv6", "80,https,*", "fd00::1"]
    );
}

#[test]
fn resource_quota_splits_requests_and_limits() {
    let quota = json!({
        "metadata": {"name": "compute", "creationTimestamp": ago(30)},
        "spec": {"hard": {"pods": "10"}},
        "status": {
            "hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi", "limits.cpu": "8"},
            "used": {"pods": "1", "requests.cpu": "0", "limits.cpu": "500m"}}
    });
    assert_eq!(
        row("", "resourcequotas", &quota),
        [
            "compute",
            "pods: 1/10, requests.cpu: 0/4",
            "limits.cpu: 500m/8, limits.memory: 0/8Gi",
            "30s"
        ]
    );
}

#[test]
fn core_events_and_events_api_share_columns() {
    assert_eq!(
        column_names("", "events"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let core_event = json!({
        "metadata": {"name": "web-0.17d"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(3600), "lastTimestamp": ago(60), "count": 12
    });
    assert_eq!(
        row("", "events", &core_event),
        [
            json!("60s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-0"),
            json!("spec.containers{app}"),
            json!("kubelet, node-1"),
            json!("Back-off restarting failed container"),
            json!("60m"),
            json!(12),
            json!("web-0.17d")
        ]
    );
    let new_event = json!({
        "metadata": {"name": "lease.1"},
        "regarding": {"kind": "Node", "name": "node-1"},
        "reason": "RegisteredNode", "type": "Normal", "note": "Registered",
        "reportingController": "node-controller", "eventTime": "2024-06-01T11:59:00.000000Z",
        "deprecatedFirstTimestamp": null
    });
    assert_eq!(
        row("events.k8s.io", "events", &new_event),
        [
            json!("60s"),
            json!("Normal"),
            json!("RegisteredNode"),
            json!("node/node-1"),
            json!(""),
            json!("node-controller"),
            json!("Registered"),
            json!("60s"),
            json!(1),
            json!("lease.1")
        ]
    );
    let series_event = json!({"metadata": {"name": "s"}, "eventTime": ago(600),
        "series": {"count": 5, "lastObservedTime": ago(10)}, "regarding": {"kind": "Pod"}});
    let cells = row("events.k8s.io", "events", &series_event);
    assert_eq!(cells[0], "10s");
    assert_eq!(cells[3], "pod");
    assert_eq!(cells[8], 5);
}

#[test]
fn default_printer_for_unknown_and_uncustomised_resources() {
    let role = json!({"metadata": {"name": "admin",
        "creationTimestamp": "2024-05-01T10:00:00+02:00"}});
    for (group, resource) in [
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("rbac.authorization.k8s.io", "roles"),
        ("", "limitranges"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("example.com", "widgets"),
    ] {
        assert_eq!(column_names(group, resource), ["Name", "Created At"]);
        assert_eq!(
            row(group, resource, &role),
            ["admin", "2024-05-01T08:00:00Z"]
        );
    }
    let columns = printer_for("example.com", "widgets").columns;
    assert_eq!(columns[0].format, "name");
    assert_eq!(columns[1].column_type, "date");
    let undated = json!({"metadata": {"name": "x"}});
    assert_eq!(
        row("", "limitranges", &undated),
        ["x", "0001-01-01T00:00:00Z"]
    );
}

#[test]
fn simple_core_objects() {
    let secret = json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        row("", "secrets", &secret)[..3],
        [json!("tls"), json!("kubernetes.io/tls"), json!(2)]
    );
    let config_map = json!({"metadata": {"name": "c"}, "data": {"a": "1"},
        "binaryData": {"b": ""}});
    assert_eq!(row("", "configmaps", &config_map)[1], 2);
    let account = json!({"metadata": {"name": "default"}, "secrets": [{"name": "t"}]});
    assert_eq!(row("", "serviceaccounts", &account)[1], 1);
    let namespace = json!({"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}});
    assert_eq!(row("", "namespaces", &namespace)[1], "Active");
    let lease = json!({"metadata": {"name": "kube-scheduler"},
        "spec": {"holderIdentity": "node-1_abc"}});
    assert_eq!(
        row("coordination.k8s.io", "leases", &lease)[1],
        "node-1_abc"
    );
}

#[test]
fn policy_scheduling_rbac_and_storage_objects() {
    let budget = json!({"metadata": {"name": "pdb"}, "spec": {"minAvailable": "50%"},
        "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        row("policy", "poddisruptionbudgets", &budget)[1..4],
        [json!("50%"), json!("N/A"), json!(1)]
    );
    let class = json!({"metadata": {"name": "high"}, "value": 1000, "globalDefault": false,
        "preemptionPolicy": "PreemptLowerPriority"});
    let cells = row("scheduling.k8s.io", "priorityclasses", &class);
    assert_eq!(cells[1..3], [json!(1000), json!(false)]);
    assert_eq!(cells[4], "PreemptLowerPriority");
    let binding = json!({"metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
            {"kind": "User", "name": "bob"}]});
    let cells = row("rbac.authorization.k8s.io", "rolebindings", &binding);
    assert_eq!(cells[1], "ClusterRole/view");
    assert_eq!(cells[3..], ["alice, bob", "devs", "ci/bot"]);
    let storage_class = json!({"metadata": {"name": "standard",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        row("storage.k8s.io", "storageclasses", &storage_class)[..5],
        [
            json!("standard (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false)
        ]
    );
    let claim = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv-1",
        "storageClassName": "standard", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]}});
    assert_eq!(
        row("", "persistentvolumeclaims", &claim)[1..],
        [
            "Bound",
            "pv-1",
            "1Gi",
            "RWO,RWOP",
            "standard",
            "<unset>",
            "<unknown>",
            "Filesystem"
        ]
    );
}

#[test]
fn horizontal_pod_autoscaler_targets() {
    let autoscaler = json!({
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "200Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "1k"}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}
    });
    assert_eq!(
        row("autoscaling", "horizontalpodautoscalers", &autoscaler)[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: 40%/80%, memory: <unknown>/200Mi + 1 more..."),
            json!("<unset>"),
            json!(5),
            json!(2)
        ]
    );
}

#[test]
fn every_printer_fills_every_column_for_an_empty_object() {
    let resources = [
        ("", "pods"),
        ("", "podtemplates"),
        ("", "replicationcontrollers"),
        ("", "nodes"),
        ("", "namespaces"),
        ("", "services"),
        ("", "endpoints"),
        ("", "secrets"),
        ("", "configmaps"),
        ("", "serviceaccounts"),
        ("", "resourcequotas"),
        ("", "events"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "daemonsets"),
        ("apps", "statefulsets"),
        ("apps", "controllerrevisions"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("policy", "poddisruptionbudgets"),
        ("events.k8s.io", "events"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("networking.k8s.io", "networkpolicies"),
        ("coordination.k8s.io", "leases"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("node.k8s.io", "runtimeclasses"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        ("storage.k8s.io", "storageclasses"),
    ];
    for (group, resource) in resources {
        let printer = printer_for(group, resource);
        assert!(
            printer.columns.len() > 2,
            "{group}/{resource} is customised"
        );
        let name_columns = printer
            .columns
            .iter()
            .filter(|column| column.format == "name")
            .count();
        assert_eq!(name_columns, 1, "{group}/{resource}");
        row(group, resource, &json!({}));
        row(group, resource, &Value::Null);
    }
}

#[test]
fn ingress_hosts_addresses_and_ports() {
    let ingress = json!({"metadata": {"name": "web"},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
            "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"},
                {"host": "c.example.com"}, {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.4"}]}}});
    assert_eq!(
        row("networking.k8s.io", "ingresses", &ingress)[1..5],
        [
            "nginx",
            "a.example.com,b.example.com,c.example.com + 2 more...",
            "203.0.113.4",
            "80, 443"
        ]
    );
}
