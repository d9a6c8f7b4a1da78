//! How many pods a PodDisruptionBudget expects when it is stated as maxUnavailable or as a
//! percentage: upstream takes the replica count of the pods' controllers (a ReplicaSet's
//! Deployment, a ReplicaSet, a StatefulSet, a ReplicationController), not the pods that exist,
//! so a pod being evicted, or gone and not yet replaced, does not lower what is demanded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Stored, key_parts};
use crate::objects::At as _;
use crate::tree::{Json, Tree};

/// The controllers of one namespace, by (kind, name).
pub struct Controllers<'a> {
    by_name: HashMap<(&'static str, &'a str), &'a Tree>,
}

const KINDS: [(&str, &str, &str); 4] = [
    ("apps", "deployments", "Deployment"),
    ("apps", "replicasets", "ReplicaSet"),
    ("apps", "statefulsets", "StatefulSet"),
    ("", "replicationcontrollers", "ReplicationController"),
];

fn controller_of<J: Json>(object: &J) -> Option<(&str, &str)> {
    let references = object.at("/metadata/ownerReferences")?.as_array()?;
    let controller = references
        .iter()
        .find(|r| r.get("controller").and_then(J::as_bool) == Some(true))?;
    Some((
        controller.get("kind")?.as_str()?,
        controller.get("name")?.as_str()?,
    ))
}

impl<'a> Controllers<'a> {
    pub fn of(objects: &'a [Arc<Stored>], namespace: &str) -> Self {
        let mut by_name = HashMap::new();
        for stored in objects {
            let Some((group, resource, Some(ns), name)) = key_parts(&stored.key) else {
                continue;
            };
            if ns != namespace {
                continue;
            }
            if let Some((_, _, kind)) = KINDS.iter().find(|(g, r, _)| *g == group && *r == resource)
            {
                by_name.insert((*kind, name), &stored.object);
            }
        }
        Controllers { by_name }
    }

    /// The summed replicas of the controllers of `pods`; `None` when a pod has no such
    /// controller (the caller then counts the pods).
    pub fn scale<J: Json>(&self, pods: &[&J]) -> Option<i64> {
        let mut counted: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for pod in pods {
            let (kind, name) = controller_of(*pod)?;
            // One of the kinds with a scale (as the map's `'static` name), else no count.
            let kind = KINDS.iter().map(|(_, _, k)| *k).find(|k| *k == kind)?;
            let mut owner = (kind, name);
            let mut object = *self.by_name.get(&owner)?;
            // A Deployment's pods count by the Deployment, not by each ReplicaSet of a rollout.
            if kind == "ReplicaSet"
                && let Some(("Deployment", deployment)) = controller_of(object)
                && let Some(found) = self.by_name.get(&("Deployment", deployment))
            {
                owner = ("Deployment", deployment);
                object = found;
            }
            let replicas = object
                .at("/spec/replicas")
                .and_then(Tree::as_i64)
                .unwrap_or(1);
            counted.insert(owner, replicas);
        }
        Some(counted.values().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::stored;
    use serde_json::{Value, json};

    fn owned(kind: &str, name: &str) -> Value {
        json!({"metadata": {"ownerReferences": [{"kind": kind, "name": name, "controller": true}]}})
    }

    #[test]
    fn pods_count_by_their_controllers_replicas() {
        let mut replica_set = owned("Deployment", "web");
        replica_set["spec"] = json!({"replicas": 2});
        let objects = [
            stored(
                "/registry/apps/deployments/default/web",
                json!({"spec": {"replicas": 3}}),
            ),
            stored(
                "/registry/apps/replicasets/default/web-1",
                replica_set.clone(),
            ),
            stored("/registry/apps/replicasets/default/web-2", replica_set),
            stored(
                "/registry/apps/statefulsets/default/db",
                json!({"spec": {"replicas": 2}}),
            ),
            stored(
                "/registry/apps/statefulsets/other/db",
                json!({"spec": {"replicas": 9}}),
            ),
        ];
        let controllers = Controllers::of(&objects, "default");
        let (a, b) = (owned("ReplicaSet", "web-1"), owned("ReplicaSet", "web-2"));
        let c = owned("StatefulSet", "db");
        // Two ReplicaSets of one rollout count once, by their Deployment.
        assert_eq!(controllers.scale(&[&a, &b]), Some(3));
        assert_eq!(controllers.scale(&[&a, &c, &c]), Some(5));
        let bare = json!({"metadata": {}});
        assert_eq!(controllers.scale(&[&a, &bare]), None);
        assert_eq!(controllers.scale(&[&owned("Job", "j")]), None);
    }
}
