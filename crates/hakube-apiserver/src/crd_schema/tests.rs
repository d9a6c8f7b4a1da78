//! Behaviour tests for the public API, built around the CronTab example CRD
//! from the Kubernetes documentation, extended with the keywords hakube
//! supports. Expected messages are upstream's wording.

use serde_json::{Value, json};

use super::{Problem, check_structural, default_and_prune, validate};

const CRON: &str = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";

fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec"],
                "properties": {
                    "cronSpec": {"type": "string", "pattern": CRON},
                    "image": {"type": "string", "maxLength": 20},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "protocol": {"type": "string", "enum": ["TCP", "UDP"]},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "schedule": {"type": "string", "format": "date-time"},
                    "payload": {"type": "string", "format": "byte"},
                    "weight": {"type": "integer", "format": "int32"},
                    "note": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}
                        }
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
                    "config": {
                        "type": "object",
                        "default": {"mode": "fast"},
                        "properties": {"mode": {"type": "string"}, "level": {"type": "integer", "default": 3}}
                    },
                    "extra": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    },
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    })
}

fn crontab(spec: Value) -> Value {
    json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "my-new-cron-object"},
        "spec": spec
    })
}

fn messages(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

fn only(problems: Vec<Problem>) -> Problem {
    assert_eq!(problems.len(), 1, "{:#?}", messages(&problems));
    problems.into_iter().next().unwrap()
}

#[test]
fn crontab_schema_is_structural() {
    assert_eq!(
        messages(&check_structural(&crontab_schema())),
        Vec::<String>::new()
    );
}

#[test]
fn valid_crontab_passes_and_nothing_is_pruned() {
    let mut object =
        crontab(json!({"cronSpec": "* * * * */5", "image": "my-awesome-image", "replicas": 3}));
    let before = object.clone();
    assert!(default_and_prune(&mut object, &crontab_schema()).is_empty());
    assert_eq!(object["spec"]["replicas"], 3);
    assert_eq!(object["metadata"], before["metadata"]);
    assert!(
        validate(&object, &crontab_schema()).is_empty(),
        "{:?}",
        validate(&object, &crontab_schema())
    );
}

#[test]
fn wrong_type_is_reported_like_upstream() {
    let object = crontab(json!({"cronSpec": "* * * * *", "replicas": "abc"}));
    let problem = only(validate(&object, &crontab_schema()));
    assert_eq!(problem.field, "spec.replicas");
    assert_eq!(problem.reason, "FieldValueTypeInvalid");
    assert_eq!(
        problem.message,
        r#"Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
    assert_eq!(
        problem.to_string(),
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
}

#[test]
fn out_of_range_replicas() {
    let high = only(validate(
        &crontab(json!({"cronSpec": "* * * * *", "replicas": 11})),
        &crontab_schema(),
    ));
    assert_eq!(high.reason, "FieldValueInvalid");
    assert_eq!(
        high.message,
        "Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    );
    let low = only(validate(
        &crontab(json!({"cronSpec": "* * * * *", "replicas": 0})),
        &crontab_schema(),
    ));
    assert_eq!(
        low.message,
        "Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
    );
    // 2.0 decodes as a float64 but is accepted as an integer, as upstream
    assert!(
        validate(
            &crontab(json!({"cronSpec": "* * * * *", "replicas": 2.0})),
            &crontab_schema()
        )
        .is_empty()
    );
}

#[test]
fn missing_required_field() {
    let problem = only(validate(&crontab(json!({"image": "x"})), &crontab_schema()));
    assert_eq!(
        (
            problem.field.as_str(),
            problem.reason,
            problem.message.as_str()
        ),
        ("spec.cronSpec", "FieldValueRequired", "Required value")
    );
}

#[test]
fn pattern_mismatch() {
    let problem = only(validate(
        &crontab(json!({"cronSpec": "every minute"})),
        &crontab_schema(),
    ));
    assert_eq!(problem.field, "spec.cronSpec");
    assert_eq!(
        problem.message,
        format!(r#"Invalid value: "every minute": spec.cronSpec in body should match '{CRON}'"#)
    );
}

#[test]
fn unknown_fields_are_pruned_and_reported() {
    let mut object = crontab(
        json!({"cronSpec": "* * * * *", "foo": 1, "bar": {"x": 1}, "ports": [{"name": "a", "junk": true}]}),
    );
    object["status"] = json!({"ready": true, "phase": "Running"});
    object["metadata"]["whatever"] = json!("kept: metadata is not pruned here");
    object["stray"] = json!(1);
    let pruned = default_and_prune(&mut object, &crontab_schema());
    assert_eq!(
        pruned,
        [
            "spec.bar",
            "spec.foo",
            "spec.ports[0].junk",
            "status.phase",
            "stray"
        ]
    );
    assert_eq!(object["spec"].get("foo"), None);
    assert_eq!(object["spec"]["ports"], json!([{"name": "a"}]));
    assert_eq!(object["status"], json!({"ready": true}));
    assert_eq!(
        object["metadata"]["whatever"],
        "kept: metadata is not pruned here"
    );
    assert_eq!(object["apiVersion"], "stable.example.com/v1");
}

#[test]
fn preserve_unknown_fields_subtree_is_kept() {
    let extra = json!({"free": {"deep": [1, 2]}, "inner": {"a": "x", "b": 2}});
    let template = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"anything": 1}});
    let mut object =
        crontab(json!({"cronSpec": "* * * * *", "extra": extra, "template": template.clone()}));
    let pruned = default_and_prune(&mut object, &crontab_schema());
    assert_eq!(
        pruned,
        ["spec.extra.inner.b"],
        "declared properties are still pruned inside"
    );
    assert_eq!(object["spec"]["extra"]["free"], json!({"deep": [1, 2]}));
    assert_eq!(object["spec"]["template"], template);
    assert!(validate(&object, &crontab_schema()).is_empty());
}

#[test]
fn defaults_are_applied() {
    let mut object = crontab(json!({"cronSpec": "* * * * *", "image": null, "labels": {}}));
    assert!(default_and_prune(&mut object, &crontab_schema()).is_empty());
    assert_eq!(object["spec"]["replicas"], 1);
    assert_eq!(
        object["spec"]["config"],
        json!({"mode": "fast", "level": 3}),
        "defaults inside defaults apply"
    );
    assert_eq!(
        object["spec"].get("image"),
        None,
        "a non-nullable null without default is dropped"
    );

    let mut null_replicas =
        crontab(json!({"cronSpec": "* * * * *", "replicas": null, "note": null}));
    default_and_prune(&mut null_replicas, &crontab_schema());
    assert_eq!(
        null_replicas["spec"]["replicas"], 1,
        "a non-nullable null takes the default"
    );
    assert_eq!(
        null_replicas["spec"]["note"],
        Value::Null,
        "nullable nulls stay"
    );

    let mut no_spec = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}});
    default_and_prune(&mut no_spec, &crontab_schema());
    assert_eq!(
        no_spec.get("spec"),
        None,
        "defaults only apply inside present parents"
    );
}

#[test]
fn enum_violation() {
    let problem = only(validate(
        &crontab(json!({"cronSpec": "* * * * *", "protocol": "SCTP"})),
        &crontab_schema(),
    ));
    assert_eq!(problem.reason, "FieldValueNotSupported");
    assert_eq!(
        problem.message,
        r#"Unsupported value: "SCTP": supported values: "TCP", "UDP""#
    );
}

#[test]
fn int_or_string() {
    for port in [json!(80), json!("http")] {
        let object = crontab(json!({"cronSpec": "* * * * *", "port": port}));
        assert!(validate(&object, &crontab_schema()).is_empty());
    }
    let object = crontab(json!({"cronSpec": "* * * * *", "port": true}));
    assert_eq!(
        messages(&validate(&object, &crontab_schema())),
        [
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            r#"spec.port: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean""#,
        ]
    );
}

#[test]
fn lengths_counts_and_maps() {
    let object = crontab(json!({
        "cronSpec": "* * * * *",
        "image": "a-very-long-image-name-indeed",
        "tags": ["a", "b", "c", "d"],
        "labels": {"ok": "short", "bad": "too-long"}
    }));
    assert_eq!(
        messages(&validate(&object, &crontab_schema())),
        [
            "spec.image: Too long: may not be more than 20 bytes",
            "spec.labels.bad: Too long: may not be more than 5 bytes",
            "spec.tags: Too many: 4: must have at most 3 items",
        ]
    );
}

#[test]
fn list_type_set_and_map_uniqueness() {
    let object = crontab(json!({
        "cronSpec": "* * * * *",
        "tags": ["a", "b", "a"],
        "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}, {"name": "https"}]
    }));
    let problems = validate(&object, &crontab_schema());
    assert_eq!(
        messages(&problems),
        [
            r#"spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}"#,
            r#"spec.tags[2]: Duplicate value: "a""#,
        ]
    );
    assert!(problems.iter().all(|p| p.reason == "FieldValueDuplicate"));
}

#[test]
fn formats() {
    let object = crontab(json!({
        "cronSpec": "* * * * *",
        "schedule": "yesterday",
        "payload": "not base64!",
        "weight": 3_000_000_000u64
    }));
    assert_eq!(
        messages(&validate(&object, &crontab_schema())),
        [
            r#"spec.payload: Invalid value: "not base64!": spec.payload in body must be of type byte: "not base64!""#,
            r#"spec.schedule: Invalid value: "yesterday": spec.schedule in body must be of type date-time: "yesterday""#,
            r#"spec.weight: Invalid value: "3000000000": spec.weight in body must be of type int32: "3000000000""#,
        ]
    );
    let good = crontab(
        json!({"cronSpec": "* * * * *", "schedule": "2024-05-01T10:00:00Z", "payload": "aGk=", "weight": 7}),
    );
    assert!(validate(&good, &crontab_schema()).is_empty());
}

#[test]
fn nullable_and_null() {
    let ok = crontab(json!({"cronSpec": "* * * * *", "note": null}));
    assert!(validate(&ok, &crontab_schema()).is_empty());
    let problem = only(validate(
        &crontab(json!({"cronSpec": "* * * * *", "image": null})),
        &crontab_schema(),
    ));
    assert_eq!(
        problem.message,
        r#"Invalid value: "null": spec.image in body must be of type string: "null""#
    );
}

#[test]
fn embedded_resource_needs_type_meta() {
    let object =
        crontab(json!({"cronSpec": "* * * * *", "template": {"kind": "Bad_Kind", "spec": {}}}));
    let problems = validate(&object, &crontab_schema());
    assert_eq!(
        problems[0].to_string(),
        "spec.template.apiVersion: Required value"
    );
    assert_eq!(problems[1].field, "spec.template.kind");
    assert!(problems[1].message.starts_with(r#"Invalid value: "Bad_Kind": may have mixed case, but should otherwise match: a DNS-1035 label"#));
}

#[test]
fn junctors_and_forbidden_properties() {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "size": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 100}], "not": {"enum": [13]}},
                    "mode": {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]}
                }
            }
        }
    });
    let object = json!({"spec": {"size": 13, "mode": "x", "zzz": 1}});
    assert_eq!(
        messages(&validate(&object, &schema)),
        [
            r#"spec: Invalid value: "zzz": spec.zzz in body is a forbidden property"#,
            r#"spec.mode: Invalid value: "x": spec.mode in body should be at least 2 chars long"#,
            r#"spec.mode: Invalid value: "": "spec.mode" must validate all the schemas (allOf)"#,
            r#"spec.size: Invalid value: "": "spec.size" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
            r#"spec.size: Invalid value: "": "spec.size" must not validate the schema (not)"#,
        ]
    );
}

#[test]
fn non_structural_schemas_are_refused() {
    let missing_type = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {"minimum": 1}}}}});
    assert_eq!(
        messages(&check_structural(&missing_type)),
        [
            "properties[spec].properties[x].type: Required value: must not be empty for specified object fields"
        ]
    );

    let with_ref =
        json!({"type": "object", "properties": {"spec": {"$ref": "#/definitions/Spec"}}});
    assert_eq!(
        messages(&check_structural(&with_ref)),
        [
            "properties[spec].$ref: Forbidden: $ref is not supported",
            "properties[spec].type: Required value: must not be empty for specified object fields",
        ]
    );

    let no_root_type = json!({"properties": {"spec": {"type": "object"}}});
    assert_eq!(
        messages(&check_structural(&no_root_type)),
        ["type: Required value: must not be empty at the root"]
    );

    let unknown_keyword =
        json!({"type": "object", "properties": {"a": {"type": "string", "const": "x"}}});
    assert_eq!(
        messages(&check_structural(&unknown_keyword)),
        ["properties[a].const: Forbidden: const is not supported"]
    );
}

#[test]
fn structural_rules_from_upstream() {
    let schema = json!({
        "type": "object",
        "anyOf": [{"properties": {"ghost": {"minimum": 1}}}],
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "list": {"type": "array"},
                    "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
                    "uniq": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                    "typed": {"type": "string", "anyOf": [{"type": "string", "description": "no"}]},
                    "regex": {"type": "string", "pattern": "(unclosed"}
                }
            }
        }
    });
    assert_eq!(
        messages(&check_structural(&schema)),
        [
            "properties[spec].properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            "properties[spec].properties[uniq].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            "properties[ghost]: Required value: because it is defined in anyOf[0].properties[ghost]",
            "properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            "properties[spec].properties[list].items: Required value: must be specified",
            "properties[spec].properties[regex].pattern: Invalid value: \"(unclosed\": must be a valid regular expression, but isn't: error parsing regexp: missing closing ): `(unclosed`",
            "properties[spec].properties[typed].anyOf[0].description: Forbidden: must be empty to be structural",
            "properties[spec].properties[typed].anyOf[0].type: Forbidden: must be empty to be structural",
        ]
    );
}

#[test]
fn metadata_may_restrict_name_only() {
    let schema = json!({
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}
    });
    assert!(check_structural(&schema).is_empty());
    let problem = only(validate(
        &json!({"metadata": {"name": "much-too-long-name"}}),
        &schema,
    ));
    assert_eq!(
        problem.to_string(),
        "metadata.name: Too long: may not be more than 10 bytes"
    );
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    let schema = json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "default": {}},
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "default": "one"},
                    "config": {"type": "object", "default": {"unknown": 1}, "properties": {"known": {"type": "string"}}}
                }
            }
        }
    });
    assert_eq!(
        messages(&check_structural(&schema)),
        ["properties[metadata].default: Forbidden: must not be set in top-level metadata"]
    );
    let schema =
        json!({"type": "object", "properties": {"spec": schema["properties"]["spec"].clone()}});
    assert_eq!(
        messages(&check_structural(&schema)),
        [
            r#"properties[spec].properties[config].default: Invalid value: map[string]interface {}{"unknown":1}: must not have unknown fields"#,
            r#"properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#,
        ]
    );
}

#[test]
fn malformed_keyword_values_are_refused() {
    let schema = json!({"type": "object", "properties": {"a": {"type": 5, "maxLength": -1}}});
    let problems = messages(&check_structural(&schema));
    assert!(
        problems.contains(&"properties[a].type: Invalid value: 5: must be a string".to_string()),
        "{problems:?}"
    );
    assert!(problems.contains(
        &"properties[a].maxLength: Invalid value: -1: must be a non-negative integer".to_string()
    ));
}

#[test]
fn realistic_generated_schema_is_accepted() {
    // the shape controller-gen emits: descriptions everywhere, CEL rules,
    // int-or-string without anyOf, the allOf int-or-string idiom, embedded objects
    let schema = json!({
        "description": "Widget is the Schema for the widgets API",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "description": "desired state",
                "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
                "properties": {
                    "min": {"type": "integer", "format": "int32"},
                    "max": {"type": "integer", "format": "int64"},
                    "surge": {"x-kubernetes-int-or-string": true},
                    "unavailable": {
                        "x-kubernetes-int-or-string": true,
                        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9]+%?$"}]
                    },
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
                    "pod": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                    }
                }
            }
        }
    });
    assert_eq!(messages(&check_structural(&schema)), Vec::<String>::new());
    let object = json!({"spec": {"min": 1, "max": 2, "surge": "25%", "unavailable": "10%", "pod": {"apiVersion": "v1", "kind": "Pod"}}});
    assert!(validate(&object, &schema).is_empty());
    let object = json!({"spec": {"unavailable": "ten"}});
    assert_eq!(
        messages(&validate(&object, &schema)),
        [
            r#"spec.unavailable: Invalid value: "ten": spec.unavailable in body should match '^[0-9]+%?$'"#,
            r#"spec.unavailable: Invalid value: "": "spec.unavailable" must validate all the schemas (allOf)"#,
        ]
    );
}
