//! OpenAPI v3 schemas of the built-in kinds, generated from the k8s-openapi types (their
//! schemars support), with upstream's `x-kubernetes-group-version-kind` on each kind so that
//! `kubectl explain` finds them. Computed once.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// (group, version, kind, schema name) of every typed kind.
pub type KindSchema = (&'static str, &'static str, &'static str, String);

pub struct Schemas {
    /// Every schema by its upstream name (`io.k8s.api.core.v1.Pod`).
    pub definitions: Map<String, Value>,
    pub kinds: Vec<KindSchema>,
}

macro_rules! collect {
    ($(($group:literal, $version:literal, $kind:literal, $type:ty),)*) => {
        fn generate() -> Schemas {
            let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
            let mut kinds = Vec::new();
            $(
                generator.subschema_for::<$type>();
                kinds.push(($group, $version, $kind, <$type as schemars::JsonSchema>::schema_name().into_owned()));
            )*
            let mut definitions = generator.take_definitions(true);
            for (group, version, kind, name) in &kinds {
                if let Some(schema) = definitions.get_mut(name).and_then(Value::as_object_mut) {
                    schema.insert("x-kubernetes-group-version-kind".into(),
                        json!([{"group": group, "version": version, "kind": kind}]));
                }
            }
            Schemas { definitions, kinds }
        }
    };
}

crate::kinds::for_each_kind!(collect);

pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(generate)
}

/// `name` and every schema it references, transitively (what one group version's document
/// must carry).
pub fn closure(names: &[String]) -> Map<String, Value> {
    let all = &schemas().definitions;
    let mut found = Map::new();
    let mut pending: Vec<String> = names.to_vec();
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        let Some(schema) = all.get(&name) else {
            continue;
        };
        collect_references(schema, &mut pending);
        found.insert(name, schema.clone());
    }
    found
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                into.push(name.to_string());
            }
            map.values().for_each(|v| collect_references(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_have_their_kind_and_references() {
        let schemas = schemas();
        let pod = &schemas.definitions["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        let closure = closure(&["io.k8s.api.core.v1.Pod".to_string()]);
        assert!(closure.contains_key("io.k8s.api.core.v1.PodSpec"));
        assert!(closure.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }
}
