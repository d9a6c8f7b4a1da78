//! The unit tests of label and field selectors: parsing, matching and the exact error
//! messages, which follow upstream's wording.

use serde_json::{Map, Value, json};

use super::{FieldSelector, LabelSelector};
use crate::tree::Tree;

fn labels(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn label_selector(text: &str) -> LabelSelector {
    match LabelSelector::parse(text) {
        Ok(selector) => selector,
        Err(error) => panic!("{text:?} did not parse: {error}"),
    }
}

fn label_error(text: &str) -> String {
    match LabelSelector::parse(text) {
        Ok(selector) => panic!("{text:?} unexpectedly parsed: {selector:?}"),
        Err(error) => error.to_string(),
    }
}

fn field_selector(text: &str) -> FieldSelector {
    match FieldSelector::parse(text) {
        Ok(selector) => selector,
        Err(error) => panic!("{text:?} did not parse: {error}"),
    }
}

fn field_error(text: &str) -> String {
    match FieldSelector::parse(text) {
        Ok(selector) => panic!("{text:?} unexpectedly parsed: {selector:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn empty_label_selector_matches_everything() {
    for text in ["", "   "] {
        let selector = label_selector(text);
        assert!(selector.is_empty());
        assert!(selector.matches(&Map::new()));
    }
    assert!(!label_selector("a").is_empty());
}

#[test]
fn equality_operators() {
    let web = labels(json!({"app": "web", "tier": "front"}));
    let none = Map::new();
    for text in ["app=web", "app==web", " app = web "] {
        assert!(label_selector(text).matches(&web), "{text}");
        assert!(!label_selector(text).matches(&none), "{text}");
    }
    assert!(!label_selector("app=db").matches(&web));
    assert!(label_selector("app!=db").matches(&web));
    assert!(!label_selector("app!=web").matches(&web));
    assert!(
        label_selector("app!=web").matches(&none),
        "!= matches a missing label"
    );
}

#[test]
fn empty_value_requirement() {
    let selector = label_selector("app=");
    assert!(selector.matches(&labels(json!({"app": ""}))));
    assert!(!selector.matches(&labels(json!({"app": "x"}))));
    assert!(!selector.matches(&Map::new()));
}

#[test]
fn set_operators() {
    let selector = label_selector("tier in (front, back)");
    assert!(selector.matches(&labels(json!({"tier": "back"}))));
    assert!(!selector.matches(&labels(json!({"tier": "db"}))));
    assert!(!selector.matches(&Map::new()));

    let selector = label_selector("tier notin (front,back)");
    assert!(!selector.matches(&labels(json!({"tier": "front"}))));
    assert!(selector.matches(&labels(json!({"tier": "db"}))));
    assert!(
        selector.matches(&Map::new()),
        "notin matches a missing label"
    );
}

#[test]
fn set_with_empty_members() {
    let selector = label_selector("a in (,x)");
    assert!(selector.matches(&labels(json!({"a": ""}))));
    assert!(selector.matches(&labels(json!({"a": "x"}))));
    assert!(label_selector("a in ()").matches(&labels(json!({"a": ""}))));
}

#[test]
fn existence_operators() {
    let with = labels(json!({"canary": "true"}));
    let without = labels(json!({"app": "web"}));
    assert!(label_selector("canary").matches(&with));
    assert!(!label_selector("canary").matches(&without));
    assert!(label_selector("!canary").matches(&without));
    assert!(label_selector(" ! canary ").matches(&without));
    assert!(!label_selector("!canary").matches(&with));
}

#[test]
fn numeric_comparison_operators() {
    let five = labels(json!({"n": "5"}));
    assert!(label_selector("n>3").matches(&five));
    assert!(!label_selector("n>5").matches(&five));
    assert!(label_selector("n<6").matches(&five));
    assert!(!label_selector("n<3").matches(&labels(json!({"n": "x"}))));
    assert!(label_error("n>x").contains("for 'Gt', 'Lt' operators, the value must be an integer"));
}

#[test]
fn requirements_are_anded() {
    let selector = label_selector("app=web,tier in (front),!canary,env");
    assert!(selector.matches(&labels(
        json!({"app": "web", "tier": "front", "env": "prod"})
    )));
    assert!(!selector.matches(&labels(json!({"app": "web", "tier": "front"}))));
    assert!(!selector.matches(&labels(
        json!({"app": "web", "tier": "front", "env": "p", "canary": "1"})
    )));
}

#[test]
fn prefixed_keys() {
    let selector = label_selector("app.kubernetes.io/name=web,example.com/x notin (y)");
    assert!(selector.matches(&labels(json!({"app.kubernetes.io/name": "web"}))));
    assert!(!selector.matches(&labels(json!({"app.kubernetes.io/name": "db"}))));
}

#[test]
fn keywords_are_ordinary_words_outside_operator_position() {
    let selector = label_selector("in in (in, notin)");
    assert!(selector.matches(&labels(json!({"in": "notin"}))));
    assert!(label_selector("notin").matches(&labels(json!({"notin": "x"}))));
}

#[test]
fn label_syntax_errors() {
    assert_eq!(
        label_error("a,"),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        label_error(",a"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        label_error("a=b c"),
        "found 'c', expected: ',' or 'end of string'"
    );
    assert_eq!(
        label_error("!a=b"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert_eq!(
        label_error("a b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        label_error("a in b"),
        "unable to parse requirement: found 'b', expected: '('"
    );
    assert_eq!(
        label_error("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        label_error("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        label_error("!"),
        "unable to parse requirement: found '', expected: identifier"
    );
}

#[test]
fn label_key_and_value_validation() {
    assert_eq!(
        label_error("-a=b"),
        "unable to parse requirement: key: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
    assert_eq!(
        label_error("a=b@c"),
        "unable to parse requirement: values[0][a]: Invalid value: \"b@c\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    assert!(
        label_error(&format!("a={}", "v".repeat(64)))
            .contains("must be no more than 63 characters")
    );
    assert!(
        label_error(&format!("{}=v", "k".repeat(64)))
            .contains("name part must be no more than 63 characters")
    );
    assert!(label_error("Example.com/a=b").contains("prefix part a lowercase RFC 1123 subdomain"));
    assert!(label_error("/a").contains("prefix part must be non-empty"));
    assert!(label_error("a/").contains("name part must be non-empty"));
    assert!(label_error("a/b/c").contains("a qualified name must consist of"));
    assert!(LabelSelector::parse("a.b-c_d=E.f-1_2").is_ok());
}

#[test]
fn label_selector_object_match_labels_and_expressions() {
    let selector = LabelSelector::from_label_selector_object(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "team", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist", "values": []}
        ]
    }));
    let selector = match selector {
        Ok(selector) => selector,
        Err(error) => panic!("{error}"),
    };
    assert!(selector.matches(&labels(json!({"app": "web", "tier": "back", "team": "a"}))));
    assert!(!selector.matches(&labels(
        json!({"app": "web", "tier": "back", "team": "a", "env": "dev"})
    )));
    assert!(!selector.matches(&labels(
        json!({"app": "web", "tier": "back", "team": "a", "canary": "y"})
    )));
    assert!(!selector.matches(&labels(json!({"app": "web", "tier": "back"}))));

    // The same selector from a cached tree, matching objects' labels in place: as from
    // Values and label maps.
    let from_tree = LabelSelector::from_label_selector_object(&Tree::from(json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "team", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist", "values": []}
        ]
    })));
    assert_eq!(from_tree.as_ref().ok(), Some(&selector));
    for (pod_labels, selected) in [
        (json!({"app": "web", "tier": "back", "team": "a"}), true),
        (
            json!({"app": "web", "tier": "back", "team": "a", "env": "dev"}),
            false,
        ),
        (json!({"app": "web", "tier": "back"}), false),
        (json!(null), false),
    ] {
        let pod = json!({"metadata": {"labels": pod_labels}});
        assert_eq!(selector.matches_object(&pod), selected, "{pod}");
        assert_eq!(
            selector.matches_object(&Tree::from(&pod)),
            selected,
            "{pod}"
        );
    }
    let anything = label_selector("env!=dev");
    assert!(anything.matches_object(&Tree::from(json!({"metadata": {}}))));
    assert!(anything.matches_object(&Tree::from(json!({"metadata": {"labels": {"n": 1}}}))));
    assert!(!label_selector("n=1").matches_object(&json!({"metadata": {"labels": {"n": 2}}})));
    assert!(
        label_selector("n=1")
            .matches_object(&Tree::from(json!({"metadata": {"labels": {"n": 1}}})))
    );
}

#[test]
fn empty_or_absent_label_selector_object_matches_everything() {
    for object in [
        json!(null),
        json!({}),
        json!({"matchLabels": {}, "matchExpressions": []}),
    ] {
        let selector = LabelSelector::from_label_selector_object(&object);
        assert!(
            selector.as_ref().is_ok_and(LabelSelector::is_empty),
            "{object}"
        );
    }
}

#[test]
fn label_selector_object_errors() {
    let error = |object: Value| match LabelSelector::from_label_selector_object(&object) {
        Ok(selector) => panic!("{object} unexpectedly converted: {selector:?}"),
        Err(error) => error.to_string(),
    };
    assert_eq!(
        error(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
        "\"Gt\" is not a valid label selector operator"
    );
    assert_eq!(
        error(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        error(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
    );
    assert!(error(json!({"matchLabels": {"a b": "c"}})).starts_with("key: Invalid value: \"a b\""));
    assert!(error(json!({"matchLabels": {"a": 1}})).contains("must be a string"));
    assert!(error(json!("app=web")).contains("must be a JSON object"));
}

#[test]
fn field_selector_operators() {
    let pod = json!({"metadata": {"name": "p1", "namespace": "default"},
                     "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
    assert!(field_selector("metadata.name=p1").matches(&pod));
    assert!(field_selector("metadata.name==p1").matches(&pod));
    assert!(!field_selector("metadata.name=p2").matches(&pod));
    assert!(field_selector("status.phase!=Pending").matches(&pod));
    assert!(!field_selector("status.phase!=Running").matches(&pod));
    assert!(field_selector("metadata.namespace=default,spec.nodeName=n1").matches(&pod));
    assert!(!field_selector("metadata.namespace=default,spec.nodeName=n2").matches(&pod));
}

#[test]
fn empty_field_selector_matches_everything() {
    let selector = field_selector("");
    assert!(selector.is_empty());
    assert!(selector.matches(&json!({})));
    assert!(field_selector(",").is_empty());
}

#[test]
fn missing_fields_read_as_empty() {
    let event = json!({"involvedObject": {"kind": "Node", "name": "n1"}, "type": "Normal"});
    assert!(field_selector("involvedObject.namespace=").matches(&event));
    assert!(field_selector("involvedObject.kind=Node,type=Normal").matches(&event));
    assert!(!field_selector("involvedObject.namespace=default").matches(&event));
    assert!(field_selector("involvedObject.namespace!=default").matches(&event));
}

#[test]
fn booleans_and_numbers_compare_as_json_text() {
    let node = json!({"spec": {"unschedulable": true}, "status": {"replicas": 3}});
    assert!(field_selector("spec.unschedulable=true").matches(&node));
    assert!(field_selector("status.replicas=3").matches(&node));
    assert!(!field_selector("spec.unschedulable=false").matches(&json!({"spec": {}})));
}

#[test]
fn field_value_escapes() {
    let object = json!({"metadata": {"name": "a,b=c\\d"}});
    let selector = field_selector("metadata.name=a\\,b\\=c\\\\d");
    assert_eq!(selector.required_value("metadata.name"), Some("a,b=c\\d"));
    assert!(selector.matches(&object));
    assert_eq!(
        field_error("a=b\\x"),
        "invalid field selector: invalid escape sequence: \\x"
    );
    assert_eq!(
        field_error("a=b\\"),
        "invalid field selector: invalid escape sequence: \\"
    );
    assert_eq!(
        field_error("a=b=c"),
        "invalid field selector: unescaped character in value: '='"
    );
}

#[test]
fn field_selector_errors() {
    assert_eq!(
        field_error("abc"),
        "invalid selector: 'abc'; can't understand 'abc'"
    );
    assert_eq!(
        field_error("a=b,=c"),
        "invalid selector: 'a=b,=c'; can't understand '=c'"
    );
    assert_eq!(
        field_error("x!y"),
        "invalid selector: 'x!y'; can't understand 'x!y'"
    );
}

#[test]
fn required_value_and_fields() {
    let selector = field_selector("metadata.namespace!=kube-system,metadata.name=web");
    assert_eq!(selector.required_value("metadata.name"), Some("web"));
    assert_eq!(selector.required_value("metadata.namespace"), None);
    assert_eq!(
        selector.fields().collect::<Vec<_>>(),
        ["metadata.namespace", "metadata.name"]
    );
}
