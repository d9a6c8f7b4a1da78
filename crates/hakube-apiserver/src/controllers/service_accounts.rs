//! Every active namespace has a `default` ServiceAccount (pods run as it unless told
//! otherwise), as upstream's service account controller ensures.

use serde_json::json;
use std::sync::Arc;

use super::{Action, Stored, is_deleting, key_parts};
use crate::objects;

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let mut actions = Vec::new();
    for namespace in objects {
        let Some(("", "namespaces", None, name)) = key_parts(&namespace.key) else {
            continue;
        };
        if is_deleting(&namespace.object) {
            continue;
        }
        let key = format!("/registry/core/serviceaccounts/{name}/default");
        if objects.iter().any(|s| s.key == key.as_bytes()) {
            continue;
        }
        actions.push(Action::Create {
            key: key.into_bytes(),
            object: json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name, "uid": objects::new_uid(),
                    "creationTimestamp": objects::now_rfc3339()}}),
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_without_a_default_account_get_one() {
        let namespace = Arc::new(Stored {
            key: b"/registry/core/namespaces/demo".to_vec(),
            revision: 1,
            object: json!({"metadata":{"name":"demo"}}).into(),
        });
        let actions = plan(std::slice::from_ref(&namespace));
        assert!(
            matches!(&actions[..], [Action::Create { key, .. }] if key == b"/registry/core/serviceaccounts/demo/default")
        );
        let account = Arc::new(Stored {
            key: b"/registry/core/serviceaccounts/demo/default".to_vec(),
            revision: 2,
            object: json!({}).into(),
        });
        assert!(plan(&[namespace, account]).is_empty());
    }
}
