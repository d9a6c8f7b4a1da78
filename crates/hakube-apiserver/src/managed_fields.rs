//! Field ownership (`metadata.managedFields`), what server-side apply builds on: each manager
//! owns the fields it set (`Apply`) or changed (`Update`), as upstream's FieldsV1 sets. Applying
//! a value another manager owns is a conflict (409) unless forced; a field an applier stops
//! applying is removed unless someone else owns it.
//!
//! Simplifications against upstream's structured-merge-diff: list items are keyed by the first
//! of the usual merge keys they all carry (`name`, `containerPort`, `port`, `mountPath`, …),
//! lists of scalars are sets, other lists are atomic; metadata other than labels and
//! annotations, and status, are not tracked.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::objects::At as _;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    Field(String),
    /// A list item by its key fields (their JSON object).
    Key(String),
    /// A scalar list item by its JSON value.
    Value(String),
}

pub type Path = Vec<Element>;

/// The fields one manager owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

const KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "type",
    "uid",
    "topologyKey",
];

fn item_key(items: &[Value]) -> Option<&'static str> {
    KEYS.iter()
        .copied()
        .find(|key| !items.is_empty() && items.iter().all(|item| item.get(key).is_some()))
}

fn key_of(item: &Value, key: &str) -> String {
    json!({key: item.get(key).cloned().unwrap_or(Value::Null)}).to_string()
}

fn walk(value: &Value, path: &mut Path, into: &mut BTreeSet<Path>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, child) in map {
                path.push(Element::Field(name.clone()));
                walk(child, path, into);
                path.pop();
            }
        }
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
        {
            for item in items {
                path.push(Element::Value(item.to_string()));
                into.insert(path.clone());
                path.pop();
            }
        }
        Value::Array(items) => match item_key(items) {
            Some(key) => {
                for item in items {
                    path.push(Element::Key(key_of(item, key)));
                    into.insert(path.clone());
                    walk(item, path, into);
                    path.pop();
                }
            }
            None => {
                into.insert(path.clone());
            }
        },
        _ => {
            into.insert(path.clone());
        }
    }
}

/// The tracked fields an object or an applied configuration sets.
pub fn fields(object: &Value) -> FieldSet {
    let mut set = BTreeSet::new();
    let Some(map) = object.as_object() else {
        return FieldSet(set);
    };
    for (name, value) in map {
        match name.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for part in ["labels", "annotations"] {
                    if let Some(inner) = value.get(part) {
                        let mut path = vec![
                            Element::Field("metadata".into()),
                            Element::Field(part.into()),
                        ];
                        walk(inner, &mut path, &mut set);
                    }
                }
            }
            _ => {
                let mut path = vec![Element::Field(name.clone())];
                walk(value, &mut path, &mut set);
            }
        }
    }
    // A key element without its fields marks the item itself; an empty map is a leaf.
    FieldSet(set)
}

/// The value at `path`, if present.
pub fn value_at<'a>(object: &'a Value, path: &[Element]) -> Option<&'a Value> {
    let mut current = object;
    for element in path {
        current = match element {
            Element::Field(name) => current.get(name)?,
            Element::Key(key) => {
                let key: Map<String, Value> = serde_json::from_str(key).ok()?;
                current
                    .as_array()?
                    .iter()
                    .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))?
            }
            Element::Value(value) => {
                let value: Value = serde_json::from_str(value).ok()?;
                current.as_array()?.iter().find(|item| **item == value)?
            }
        };
    }
    Some(current)
}

/// Removes the value at `path` (a field, a keyed item, a set member).
pub fn remove_at(object: &mut Value, path: &[Element]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = object;
    for element in parent_path {
        let next = match element {
            Element::Field(name) => parent.get_mut(name),
            Element::Key(key) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(key) else {
                    return;
                };
                parent.as_array_mut().and_then(|items| {
                    items
                        .iter_mut()
                        .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
                })
            }
            Element::Value(_) => None,
        };
        let Some(next) = next else { return };
        parent = next;
    }
    match last {
        Element::Field(name) => {
            if let Some(map) = parent.as_object_mut() {
                map.remove(name);
            }
        }
        Element::Key(key) => {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(key) else {
                return;
            };
            if let Some(items) = parent.as_array_mut() {
                items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
            }
        }
        Element::Value(value) => {
            let Ok(value) = serde_json::from_str::<Value>(value) else {
                return;
            };
            if let Some(items) = parent.as_array_mut() {
                items.retain(|item| *item != value);
            }
        }
    }
}

/// Upstream's path notation for messages: `.spec.containers[name="web"].image`.
pub fn describe(path: &[Element]) -> String {
    path.iter()
        .map(|element| match element {
            Element::Field(name) => format!(".{name}"),
            Element::Key(key) => {
                let key: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            Element::Value(value) => format!("[={value}]"),
        })
        .collect()
}

fn prefix(element: &Element) -> String {
    match element {
        Element::Field(name) => format!("f:{name}"),
        Element::Key(key) => format!("k:{key}"),
        Element::Value(value) => format!("v:{value}"),
    }
}

/// The FieldsV1 form (`{"f:spec":{"f:replicas":{}}}`, with `"."` marking a kept list item).
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in &set.0 {
        let mut node = &mut root;
        for element in path {
            let key = prefix(element);
            if node.get(&key).is_none() {
                node[key.as_str()] = json!({});
            }
            node = &mut node[key.as_str()];
        }
        if matches!(path.last(), Some(Element::Key(_))) {
            node["."] = json!({});
        }
    }
    root
}

fn parse_element(text: &str) -> Option<Element> {
    let (kind, rest) = text.split_at_checked(2)?;
    match kind {
        "f:" => Some(Element::Field(rest.into())),
        "k:" => Some(Element::Key(
            serde_json::from_str::<Value>(rest).ok()?.to_string(),
        )),
        "v:" => Some(Element::Value(
            serde_json::from_str::<Value>(rest).ok()?.to_string(),
        )),
        _ => None,
    }
}

fn read_v1(node: &Map<String, Value>, path: &mut Path, into: &mut BTreeSet<Path>) {
    if node.is_empty() || node.contains_key(".") {
        into.insert(path.clone());
    }
    for (text, child) in node {
        let (Some(element), Some(child)) = (parse_element(text), child.as_object()) else {
            continue;
        };
        path.push(element);
        read_v1(child, path, into);
        path.pop();
    }
}

pub fn from_fields_v1(value: &Value) -> FieldSet {
    let mut set = BTreeSet::new();
    if let Some(map) = value.as_object() {
        for (text, child) in map {
            if let (Some(element), Some(child)) = (parse_element(text), child.as_object()) {
                read_v1(child, &mut vec![element], &mut set);
            }
        }
    }
    FieldSet(set)
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

pub fn entries(object: &Value) -> Vec<Entry> {
    object
        .at("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            operation: e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            api_version: e
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            time: e
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

pub fn set_entries(object: &mut Value, entries: &[Entry]) {
    let rendered: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.0.is_empty())
        .map(|e| {
            let mut entry = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields)});
            if let Some(sub) = &e.subresource {
                entry["subresource"] = json!(sub);
            }
            entry
        })
        .collect();
    let metadata = crate::objects::metadata_mut(object);
    if rendered.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), json!(rendered));
    }
}

/// A field another manager owns with a different value than the one applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: Path,
}

/// Conflicts of applying `config` as `manager` onto `current`.
pub fn conflicts(current: &Value, config: &Value, manager: &str) -> Vec<Conflict> {
    let applied = fields(config);
    let mut found = Vec::new();
    for entry in entries(current).iter().filter(|e| e.manager != manager) {
        for path in applied.0.intersection(&entry.fields.0) {
            if value_at(current, path) != value_at(config, path)
                && !matches!(path.last(), Some(Element::Key(_)))
            {
                found.push(Conflict {
                    manager: entry.manager.clone(),
                    api_version: entry.api_version.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    found
}

/// Records a non-apply write by `manager`: it owns what it changed; others lose those fields;
/// nobody keeps fields the object no longer has.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let present = fields(new);
    let changed: BTreeSet<Path> = present
        .0
        .iter()
        .filter(|path| old.and_then(|o| value_at(o, path)) != value_at(new, path))
        .cloned()
        .collect();
    // A request that sets managedFields itself (kubectl's upgrade from client-side to
    // server-side apply does) is taken at its word.
    let explicit = new.at("/metadata/managedFields");
    let mut list = match (explicit, old.and_then(|o| o.at("/metadata/managedFields"))) {
        (Some(given), previous) if Some(given) != previous => entries(new),
        _ => old.map(entries).unwrap_or_default(),
    };
    for entry in &mut list {
        entry.fields.0.retain(|p| {
            present.0.contains(p) && (entry.manager == manager || !changed.contains(p))
        });
    }
    if !changed.is_empty() {
        let now = crate::objects::now_rfc3339();
        match list.iter_mut().find(|e| {
            e.manager == manager
                && e.operation == "Update"
                && e.subresource.as_deref() == subresource
        }) {
            Some(entry) => {
                entry.fields.0.extend(changed);
                entry.time = now;
                entry.api_version = api_version.into();
            }
            None => list.push(Entry {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: api_version.into(),
                time: now,
                subresource: subresource.map(str::to_string),
                fields: FieldSet(changed),
            }),
        }
    }
    set_entries(new, &list);
}

/// Server-side apply of `config` by `manager` onto `current` (None: creating). `merge` merges
/// the configuration into an object. Conflicting fields move to the applier when `force`.
pub fn apply(
    current: Option<&Value>,
    config: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    merge: impl Fn(&Value, &Value) -> Result<Value, String>,
) -> Result<Value, Result<Vec<Conflict>, String>> {
    let base = current.cloned().unwrap_or_else(|| json!({}));
    let found = conflicts(&base, config, manager);
    if !found.is_empty() && !force {
        return Err(Ok(found));
    }
    let applied = fields(config);
    let mut list = entries(&base);
    let previous = list
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<Path> = list
        .iter()
        .filter(|e| e.manager != manager)
        .flat_map(|e| e.fields.0.iter().cloned())
        .collect();
    let mut object = base.clone();
    // Fields this applier set before and no longer applies go, unless someone else owns them.
    for dropped in previous.0.difference(&applied.0) {
        if !others.contains(dropped) && !others.iter().any(|o| o.starts_with(dropped)) {
            remove_at(&mut object, dropped);
        }
    }
    let mut object = merge(&object, config).map_err(Err)?;
    for entry in &mut list {
        if entry.manager != manager && force {
            entry
                .fields
                .0
                .retain(|p| !found.iter().any(|c| &c.path == p));
        }
    }
    list.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    list.push(Entry {
        manager: manager.into(),
        operation: "Apply".into(),
        api_version: api_version.into(),
        time: crate::objects::now_rfc3339(),
        subresource: None,
        fields: applied,
    });
    set_entries(&mut object, &list);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(a: &Value, b: &Value) -> Result<Value, String> {
        crate::strategic_merge::apply(a, b, "Deployment").map_err(|e| e.to_string())
    }

    #[test]
    fn fields_round_trip_through_fields_v1() {
        let object = json!({"metadata":{"name":"x","labels":{"app":"web"}},"spec":{"replicas":3,
            "template":{"spec":{"containers":[{"name":"web","image":"nginx"}]}}},"status":{"replicas":1}});
        let set = fields(&object);
        let v1 = to_fields_v1(&set);
        assert_eq!(v1["f:spec"]["f:replicas"], json!({}));
        assert_eq!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["."],
            json!({})
        );
        assert!(v1.get("f:status").is_none());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn a_second_applier_conflicts_unless_forced() {
        let config = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}});
        let created = apply(None, &config, "alice", "apps/v1", false, merge).unwrap();
        let other = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5}});
        let conflicts = apply(Some(&created), &other, "bob", "apps/v1", false, merge)
            .unwrap_err()
            .unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            (conflicts[0].manager.as_str(), describe(&conflicts[0].path)),
            ("alice", ".spec.replicas".to_string())
        );
        let forced = apply(Some(&created), &other, "bob", "apps/v1", true, merge).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        let owners: Vec<String> = entries(&forced)
            .iter()
            .filter(|e| {
                e.fields.0.contains(&vec![
                    Element::Field("spec".into()),
                    Element::Field("replicas".into()),
                ])
            })
            .map(|e| e.manager.clone())
            .collect();
        assert_eq!(owners, vec!["bob"]);
        // The same value is shared, not a conflict.
        let same = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}});
        assert!(apply(Some(&created), &same, "carol", "apps/v1", false, merge).is_ok());
    }

    #[test]
    fn fields_an_applier_drops_are_removed() {
        let first = json!({"metadata":{"name":"web","labels":{"a":"1","b":"2"}}});
        let created = apply(None, &first, "alice", "v1", false, merge).unwrap();
        let second = json!({"metadata":{"name":"web","labels":{"a":"1"}}});
        let updated = apply(Some(&created), &second, "alice", "v1", false, merge).unwrap();
        assert_eq!(updated["metadata"]["labels"], json!({"a":"1"}));
    }

    #[test]
    fn an_update_takes_the_fields_it_changes() {
        let config = json!({"metadata":{"name":"web"},"spec":{"replicas":3}});
        let created = apply(None, &config, "alice", "apps/v1", false, merge).unwrap();
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(4);
        record_update(
            Some(&created),
            &mut scaled,
            "kubectl-scale",
            "apps/v1",
            None,
        );
        let conflicts = conflicts(&scaled, &config, "alice");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].manager, "kubectl-scale");
    }
}
