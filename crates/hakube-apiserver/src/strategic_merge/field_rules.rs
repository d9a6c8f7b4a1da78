//! Which fields deviate from the default patch strategy (maps merge, lists are
//! replaced), per kind and field path. Upstream reads this from Go struct tags; we have
//! no Go types, so the table is transcribed here.

use FieldStrategy::{MergeByKey, MergePrimitives, Replace};

use super::merger::Merger;

/// How a field deviates from the default (maps merge, lists are replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldStrategy {
    /// A list of objects merged item by item on this key (`patchStrategy:"merge"`).
    MergeByKey(&'static str),
    /// A list of scalars merged as an ordered set (`patchStrategy:"merge"`, no key).
    MergePrimitives,
    /// The patch value replaces the original whole, even a map (`patchStrategy:"replace"`).
    Replace,
}

/// One row of the strategy table.
struct FieldRule {
    /// The kind the rule is limited to; `None` applies to every kind.
    kind: Option<&'static str>,
    /// Trailing field names of the path, dot separated. List items add no segment, so
    /// `containers.ports` is the `ports` of any container.
    path_suffix: &'static str,
    strategy: FieldStrategy,
}

impl FieldRule {
    fn matches(&self, kind: &str, path: &[&str]) -> bool {
        if self.kind.is_some_and(|rule_kind| rule_kind != kind) {
            return false;
        }
        let suffix_length = self.suffix_length();
        path.len() >= suffix_length
            && self
                .path_suffix
                .split('.')
                .eq(path[path.len() - suffix_length..].iter().copied())
    }

    fn suffix_length(&self) -> usize {
        self.path_suffix.split('.').count()
    }

    /// Kind-specific rules beat generic ones, then longer suffixes beat shorter ones,
    /// so a new row can override an existing one without reordering the table.
    fn specificity(&self) -> (bool, usize) {
        (self.kind.is_some(), self.suffix_length())
    }
}

const fn any_kind(path_suffix: &'static str, strategy: FieldStrategy) -> FieldRule {
    FieldRule {
        kind: None,
        path_suffix,
        strategy,
    }
}

const fn for_kind(
    kind: &'static str,
    path_suffix: &'static str,
    strategy: FieldStrategy,
) -> FieldRule {
    FieldRule {
        kind: Some(kind),
        path_suffix,
        strategy,
    }
}

/// Fields whose patch strategy is not the default, transcribed from the
/// `patchStrategy`/`patchMergeKey` tags of `k8s.io/api`. Pod spec rows also cover pod
/// templates (Deployment, StatefulSet, Job, CronJob, ...) because they match by suffix.
/// `$retainKeys` needs no row: like upstream it is honoured wherever a patch sends it
/// (kubectl sends it for Deployment `spec.strategy` and pod `volumes` items).
const FIELD_RULES: &[FieldRule] = &[
    // ObjectMeta
    any_kind("metadata.finalizers", MergePrimitives),
    any_kind("metadata.ownerReferences", MergeByKey("uid")),
    // PodSpec
    any_kind("containers", MergeByKey("name")),
    any_kind("initContainers", MergeByKey("name")),
    any_kind("ephemeralContainers", MergeByKey("name")),
    any_kind("volumes", MergeByKey("name")),
    any_kind("imagePullSecrets", MergeByKey("name")),
    any_kind("hostAliases", MergeByKey("ip")),
    any_kind("topologySpreadConstraints", MergeByKey("topologyKey")),
    any_kind("resourceClaims", MergeByKey("name")),
    any_kind("schedulingGates", MergeByKey("name")),
    // Container, EphemeralContainer
    any_kind("containers.ports", MergeByKey("containerPort")),
    any_kind("initContainers.ports", MergeByKey("containerPort")),
    any_kind("ephemeralContainers.ports", MergeByKey("containerPort")),
    any_kind("env", MergeByKey("name")),
    any_kind("volumeMounts", MergeByKey("mountPath")),
    any_kind("volumeDevices", MergeByKey("devicePath")),
    // Status of Pod, Node, workloads, Namespace, PVC, ...
    any_kind("conditions", MergeByKey("type")),
    any_kind("status.podIPs", MergeByKey("ip")),
    any_kind("status.hostIPs", MergeByKey("ip")),
    any_kind("status.resourceClaimStatuses", MergeByKey("name")),
    // Kind-specific fields
    for_kind("Service", "spec.ports", MergeByKey("port")),
    for_kind("Node", "status.addresses", MergeByKey("type")),
    for_kind("Node", "spec.podCIDRs", MergePrimitives),
    for_kind("ServiceAccount", "secrets", MergeByKey("name")),
    for_kind("ServiceAccount", "imagePullSecrets", Replace),
    for_kind("PodDisruptionBudget", "spec.selector", Replace),
];

impl Merger<'_> {
    pub(super) fn strategy(&self, path: &[&str]) -> Option<FieldStrategy> {
        FIELD_RULES
            .iter()
            .filter(|rule| rule.matches(self.kind, path))
            .max_by_key(|rule| rule.specificity())
            .map(|rule| rule.strategy)
    }
}
