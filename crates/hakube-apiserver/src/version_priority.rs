//! Upstream's order of API versions ("kube-aware" version strings): `v2` before `v1` before
//! `v1beta2` before `v1beta1` before `v1alpha1`, and any version not of that form after them,
//! alphabetically. Discovery prefers the first.

use std::cmp::Ordering;

/// A `vMAJOR[(alpha|beta)MINOR]` version: (major, stability: 2 GA, 1 beta, 0 alpha, minor).
fn parse(version: &str) -> Option<(u64, u8, u64)> {
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    let rest = version.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major = number(&rest[..digits])?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = match tail.strip_prefix("beta") {
        Some(minor) => (1, minor),
        None => (0, tail.strip_prefix("alpha")?),
    };
    Some((major, stability, number(minor)?))
}

/// `Less` when `a` comes first (has the higher priority).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some((major_a, stable_a, minor_a)), Some((major_b, stable_b, minor_b))) => stable_b
            .cmp(&stable_a)
            .then(major_b.cmp(&major_a))
            .then(minor_b.cmp(&minor_a)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_order() {
        let mut versions = vec![
            "foo1",
            "v1alpha1",
            "v1beta1",
            "v10",
            "v1",
            "v2beta1",
            "v11alpha2",
            "v12alpha1",
            "v2",
            "v3beta1",
            "foo10",
            "v1beta2",
        ];
        versions.sort_by(|a, b| compare(a, b));
        assert_eq!(
            versions,
            [
                "v10",
                "v2",
                "v1",
                "v3beta1",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "v1alpha1",
                "foo1",
                "foo10"
            ]
        );
    }
}
