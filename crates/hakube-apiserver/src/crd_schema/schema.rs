//! Typed view of one `openAPIV3Schema` node, parsed once from raw JSON.
//!
//! Every pass works on this tree rather than on `serde_json::Value` so that
//! keyword spelling and JSON-type checks live in one place. Parsing is
//! lenient (bad keywords are skipped) for runtime use, and the problems it
//! found are returned to `check_structural`, which refuses such schemas.

use std::collections::BTreeMap;

use serde_json::Value;

use super::pattern::Regex;
use super::{Problem, formats, gofmt, paths};

/// `additionalProperties`: a boolean or a schema.
pub(crate) enum Additional {
    Allows(bool),
    Schema(Box<Schema>),
}

impl Additional {
    /// The schema values must follow, if any (`true`/`false` carry none).
    pub(crate) fn schema(&self) -> Option<&Schema> {
        match self {
            Additional::Schema(s) => Some(s),
            Additional::Allows(_) => None,
        }
    }
}

/// One schema node. Field names follow the JSON keywords.
#[derive(Default)]
pub(crate) struct Schema {
    pub(crate) type_name: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) nullable: bool,
    pub(crate) default: Option<Value>,
    pub(crate) enumeration: Option<Vec<Value>>,
    pub(crate) required: Vec<String>,
    pub(crate) properties: BTreeMap<String, Schema>,
    pub(crate) additional: Option<Additional>,
    pub(crate) items: Option<Box<Schema>>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_length: Option<u64>,
    pub(crate) pattern: Option<String>,
    /// The compiled `pattern`, or the reason it does not compile.
    pub(crate) regex: Option<Result<Regex, String>>,
    pub(crate) max_items: Option<u64>,
    pub(crate) min_items: Option<u64>,
    pub(crate) unique_items: bool,
    pub(crate) max_properties: Option<u64>,
    pub(crate) min_properties: Option<u64>,
    pub(crate) all_of: Vec<Schema>,
    pub(crate) any_of: Vec<Schema>,
    pub(crate) one_of: Vec<Schema>,
    pub(crate) not: Option<Box<Schema>>,
    pub(crate) preserve_unknown: Option<bool>,
    pub(crate) embedded_resource: bool,
    pub(crate) int_or_string: bool,
    pub(crate) list_type: Option<String>,
    pub(crate) list_map_keys: Vec<String>,
    pub(crate) map_type: Option<String>,
    /// Keywords present on this node, for checks about "anything else set".
    pub(crate) keys: Vec<String>,
}

impl Schema {
    /// Lenient parse for runtime use; malformed keywords are ignored.
    pub(crate) fn parse(raw: &Value) -> Schema {
        let mut ignored = Vec::new();
        parse_node(raw, "", &mut ignored)
    }

    /// Parse that also reports malformed and unsupported keywords.
    pub(crate) fn parse_checked(raw: &Value) -> (Schema, Vec<Problem>) {
        let mut problems = Vec::new();
        let schema = parse_node(raw, "", &mut problems);
        (schema, problems)
    }

    pub(crate) fn has(&self, keyword: &str) -> bool {
        self.keys.iter().any(|k| k == keyword)
    }

    /// The declared type, empty when absent.
    pub(crate) fn type_str(&self) -> &str {
        self.type_name.as_deref().unwrap_or("")
    }

    /// Types a value may have; int-or-string widens to both, as upstream's
    /// conversion to go-openapi does.
    pub(crate) fn types(&self) -> Vec<&str> {
        if self.int_or_string {
            vec!["integer", "string"]
        } else if self.type_str().is_empty() {
            Vec::new()
        } else {
            vec![self.type_str()]
        }
    }

    /// The format that is actually enforced: upstream blanks formats it does
    /// not know for the node's type (StripUnsupportedFormatsPostProcess).
    pub(crate) fn effective_format(&self) -> Option<&str> {
        let format = self.format.as_deref().filter(|f| !f.is_empty())?;
        let single = if self.int_or_string {
            ""
        } else {
            self.type_str()
        };
        let keep = match single {
            "" | "string" => formats::is_supported(format),
            "integer" => matches!(format, "int32" | "int64"),
            "number" => matches!(format, "float" | "double"),
            _ => false,
        };
        keep.then_some(format)
    }

    /// True when the node is exactly `{type: <t>}`, as in the int-or-string
    /// `anyOf: [{type: integer}, {type: string}]` idiom.
    pub(crate) fn is_bare_type(&self, t: &str) -> bool {
        self.keys.len() == 1 && self.type_str() == t
    }

    pub(crate) fn preserves_unknown(&self) -> bool {
        self.preserve_unknown == Some(true)
    }
}

/// Keywords that JSONSchemaProps knows but CRDs refuse, with upstream's detail.
const REFUSED: &[(&str, &str)] = &[
    ("$ref", "$ref is not supported"),
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
];

fn parse_node(raw: &Value, path: &str, problems: &mut Vec<Problem>) -> Schema {
    let mut schema = Schema::default();
    let Some(object) = raw.as_object() else {
        problems.push(Problem::invalid(
            path,
            &gofmt::bad(raw),
            "must be a JSON object",
        ));
        return schema;
    };
    for (key, value) in object {
        schema.keys.push(key.clone());
        let kw = Keyword {
            path: paths::child(path, key),
            value,
        };
        let handled = parse_generic(&mut schema, key, &kw, problems)
            || parse_bounds(&mut schema, key, &kw, problems)
            || parse_structure(&mut schema, key, &kw, path, problems)
            || parse_extension(&mut schema, key, &kw, problems);
        if !handled {
            let detail = REFUSED.iter().find(|(name, _)| name == key).map_or_else(
                || format!("{key} is not supported"),
                |(_, detail)| detail.to_string(),
            );
            problems.push(Problem::forbidden(&kw.path, &detail));
        }
    }
    if let Some(pattern) = &schema.pattern {
        schema.regex = Some(Regex::new(pattern));
    }
    schema
}

/// Type, format, documentation and default keywords.
fn parse_generic(s: &mut Schema, key: &str, kw: &Keyword, problems: &mut Vec<Problem>) -> bool {
    match key {
        "type" => s.type_name = kw.string(problems),
        "format" => s.format = kw.string(problems),
        "nullable" => s.nullable = kw.boolean(problems).unwrap_or(false),
        "default" => s.default = Some(kw.value.clone()),
        "enum" => s.enumeration = kw.array(problems).map(<[Value]>::to_vec),
        "required" => s.required = kw.strings(problems),
        "title" | "description" | "$schema" => {
            kw.string(problems);
        }
        "example" => {}
        "externalDocs" => {
            kw.object(problems);
        }
        _ => return false,
    }
    true
}

/// Numeric, length, count and uniqueness bounds.
fn parse_bounds(s: &mut Schema, key: &str, kw: &Keyword, problems: &mut Vec<Problem>) -> bool {
    match key {
        "maximum" => s.maximum = kw.number(problems),
        "minimum" => s.minimum = kw.number(problems),
        "multipleOf" => s.multiple_of = kw.number(problems),
        "exclusiveMaximum" => s.exclusive_maximum = kw.boolean(problems).unwrap_or(false),
        "exclusiveMinimum" => s.exclusive_minimum = kw.boolean(problems).unwrap_or(false),
        "maxLength" => s.max_length = kw.count(problems),
        "minLength" => s.min_length = kw.count(problems),
        "maxItems" => s.max_items = kw.count(problems),
        "minItems" => s.min_items = kw.count(problems),
        "maxProperties" => s.max_properties = kw.count(problems),
        "minProperties" => s.min_properties = kw.count(problems),
        "pattern" => s.pattern = kw.string(problems),
        "uniqueItems" => s.unique_items = kw.boolean(problems).unwrap_or(false),
        _ => return false,
    }
    true
}

/// Keywords holding sub-schemas.
fn parse_structure(
    s: &mut Schema,
    key: &str,
    kw: &Keyword,
    path: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    match key {
        "properties" => {
            let base = paths::child(path, "properties");
            for (name, sub) in kw.object(problems).into_iter().flatten() {
                s.properties.insert(
                    name.clone(),
                    parse_node(sub, &paths::key(&base, name), problems),
                );
            }
        }
        "additionalProperties" => {
            s.additional = match kw.value {
                Value::Bool(b) => Some(Additional::Allows(*b)),
                other => Some(Additional::Schema(Box::new(parse_node(
                    other, &kw.path, problems,
                )))),
            }
        }
        "items" => {
            if kw.value.is_array() {
                problems.push(Problem::forbidden(
                    &kw.path,
                    "items must be a schema object and not an array",
                ));
            } else {
                s.items = Some(Box::new(parse_node(kw.value, &kw.path, problems)));
            }
        }
        "allOf" => s.all_of = kw.schemas(problems),
        "anyOf" => s.any_of = kw.schemas(problems),
        "oneOf" => s.one_of = kw.schemas(problems),
        "not" => s.not = Some(Box::new(parse_node(kw.value, &kw.path, problems))),
        _ => return false,
    }
    true
}

/// The `x-kubernetes-*` vendor extensions.
fn parse_extension(s: &mut Schema, key: &str, kw: &Keyword, problems: &mut Vec<Problem>) -> bool {
    match key {
        "x-kubernetes-preserve-unknown-fields" => s.preserve_unknown = kw.boolean(problems),
        "x-kubernetes-embedded-resource" => {
            s.embedded_resource = kw.boolean(problems).unwrap_or(false)
        }
        "x-kubernetes-int-or-string" => s.int_or_string = kw.boolean(problems).unwrap_or(false),
        "x-kubernetes-list-type" => s.list_type = kw.string(problems),
        "x-kubernetes-list-map-keys" => s.list_map_keys = kw.strings(problems),
        "x-kubernetes-map-type" => s.map_type = kw.string(problems),
        // CEL rules are accepted so real-world CRDs install, but not evaluated.
        "x-kubernetes-validations" => {
            kw.array(problems);
        }
        _ => return false,
    }
    true
}

/// One keyword's value with its field path, for typed extraction.
struct Keyword<'a> {
    path: String,
    value: &'a Value,
}

impl<'a> Keyword<'a> {
    fn wrong(&self, problems: &mut Vec<Problem>, what: &str) {
        problems.push(Problem::invalid(
            &self.path,
            &gofmt::bad(self.value),
            &format!("must be {what}"),
        ));
    }

    fn string(&self, problems: &mut Vec<Problem>) -> Option<String> {
        match self.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.wrong(problems, "a string");
                None
            }
        }
    }

    fn boolean(&self, problems: &mut Vec<Problem>) -> Option<bool> {
        let b = self.value.as_bool();
        if b.is_none() {
            self.wrong(problems, "a boolean");
        }
        b
    }

    fn number(&self, problems: &mut Vec<Problem>) -> Option<f64> {
        let n = self.value.as_f64();
        if n.is_none() {
            self.wrong(problems, "a number");
        }
        n
    }

    fn count(&self, problems: &mut Vec<Problem>) -> Option<u64> {
        let n = self.value.as_u64();
        if n.is_none() {
            self.wrong(problems, "a non-negative integer");
        }
        n
    }

    fn array(&self, problems: &mut Vec<Problem>) -> Option<&'a [Value]> {
        let items = self.value.as_array().map(Vec::as_slice);
        if items.is_none() {
            self.wrong(problems, "an array");
        }
        items
    }

    fn object(&self, problems: &mut Vec<Problem>) -> Option<&'a serde_json::Map<String, Value>> {
        let object = self.value.as_object();
        if object.is_none() {
            self.wrong(problems, "an object");
        }
        object
    }

    fn strings(&self, problems: &mut Vec<Problem>) -> Vec<String> {
        let Some(items) = self.array(problems) else {
            return Vec::new();
        };
        let strings: Vec<String> = items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if strings.len() != items.len() {
            self.wrong(problems, "an array of strings");
        }
        strings
    }

    fn schemas(&self, problems: &mut Vec<Problem>) -> Vec<Schema> {
        let Some(items) = self.array(problems) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, sub)| parse_node(sub, &paths::index(&self.path, i), problems))
            .collect()
    }
}
