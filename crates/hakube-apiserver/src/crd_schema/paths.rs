//! Field-path building shared by all passes.
//!
//! apimachinery's `field.Path` renders children as `a.b`, map keys as `a[k]`
//! and indices as `a[0]`; kube-openapi names values the same way except that
//! map entries are `a.k`. Both start from an empty root, so the helpers treat
//! an empty parent as "no prefix".

/// `parent.name`, or just `name` at the root (and `parent` for an empty name,
/// which is how kube-openapi names the value itself).
pub(crate) fn child(parent: &str, name: &str) -> String {
    match (parent.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => parent.to_string(),
        (false, false) => format!("{parent}.{name}"),
    }
}

/// `parent[key]`, as `field.Path.Key` renders map keys and schema property names.
pub(crate) fn key(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// `parent[index]`.
pub(crate) fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
