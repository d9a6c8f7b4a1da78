//! Namespace lifecycle: a namespace marked for deletion has its objects deleted (objects with
//! finalizers are marked and wait for them); once it is empty its `kubernetes` finalizer is
//! released and it goes.

use serde_json::{Value, json};
use std::sync::Arc;

use super::{Action, Stored, is_deleting};
use crate::objects;
use crate::objects::At as _;
use crate::tree::Tree;

/// The namespace finalizer the namespace controller owns.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

fn namespace_of_key(key: &[u8]) -> Option<String> {
    // /registry/<group>/<plural>/<namespace>/<name>: namespaced keys have five parts.
    let text = std::str::from_utf8(key).ok()?;
    let parts: Vec<&str> = text.trim_start_matches('/').split('/').collect();
    (parts.len() == 5).then(|| parts[3].to_string())
}

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let mut actions = Vec::new();
    for namespace in objects
        .iter()
        .filter(|s| s.object["kind"] == "Namespace" && is_deleting(&s.object))
    {
        let Some(name) = objects::name(&namespace.object) else {
            continue;
        };
        let contents: Vec<&Stored> = objects
            .iter()
            .map(|s| &**s)
            .filter(|s| namespace_of_key(&s.key).as_deref() == Some(name))
            .collect();
        if contents.is_empty() {
            actions.push(release_namespace(namespace));
            continue;
        }
        for item in contents {
            if !super::finalizers(&item.object).is_empty() {
                if !is_deleting(&item.object) {
                    let mut marked = item.object.to_value();
                    let metadata = objects::metadata_mut(&mut marked);
                    metadata.insert("deletionTimestamp".into(), json!(objects::now_rfc3339()));
                    metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
                    actions.push(Action::Update {
                        key: item.key.clone(),
                        revision: item.revision,
                        object: marked,
                    });
                }
                continue;
            }
            actions.push(Action::Delete {
                key: item.key.clone(),
                revision: item.revision,
            });
        }
    }
    actions
}

/// Drops the `kubernetes` spec finalizer; the namespace goes when nothing else holds it.
fn release_namespace(namespace: &Stored) -> Action {
    let cached = &namespace.object;
    let remaining: Vec<Value> = cached
        .at("/spec/finalizers")
        .and_then(Tree::as_array)
        .map(|f| {
            f.iter()
                .filter(|v| *v != KUBERNETES_FINALIZER)
                .map(Tree::to_value)
                .collect()
        })
        .unwrap_or_default();
    if remaining.is_empty() && super::finalizers(cached).is_empty() {
        return Action::Delete {
            key: namespace.key.clone(),
            revision: namespace.revision,
        };
    }
    let mut object = cached.to_value();
    object["spec"]["finalizers"] = json!(remaining);
    Action::Update {
        key: namespace.key.clone(),
        revision: namespace.revision,
        object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: &str, object: Value) -> Arc<Stored> {
        Arc::new(Stored {
            key: key.as_bytes().to_vec(),
            revision: 7,
            object: object.into(),
        })
    }

    #[test]
    fn a_terminating_namespace_empties_then_goes() {
        let namespace = stored(
            "/registry/core/namespaces/demo",
            json!({"kind":"Namespace",
            "metadata":{"name":"demo","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"finalizers":["kubernetes"]}}),
        );
        let held = stored(
            "/registry/core/configmaps/demo/held",
            json!({"kind":"ConfigMap","metadata":{"name":"held","finalizers":["example.com/x"]}}),
        );
        let plain = stored(
            "/registry/core/configmaps/demo/plain",
            json!({"kind":"ConfigMap","metadata":{"name":"plain"}}),
        );
        let elsewhere = stored(
            "/registry/core/configmaps/other/x",
            json!({"kind":"ConfigMap","metadata":{"name":"x"}}),
        );
        let actions = plan(&[namespace.clone(), held.clone(), plain.clone(), elsewhere]);
        assert_eq!(actions.len(), 2);
        assert!(actions.contains(&Action::Delete {
            key: plain.key.clone(),
            revision: 7
        }));
        assert!(
            matches!(&actions[0], Action::Update { key, object, .. } if *key == held.key && object["metadata"]["deletionTimestamp"].is_string())
        );
        assert_eq!(
            plan(std::slice::from_ref(&namespace)),
            vec![Action::Delete {
                key: namespace.key.clone(),
                revision: 7
            }]
        );
    }

    #[test]
    fn active_namespaces_are_left_alone() {
        let namespace = stored(
            "/registry/core/namespaces/demo",
            json!({"kind":"Namespace","metadata":{"name":"demo"}}),
        );
        let item = stored(
            "/registry/core/configmaps/demo/a",
            json!({"kind":"ConfigMap","metadata":{"name":"a"}}),
        );
        assert!(plan(&[namespace, item]).is_empty());
    }
}
