//! Defaulting like upstream's `SetDefaults_*`: the fields a Kubernetes user sees filled in on
//! objects they did not set (replicas, strategies, restart and pull policies, protocols…).

use serde_json::{Map, Value, json};

use crate::objects::At as _;
use crate::resources::ResourceType;

/// Sets `key` to `value` in `map` when it is absent or null.
fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.into(), value);
    }
}

fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut current = value;
    for key in path {
        current = current.get_mut(*key)?;
    }
    current.as_object_mut()
}

/// Ensures `value[path]` is an object (creating it) and returns it.
fn ensure_object<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut current = value;
    for key in path {
        let map = current.as_object_mut()?;
        if !map.get(*key).is_some_and(Value::is_object) {
            map.insert((*key).into(), json!({}));
        }
        current = map.get_mut(*key)?;
    }
    current.as_object_mut()
}

pub fn apply(resource: &ResourceType, object: &mut Value) {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Pod") => {
            if let Some(spec) = object_at(object, &["spec"]) {
                pod_spec(spec);
                pod_only(spec);
            }
            if let Some(status) = ensure_object(object, &["status"]) {
                default(status, "phase", json!("Pending"));
            }
        }
        ("", "PodTemplate") => template(object, &["template"]),
        ("", "ReplicationController") => {
            replicas(object);
            template(object, &["spec", "template"]);
        }
        ("apps", "Deployment") => deployment(object),
        ("apps", "ReplicaSet") => {
            replicas(object);
            template(object, &["spec", "template"]);
        }
        ("apps", "StatefulSet") => statefulset(object),
        ("apps", "DaemonSet") => daemonset(object),
        ("batch", "Job") => job(object, &["spec"]),
        ("batch", "CronJob") => cronjob(object),
        ("", "Service") => service(object),
        ("", "Namespace") => namespace(object),
        ("", "Secret") => {
            if let Some(map) = object.as_object_mut() {
                default(map, "type", json!("Opaque"));
            }
        }
        ("", "Node") => {
            if let Some(status) = ensure_object(object, &["status"])
                && let Some(capacity) = status.get("capacity").cloned()
            {
                default(status, "allocatable", capacity);
            }
        }
        _ => {}
    }
}

/// Upstream's pod create strategy: a pod created with scheduling gates says so in a False
/// PodScheduled condition (reason SchedulingGated), which `kubectl get pods` shows as its
/// status. Only on create: afterwards the scheduler owns the condition.
pub fn scheduling_gated_condition(pod: &mut Value) {
    let gated = pod
        .at("/spec/schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|gates| !gates.is_empty());
    if !gated {
        return;
    }
    let Some(status) = ensure_object(pod, &["status"]) else {
        return;
    };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(conditions) = conditions.as_array_mut() else {
        return;
    };
    if conditions.iter().any(|c| c["type"] == "PodScheduled") {
        return;
    }
    conditions.push(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "SchedulingGated",
        "message": "Scheduling is blocked due to non-empty scheduling gates",
        "lastProbeTime": null,
        "lastTransitionTime": crate::objects::now_rfc3339(),
    }));
}

fn replicas(object: &mut Value) {
    if let Some(spec) = object_at(object, &["spec"]) {
        default(spec, "replicas", json!(1));
    }
}

fn template(object: &mut Value, path: &[&str]) {
    let mut spec_path = path.to_vec();
    spec_path.push("spec");
    if let Some(spec) = object_at(object, &spec_path) {
        pod_spec(spec);
    }
}

fn deployment(object: &mut Value) {
    replicas(object);
    if let Some(spec) = object_at(object, &["spec"]) {
        default(spec, "revisionHistoryLimit", json!(10));
        default(spec, "progressDeadlineSeconds", json!(600));
        let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
        if let Some(strategy) = strategy.as_object_mut() {
            default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Some(rolling) = rolling.as_object_mut() {
                    default(rolling, "maxUnavailable", json!("25%"));
                    default(rolling, "maxSurge", json!("25%"));
                }
            }
        }
    }
    template(object, &["spec", "template"]);
}

fn statefulset(object: &mut Value) {
    replicas(object);
    if let Some(spec) = object_at(object, &["spec"]) {
        default(spec, "podManagementPolicy", json!("OrderedReady"));
        default(spec, "revisionHistoryLimit", json!(10));
        default(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        default(
            spec,
            "persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
    }
    template(object, &["spec", "template"]);
}

fn daemonset(object: &mut Value) {
    if let Some(spec) = object_at(object, &["spec"]) {
        default(spec, "revisionHistoryLimit", json!(10));
        default(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        );
    }
    template(object, &["spec", "template"]);
}

fn job(object: &mut Value, spec_path: &[&str]) {
    if let Some(spec) = object_at(object, spec_path) {
        // Upstream: both unset means one pod to completion; a parallelism alone means a work
        // queue (completions stays unset).
        if spec.get("parallelism").is_none_or(Value::is_null)
            && spec.get("completions").is_none_or(Value::is_null)
        {
            default(spec, "completions", json!(1));
        }
        default(spec, "parallelism", json!(1));
        default(spec, "backoffLimit", json!(6));
        default(spec, "completionMode", json!("NonIndexed"));
        default(spec, "suspend", json!(false));
        default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    job_selector(object, spec_path);
    let mut template_path = spec_path.to_vec();
    template_path.push("template");
    template(object, &template_path);
    let mut pod_spec_path = template_path;
    pod_spec_path.push("spec");
    if let Some(pod) = object_at(object, &pod_spec_path) {
        // Jobs' pods never restart in place unless asked (the pod default is Always).
        if pod.get("restartPolicy") == Some(&json!("Always")) {
            pod.insert("restartPolicy".into(), json!("Never"));
        }
    }
}

/// A new Job selects its pods by its own uid, as upstream's Job strategy does (not for a
/// CronJob's template, whose Jobs get their own uid when created).
fn job_selector(object: &mut Value, spec_path: &[&str]) {
    if spec_path.len() != 1 {
        return;
    }
    let Some(uid) = object
        .at("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let Some(spec) = object_at(object, spec_path) else {
        return;
    };
    if spec.get("selector").is_some_and(|s| !s.is_null()) {
        return;
    }
    spec.insert(
        "selector".into(),
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    if let Some(labels) = ensure_object(object, &["spec", "template", "metadata", "labels"]) {
        default(labels, "batch.kubernetes.io/controller-uid", json!(uid));
        default(labels, "controller-uid", json!(uid));
    }
}

fn cronjob(object: &mut Value) {
    if let Some(spec) = object_at(object, &["spec"]) {
        default(spec, "concurrencyPolicy", json!("Allow"));
        default(spec, "suspend", json!(false));
        default(spec, "successfulJobsHistoryLimit", json!(3));
        default(spec, "failedJobsHistoryLimit", json!(1));
    }
    job(object, &["spec", "jobTemplate", "spec"]);
}

fn service(object: &mut Value) {
    let Some(spec) = object_at(object, &["spec"]) else {
        return;
    };
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    default(spec, "ipFamilyPolicy", json!("SingleStack"));
    default(spec, "ipFamilies", json!(["IPv4"]));
    default(spec, "internalTrafficPolicy", json!("Cluster"));
    if matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    ) {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(port, "protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                default(port, "targetPort", number);
            }
        }
    }
}

fn namespace(object: &mut Value) {
    if let Some(spec) = ensure_object(object, &["spec"]) {
        default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = ensure_object(object, &["status"]) {
        default(status, "phase", json!("Active"));
    }
}

/// A pod spec's defaults (pods and every pod template).
fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                container_defaults(container);
            }
        }
    }
}

/// What pods get and their templates do not: admission's priority and service account, and
/// a negative grace period made 1 second.
fn pod_only(spec: &mut Map<String, Value>) {
    at_least_one_second_of_grace(spec);
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    default(spec, "priority", json!(0));
    if spec.contains_key("serviceAccountName") || spec.contains_key("serviceAccount") {
        let name = spec
            .get("serviceAccountName")
            .or_else(|| spec.get("serviceAccount"))
            .cloned()
            .unwrap_or(json!("default"));
        spec.insert("serviceAccountName".into(), name.clone());
        spec.insert("serviceAccount".into(), name);
    } else {
        spec.insert("serviceAccountName".into(), json!("default"));
        spec.insert("serviceAccount".into(), json!("default"));
    }
}

/// A negative `terminationGracePeriodSeconds` is invalid, yet upstream (1.27+, PR 115606)
/// stores 1 for it on a Pod's create and update rather than refusing it, so that a pod still
/// gets a graceful stop; it did so in the Pod conversion and since moved it to defaulting,
/// for Pods only (a template keeps its value and gets a warning).
fn at_least_one_second_of_grace(spec: &mut Map<String, Value>) {
    if spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|grace| grace < 0)
    {
        spec.insert("terminationGracePeriodSeconds".into(), json!(1));
    }
}

fn container_defaults(container: &mut Map<String, Value>) {
    default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    default(container, "terminationMessagePolicy", json!("File"));
    default(container, "resources", json!({}));
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    default(container, "imagePullPolicy", json!(pull_policy(image)));
    if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(port, "protocol", json!("TCP"));
        }
    }
}

/// `Always` for `:latest` or untagged images (which may change), else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn a_gated_pod_is_created_with_the_scheduling_gated_condition() {
        let mut gated = json!({"spec": {"schedulingGates": [{"name": "g"}]}, "status": {}});
        scheduling_gated_condition(&mut gated);
        let conditions = gated["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["reason"], "SchedulingGated");
        assert_eq!(conditions[0]["status"], "False");
        let mut free = json!({"spec": {"schedulingGates": []}, "status": {}});
        scheduling_gated_condition(&mut free);
        assert!(free["status"].get("conditions").is_none());
    }

    fn defaulted(group: &str, kind: &str, mut object: Value) -> Value {
        let resource = Registry::with_builtin().by_kind(group, kind).unwrap();
        apply(&resource, &mut object);
        object
    }

    #[test]
    fn a_deployment_gets_upstream_defaults() {
        let object = defaulted(
            "apps",
            "Deployment",
            json!({"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}),
        );
        assert_eq!(object["spec"]["replicas"], 1);
        assert_eq!(
            object["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            "25%"
        );
        let container = &object["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            object["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
    }

    #[test]
    fn a_pods_negative_termination_grace_period_is_one_second_not_a_templates() {
        let spec = |grace: i64| {
            json!({"terminationGracePeriodSeconds": grace,
            "containers": [{"name": "c", "image": "busybox:1.36"}]})
        };
        let pod = defaulted("", "Pod", json!({"spec": spec(-5)}));
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 1);
        let immediate = defaulted("", "Pod", json!({"spec": spec(0)}));
        assert_eq!(
            immediate["spec"]["terminationGracePeriodSeconds"], 0,
            "0 is valid"
        );
        // Upstream coerces Pods only; templates keep the value (and get a warning there).
        let deployment = defaulted(
            "apps",
            "Deployment",
            json!({"spec": {"template": {"spec": spec(-5)}}}),
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            -5
        );
        let template = defaulted("", "PodTemplate", json!({"template": {"spec": spec(-5)}}));
        assert_eq!(
            template["template"]["spec"]["terminationGracePeriodSeconds"],
            -5
        );
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx:1.27"), "IfNotPresent");
    }

    #[test]
    fn service_ports_default_their_target_port() {
        let object = defaulted("", "Service", json!({"spec":{"ports":[{"port":80}]}}));
        assert_eq!(object["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(object["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(object["spec"]["type"], "ClusterIP");
    }
}
