use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::Deployment;
use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod};
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

const POD: &str = include_str!("fixtures/pod.json");
const DEPLOYMENT: &str = include_str!("fixtures/deployment.json");
const NODE: &str = include_str!("fixtures/node.json");
const SIMULATED_POD: &str = include_str!("fixtures/pod_simulated.json");

fn parsed(text: &str) -> (Tree, Value) {
    let tree: Tree = serde_json::from_str(text).expect("a tree");
    let value: Value = serde_json::from_str(text).expect("a value");
    (tree, value)
}

#[test]
fn a_node_is_three_words() {
    assert_eq!(std::mem::size_of::<Tree>(), 24);
}

#[test]
fn decoded_trees_equal_the_values_and_encode_alike() {
    for text in [
        POD,
        SIMULATED_POD,
        DEPLOYMENT,
        NODE,
        r#"[1, -2, 2.5, "x", null, true, {}, []]"#,
    ] {
        let (tree, value) = parsed(text);
        assert_eq!(tree, value);
        assert_eq!(tree, Tree::from(&value));
        assert_eq!(tree, Tree::from(value.clone()));
        assert_eq!(tree.to_value(), value);
        assert_eq!(
            serde_json::to_string(&tree).expect("encodes"),
            serde_json::to_string(&value).expect("encodes")
        );
        assert_eq!(tree.to_string(), value.to_string());
    }
}

#[test]
fn lookups_read_like_values() {
    let (tree, value) = parsed(POD);
    assert_eq!(tree["metadata"]["name"], "scale-6d9f7c8b5-x7k2p");
    assert_eq!(
        tree["spec"]["containers"][0]["name"].as_str(),
        Some("pause")
    );
    assert!(tree["spec"]["missing"]["deeper"].is_null());
    assert!(tree["spec"]["containers"][7].is_null());
    assert_eq!(tree.get("nope"), None);
    assert_eq!(
        tree["spec"]["terminationGracePeriodSeconds"].as_i64(),
        Some(30)
    );
    assert_eq!(tree["spec"]["priority"].as_u64(), Some(0));
    assert_eq!(tree["spec"]["enableServiceLinks"].as_bool(), Some(true));
    assert_eq!(tree["status"]["phase"], value["status"]["phase"]);
    for pointer in [
        "",
        "/spec/tolerations/1/key",
        "/spec/volumes/0/projected/sources/2",
        "/spec/tolerations/01",
        "/spec/tolerations/+1",
        "/metadata/managedFields/0/fieldsV1/f:metadata/f:ownerReferences/k:{\"uid\":\"0f1e6c8a-3b7d-4c52-9a41-7e2d5b8c9f10\"}",
        "/nothing/here",
        "no-slash",
    ] {
        assert_eq!(
            tree.pointer(pointer).map(Tree::to_value).as_ref(),
            value.pointer(pointer)
        );
        assert_eq!(
            tree.at(pointer).map(Tree::to_value).as_ref(),
            value.at(pointer)
        );
    }
    let escaped = Tree::from(json!({"a/b": {"c~d": 1}}));
    assert_eq!(escaped.at("/a~1b/c~0d").and_then(Tree::as_i64), Some(1));
    let keys: Vec<&str> = tree["metadata"]["labels"]
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, _)| &**k)
        .collect();
    assert_eq!(keys, ["app", "pod-template-hash"]);
}

#[test]
fn objects_come_sorted_with_the_last_of_duplicate_keys() {
    let tree: Tree =
        serde_json::from_str(r#"{"b": 1, "a": 2, "c": {"z": 0, "y": 1}, "a": 3}"#).expect("a tree");
    let value: Value = serde_json::from_str(r#"{"b": 1, "a": 2, "c": {"z": 0, "y": 1}, "a": 3}"#)
        .expect("a value");
    assert_eq!(tree, value);
    assert_eq!(tree["a"], Tree::from(json!(3)));
    assert_eq!(tree["c"]["y"].as_i64(), Some(1));
}

#[test]
fn the_stored_form_leaves_out_managed_fields_and_carries_the_revision() {
    let tree = Tree::from_stored(POD.as_bytes(), 42).expect("decodes");
    let mut value: Value = serde_json::from_str(POD).expect("a value");
    let metadata = value["metadata"].as_object_mut().expect("an object");
    metadata.remove("managedFields");
    metadata.insert("resourceVersion".into(), json!("42"));
    assert_eq!(tree, value);

    // A stored resourceVersion (there should be none) does not win over the revision; only
    // the top-level metadata is touched.
    let stored = br#"{"metadata": {"resourceVersion": "1", "managedFields": []},
        "spec": {"metadata": {"managedFields": [1]}}}"#;
    let tree = Tree::from_stored(stored, 7).expect("decodes");
    assert_eq!(
        tree,
        json!({"metadata": {"resourceVersion": "7"},
            "spec": {"metadata": {"managedFields": [1]}}})
    );
    let without_metadata = Tree::from_stored(br#"{"kind": "X"}"#, 7).expect("decodes");
    assert_eq!(without_metadata, json!({"kind": "X"}));
    assert!(Tree::from_stored(b"{} trailing", 7).is_err());
    assert!(Tree::from_stored(b"not json", 7).is_err());
}

#[test]
fn typed_reads_from_a_tree_equal_those_from_a_value() {
    for pod in [POD, SIMULATED_POD] {
        let (tree, value) = parsed(pod);
        let from_tree = Pod::deserialize(&tree).expect("a pod");
        assert_eq!(
            from_tree,
            serde_json::from_value::<Pod>(value).expect("a pod")
        );
        assert!(from_tree.metadata.managed_fields.is_some());
    }

    let (tree, value) = parsed(DEPLOYMENT);
    let from_tree = Deployment::deserialize(&tree).expect("a deployment");
    assert_eq!(
        from_tree,
        serde_json::from_value::<Deployment>(value).expect("a deployment")
    );
    let strategy = from_tree.spec.strategy.as_ref();
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    assert!(rolling.is_some_and(|r| r.max_surge.is_some() && r.max_unavailable.is_some()));

    let (tree, value) = parsed(NODE);
    let from_tree = Node::deserialize(&tree).expect("a node");
    assert_eq!(
        from_tree,
        serde_json::from_value::<Node>(value).expect("a node")
    );

    // The same refusals: a wrong type is an error either way.
    let wrong = json!({"metadata": {"name": 5}});
    assert!(Pod::deserialize(&Tree::from(&wrong)).is_err());
    assert!(serde_json::from_value::<Pod>(wrong).is_err());
}

#[derive(Debug, PartialEq, Deserialize)]
enum Shape {
    Point,
    Circle(f64),
    Pair(i32, i32),
    Rect { w: u8, h: u8 },
}

#[derive(Debug, PartialEq, Deserialize)]
struct Everything<'a> {
    shapes: Vec<Shape>,
    by_number: BTreeMap<u32, bool>,
    by_flag: BTreeMap<bool, i8>,
    maybe: Option<String>,
    absent: Option<String>,
    #[serde(borrow)]
    borrowed: &'a str,
    tuple: (u8, String),
    unit: (),
    ignored: serde::de::IgnoredAny,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[test]
fn every_serde_shape_reads_as_from_a_value() {
    let value = json!({
        "shapes": ["Point", {"Circle": 1.5}, {"Pair": [1, -2]}, {"Rect": {"w": 2, "h": 3}}],
        "by_number": {"1": true, "20": false},
        "by_flag": {"true": -1},
        "maybe": null,
        "borrowed": "text",
        "tuple": [7, "seven"],
        "unit": null,
        "ignored": {"anything": [1, 2]},
        "extra": {"kept": true}
    });
    let tree = Tree::from(&value);
    let from_tree = Everything::deserialize(&tree).expect("reads");
    let from_value = Everything::deserialize(&value).expect("reads");
    assert_eq!(from_tree, from_value);
    assert_eq!(from_tree.rest["extra"], json!({"kept": true}));

    for bad in [
        json!({"Circle": 1.0, "Point": null}),
        json!({}),
        json!(5),
        json!({"Rect": {"w": 300, "h": 1}}),
    ] {
        let tree_error = Shape::deserialize(&Tree::from(&bad)).map_err(|e| e.to_string());
        let value_error = Shape::deserialize(&bad).map_err(|e| e.to_string());
        assert!(tree_error.is_err());
        assert_eq!(tree_error, value_error, "{bad}");
    }
    let short: Result<(u8, u8), _> = <(u8, u8)>::deserialize(&Tree::from(json!([1, 2, 3])));
    assert!(short.is_err(), "an array longer than the tuple is refused");
}

#[test]
fn trees_compare_with_values_and_strings() {
    let tree = Tree::from(json!({"a": [1, "x", null], "b": 1.0}));
    assert_eq!(tree, json!({"a": [1, "x", null], "b": 1.0}));
    assert_ne!(tree, json!({"a": [1, "x", null], "b": 1}));
    assert_ne!(tree, json!({"a": [1, "x", null]}));
    assert_ne!(tree, json!({"a": [1, "x", null], "c": 1.0}));
    assert_eq!(tree["a"][1], "x");
    assert!(tree["a"][1] == *"x");
    assert_ne!(tree["a"][0], "1");
}
