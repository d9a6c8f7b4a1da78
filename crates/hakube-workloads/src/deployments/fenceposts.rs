//! How far a rolling update may go above (maxSurge) and below (maxUnavailable) the desired
//! replicas, resolved like upstream: percentages of the desired count, surge rounded up,
//! unavailability rounded down, and 1 unavailable when both come out at 0 (a rollout must be
//! able to move).

use hakube_kinds::k8s_openapi::api::apps::v1::Deployment;
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The API server's default for both bounds.
const DEFAULT_BOUND: &str = "25%";

/// Whether the Deployment rolls (the default strategy) rather than recreates.
pub fn is_rolling_update(deployment: &Deployment) -> bool {
    let strategy = deployment.spec.strategy.as_ref();
    strategy.and_then(|strategy| strategy.type_.as_deref()) != Some("Recreate")
}

/// The desired replica count (default 1).
pub fn desired_replicas(deployment: &Deployment) -> i32 {
    deployment.spec.replicas.unwrap_or(1)
}

/// Pods allowed above the desired count during a rolling update (0 for Recreate).
pub fn max_surge(deployment: &Deployment) -> i32 {
    if !is_rolling_update(deployment) {
        return 0;
    }
    resolve(deployment).0
}

/// Pods allowed below the desired count during a rolling update (0 for Recreate or when no
/// replica is desired), never more than the desired count.
pub fn max_unavailable(deployment: &Deployment) -> i32 {
    let desired = desired_replicas(deployment);
    if !is_rolling_update(deployment) || desired == 0 {
        return 0;
    }
    resolve(deployment).1.min(desired)
}

fn resolve(deployment: &Deployment) -> (i32, i32) {
    let rolling = deployment
        .spec
        .strategy
        .as_ref()
        .and_then(|strategy| strategy.rolling_update.as_ref());
    let default = IntOrString::String(DEFAULT_BOUND.to_string());
    let surge_bound = rolling
        .and_then(|rolling| rolling.max_surge.as_ref())
        .unwrap_or(&default);
    let unavailable_bound = rolling
        .and_then(|rolling| rolling.max_unavailable.as_ref())
        .unwrap_or(&default);
    let desired = desired_replicas(deployment);
    let surge = scaled_value(surge_bound, desired, true);
    let unavailable = scaled_value(unavailable_bound, desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// An int as is, a percentage of `total` rounded as asked; an unparsable one (validation
/// rejects them) as 0.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    let percent = match value {
        IntOrString::Int(value) => return *value,
        IntOrString::String(text) => text
            .strip_suffix('%')
            .and_then(|digits| digits.parse::<i64>().ok()),
    };
    let Some(percent) = percent else {
        return 0;
    };
    let scaled = percent * i64::from(total);
    let rounded = if round_up {
        scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0)
    } else {
        scaled.div_euclid(100)
    };
    i32::try_from(rounded).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::apps::v1::{DeploymentStrategy, RollingUpdateDeployment};

    fn rolling(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        let mut deployment = Deployment::default();
        deployment.spec.replicas = Some(replicas);
        deployment.spec.strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        });
        deployment
    }

    fn percent(value: &str) -> IntOrString {
        IntOrString::String(value.into())
    }

    #[test]
    fn surge_rounds_up_and_unavailability_down() {
        let deployment = rolling(10, percent("25%"), percent("25%"));
        assert_eq!(
            (max_surge(&deployment), max_unavailable(&deployment)),
            (3, 2)
        );
        let four = rolling(4, percent("25%"), percent("25%"));
        assert_eq!((max_surge(&four), max_unavailable(&four)), (1, 1));
    }

    #[test]
    fn both_zero_allows_one_unavailable() {
        let deployment = rolling(3, percent("10%"), percent("10%"));
        assert_eq!(
            (max_surge(&deployment), max_unavailable(&deployment)),
            (1, 0)
        );
        let zero = rolling(3, IntOrString::Int(0), percent("10%"));
        assert_eq!((max_surge(&zero), max_unavailable(&zero)), (0, 1));
    }

    #[test]
    fn unavailability_is_capped_by_the_desired_count_and_recreate_has_no_bounds() {
        let deployment = rolling(2, IntOrString::Int(0), IntOrString::Int(5));
        assert_eq!(max_unavailable(&deployment), 2);
        let mut recreate = rolling(2, IntOrString::Int(1), IntOrString::Int(1));
        recreate.spec.strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
    }

    #[test]
    fn missing_bounds_take_the_api_defaults() {
        let mut deployment = Deployment::default();
        deployment.spec.replicas = Some(4);
        assert!(is_rolling_update(&deployment));
        assert_eq!(
            (max_surge(&deployment), max_unavailable(&deployment)),
            (1, 1)
        );
    }
}
