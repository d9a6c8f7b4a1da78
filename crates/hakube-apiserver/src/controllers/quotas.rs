//! Quota status: each ResourceQuota's `status.hard` mirrors its spec and `status.used` is
//! recounted from the objects in its namespace (admission raises `used` on create; this
//! lowers it after deletes and fixes any drift).

use super::{Action, Stored, key_parts};
use crate::admission::quota::recount;
use std::sync::Arc;

pub fn plan(objects: &[Arc<Stored>]) -> Vec<Action> {
    let mut actions = Vec::new();
    for quota in objects {
        let Some(("", "resourcequotas", Some(namespace), _)) = key_parts(&quota.key) else {
            continue;
        };
        let members = objects.iter().filter_map(|s| match key_parts(&s.key) {
            Some((group, plural, Some(ns), _)) if ns == namespace => {
                Some((group, plural, &s.object))
            }
            _ => None,
        });
        let status = recount(&quota.object, members);
        if !quota.object.get("status").is_some_and(|s| *s == status) {
            let mut updated = quota.object.to_value();
            updated["status"] = status;
            actions.push(Action::Update {
                key: quota.key.clone(),
                revision: quota.revision,
                object: updated,
            });
        }
    }
    actions
}
