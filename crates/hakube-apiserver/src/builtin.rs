//! The built-in resource types hakube serves, in upstream's discovery order (kubectl lists
//! `get all` in this order), with upstream's short names, categories and subresources.

use crate::resources::{ALL_VERBS, ExtraSubresource, ResourceType, Subresources};

const STATUS: Subresources = Subresources {
    status: true,
    scale: false,
};
const STATUS_AND_SCALE: Subresources = Subresources {
    status: true,
    scale: true,
};
const NONE: Subresources = Subresources {
    status: false,
    scale: false,
};

struct Spec {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    all: bool,
    subresources: Subresources,
}

const fn spec(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: Subresources,
) -> Spec {
    Spec {
        group,
        version,
        plural,
        singular: "",
        kind,
        namespaced,
        short_names,
        all: false,
        subresources,
    }
}

/// In the `all` category (what `kubectl get all` lists).
const fn all(mut spec: Spec) -> Spec {
    spec.all = true;
    spec
}

const NAMESPACED: bool = true;
const CLUSTER: bool = false;

const SPECS: &[Spec] = &[
    spec("", "v1", "bindings", "Binding", NAMESPACED, &[], NONE),
    spec(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        NAMESPACED,
        &["cm"],
        NONE,
    ),
    spec(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        NAMESPACED,
        &["ep"],
        NONE,
    ),
    spec("", "v1", "events", "Event", NAMESPACED, &["ev"], NONE),
    spec(
        "",
        "v1",
        "limitranges",
        "LimitRange",
        NAMESPACED,
        &["limits"],
        NONE,
    ),
    spec(
        "",
        "v1",
        "namespaces",
        "Namespace",
        CLUSTER,
        &["ns"],
        STATUS,
    ),
    spec("", "v1", "nodes", "Node", CLUSTER, &["no"], STATUS),
    spec(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        NAMESPACED,
        &["pvc"],
        STATUS,
    ),
    spec(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        CLUSTER,
        &["pv"],
        STATUS,
    ),
    all(spec("", "v1", "pods", "Pod", NAMESPACED, &["po"], STATUS)),
    spec(
        "",
        "v1",
        "podtemplates",
        "PodTemplate",
        NAMESPACED,
        &[],
        NONE,
    ),
    all(spec(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        NAMESPACED,
        &["rc"],
        STATUS_AND_SCALE,
    )),
    spec(
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        NAMESPACED,
        &["quota"],
        STATUS,
    ),
    spec("", "v1", "secrets", "Secret", NAMESPACED, &[], NONE),
    spec(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        NAMESPACED,
        &["sa"],
        NONE,
    ),
    all(spec(
        "",
        "v1",
        "services",
        "Service",
        NAMESPACED,
        &["svc"],
        STATUS,
    )),
    spec(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        CLUSTER,
        &["crd", "crds"],
        STATUS,
    ),
    spec(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        NAMESPACED,
        &[],
        NONE,
    ),
    all(spec(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        NAMESPACED,
        &["ds"],
        STATUS,
    )),
    all(spec(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        NAMESPACED,
        &["deploy"],
        STATUS_AND_SCALE,
    )),
    all(spec(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        NAMESPACED,
        &["rs"],
        STATUS_AND_SCALE,
    )),
    all(spec(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        NAMESPACED,
        &["sts"],
        STATUS_AND_SCALE,
    )),
    spec(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        NAMESPACED,
        &[],
        NONE,
    ),
    spec(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        CLUSTER,
        &[],
        NONE,
    ),
    all(spec(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        NAMESPACED,
        &["hpa"],
        STATUS,
    )),
    all(spec(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        NAMESPACED,
        &["cj"],
        STATUS,
    )),
    all(spec("batch", "v1", "jobs", "Job", NAMESPACED, &[], STATUS)),
    spec(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        NAMESPACED,
        &[],
        NONE,
    ),
    spec(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        NAMESPACED,
        &[],
        NONE,
    ),
    spec(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        NAMESPACED,
        &["ev"],
        NONE,
    ),
    spec(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        NAMESPACED,
        &["ing"],
        STATUS,
    ),
    spec(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        NAMESPACED,
        &["netpol"],
        NONE,
    ),
    spec(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        NAMESPACED,
        &["pdb"],
        STATUS,
    ),
    spec(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        NAMESPACED,
        &[],
        NONE,
    ),
    spec(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        NAMESPACED,
        &[],
        NONE,
    ),
    spec(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        CLUSTER,
        &["pc"],
        NONE,
    ),
    spec(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        CLUSTER,
        &["sc"],
        NONE,
    ),
    spec(
        "metrics.k8s.io",
        "v1beta1",
        "nodes",
        "NodeMetrics",
        CLUSTER,
        &[],
        NONE,
    ),
    spec(
        "metrics.k8s.io",
        "v1beta1",
        "pods",
        "PodMetrics",
        NAMESPACED,
        &[],
        NONE,
    ),
];

/// Types that are computed per request and never stored: only `create`.
const CREATE_ONLY: &[&str] = &[
    "bindings",
    "selfsubjectreviews",
    "tokenreviews",
    "localsubjectaccessreviews",
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "subjectaccessreviews",
];

/// Groups computed per request and never stored, which only `get` and `list` read
/// (metrics.k8s.io: the node agents' usage, `handlers/metrics_api.rs`).
const READ_ONLY_GROUPS: &[&str] = &["metrics.k8s.io"];

fn extra_subresources(group: &str, plural: &str) -> Vec<ExtraSubresource> {
    let pod = |name, verbs| ExtraSubresource {
        name,
        group: "",
        version: "v1",
        kind: "Pod",
        verbs,
    };
    match (group, plural) {
        ("", "pods") => vec![
            pod("attach", &["create", "get"]),
            ExtraSubresource {
                name: "binding",
                group: "",
                version: "v1",
                kind: "Binding",
                verbs: &["create"],
            },
            ExtraSubresource {
                name: "eviction",
                group: "policy",
                version: "v1",
                kind: "Eviction",
                verbs: &["create"],
            },
            pod("exec", &["create", "get"]),
            pod("log", &["get"]),
            pod("portforward", &["create", "get"]),
        ],
        ("", "serviceaccounts") => vec![ExtraSubresource {
            name: "token",
            group: "authentication.k8s.io",
            version: "v1",
            kind: "TokenRequest",
            verbs: &["create"],
        }],
        _ => Vec::new(),
    }
}

fn singular(spec: &Spec) -> String {
    if spec.singular.is_empty() {
        spec.kind.to_lowercase()
    } else {
        spec.singular.to_string()
    }
}

pub fn types() -> Vec<ResourceType> {
    SPECS
        .iter()
        .map(|spec| {
            let create_only = CREATE_ONLY.contains(&spec.plural);
            let read_only = READ_ONLY_GROUPS.contains(&spec.group);
            ResourceType {
                group: spec.group.into(),
                version: spec.version.into(),
                plural: spec.plural.into(),
                singular: singular(spec),
                kind: spec.kind.into(),
                namespaced: spec.namespaced,
                short_names: spec.short_names.iter().map(|s| s.to_string()).collect(),
                categories: if spec.all {
                    vec!["all".into()]
                } else {
                    Vec::new()
                },
                subresources: spec.subresources,
                extra_subresources: extra_subresources(spec.group, spec.plural),
                verbs: if create_only {
                    vec!["create"]
                } else if read_only {
                    vec!["get", "list"]
                } else {
                    ALL_VERBS.to_vec()
                },
                stored: !create_only && !read_only,
                custom: None,
            }
        })
        .collect()
}
