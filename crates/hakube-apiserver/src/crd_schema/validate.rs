//! Value validation, following kube-openapi's SchemaValidator and the way
//! apiextensions-apiserver turns its results into field errors.
//!
//! Each value is named like kube-openapi names it (`spec.items[0].name`,
//! root = ""), and every check of a node runs in upstream's order: type,
//! allOf/anyOf/oneOf/not, string, format, number, array, enum, object. As
//! upstream, the checks that apply are chosen by the value's JSON kind, not by
//! the declared type, so a type mismatch reports only the type error.

use serde_json::{Map, Number, Value};

use super::schema::{Additional, Schema};
use super::{Problem, formats, gofmt, paths};

/// Validates `value` against `schema`; field paths are prefixed with `prefix`
/// (empty for a whole object, `…default` when checking a schema default).
pub(crate) fn validate_value(value: &Value, schema: &Schema, prefix: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    Walker { prefix }.value(value, schema, "", &mut out);
    out
}

/// Largest integer a float64 holds exactly; beyond it Go no longer treats a
/// decoded number as a JSON integer.
const MAX_JSON_INTEGER: f64 = 9_007_199_254_740_992.0;

struct Walker<'a> {
    prefix: &'a str,
}

impl Walker<'_> {
    /// The field path of the value kube-openapi calls `name`.
    fn field(&self, name: &str) -> String {
        paths::child(self.prefix, name)
    }

    fn value(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        if let Some(problem) = self.type_problem(v, s, name) {
            out.push(problem);
        }
        if v.is_null() {
            // upstream runs only the type and enum validators on null
            self.enumeration(v, s, name, out);
            return;
        }
        self.junctors(v, s, name, out);
        match v {
            Value::String(text) => {
                self.string(text, s, name, out);
                self.format(text, s, name, out);
            }
            Value::Number(n) => self.number(n, s, name, out),
            Value::Array(items) => self.array(items, s, name, out),
            _ => {}
        }
        self.enumeration(v, s, name, out);
        if let Value::Object(map) = v {
            self.object(map, s, name, out);
        }
    }

    fn type_problem(&self, v: &Value, s: &Schema, name: &str) -> Option<Problem> {
        let types = s.types();
        let format = s.effective_format();
        if types.is_empty() && format.is_none() {
            return None;
        }
        if v.is_null() {
            let allowed = types.is_empty() || s.nullable;
            return (!allowed).then(|| self.type_error(name, &types.join(","), "null"));
        }
        let (kind, data_format) = json_kind(v);
        let has = |t: &str| types.contains(&t);
        let float_as_int = kind == "number" && is_json_integer(v) && has("integer");
        let int_as_float = kind == "integer" && has("number");
        let textual = v.is_string() || v.is_array();
        if let Some(format) = format
            && !textual
            && !(has(kind) || data_format == format || float_as_int || int_as_float)
        {
            return Some(self.type_error(name, format, data_format));
        }
        if format.is_some() && textual && !has("number") && !has("integer") {
            return None;
        }
        if !(has(kind) || float_as_int || int_as_float) {
            return Some(self.type_error(name, &types.join(","), kind));
        }
        self.int32_problem(v, s, name)
    }

    /// `errors.InvalidType`: the bad value is the name of the found type.
    fn type_error(&self, name: &str, expected: &str, found: &str) -> Problem {
        let found = gofmt::quote(found);
        Problem::type_invalid(
            &self.field(name),
            &found,
            &format!("{name} in body must be of type {expected}: {found}"),
        )
    }

    /// hakube addition: `format: int32` also bounds the value (upstream only
    /// uses integer formats for type checks), worded like a type error.
    fn int32_problem(&self, v: &Value, s: &Schema, name: &str) -> Option<Problem> {
        if s.effective_format() != Some("int32") {
            return None;
        }
        let n = v.as_f64()?;
        let fits = n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX);
        (!fits).then(|| self.type_error(name, "int32", &gofmt::bad(v)))
    }

    fn junctors(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        if !s.any_of.is_empty() {
            self.any_of(v, s, name, out);
        }
        if !s.one_of.is_empty() {
            self.one_of(v, s, name, out);
        }
        if !s.all_of.is_empty() {
            self.all_of(v, s, name, out);
        }
        if let Some(not) = &s.not
            && self.branch(v, not, name).is_empty()
        {
            out.push(self.composite(name, "must not validate the schema (not)", ""));
        }
    }

    fn branch(&self, v: &Value, s: &Schema, name: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        self.value(v, s, name, &mut out);
        out
    }

    /// Combinator failures are plain errors upstream, reported as
    /// `Invalid value: "": "<name>" must …` (the field here is the value's path).
    fn composite(&self, name: &str, what: &str, suffix: &str) -> Problem {
        let detail = format!("{} {what}{suffix}", gofmt::quote(name));
        Problem::invalid(&self.field(name), &gofmt::quote(""), &detail)
    }

    fn any_of(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let mut best: Option<Vec<Problem>> = None;
        for branch in &s.any_of {
            let result = self.branch(v, branch, name);
            if result.is_empty() {
                return;
            }
            // upstream keeps the branch that got furthest; fewest errors approximates it
            if best.as_ref().is_none_or(|b| result.len() < b.len()) {
                best = Some(result);
            }
        }
        out.push(self.composite(name, "must validate at least one schema (anyOf)", ""));
        out.extend(best.unwrap_or_default());
    }

    fn one_of(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let mut valid = 0;
        let mut best: Option<Vec<Problem>> = None;
        for branch in &s.one_of {
            let result = self.branch(v, branch, name);
            if result.is_empty() {
                valid += 1;
            } else if valid == 0 && best.as_ref().is_none_or(|b| result.len() < b.len()) {
                best = Some(result);
            }
        }
        if valid == 1 {
            return;
        }
        let suffix = if valid == 0 {
            "Found none valid".to_string()
        } else {
            format!("Found {valid} valid alternatives")
        };
        out.push(self.composite(
            name,
            "must validate one and only one schema (oneOf).",
            &format!(" {suffix}"),
        ));
        if valid == 0 {
            out.extend(best.unwrap_or_default());
        }
    }

    fn all_of(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let mut valid = 0;
        for branch in &s.all_of {
            let result = self.branch(v, branch, name);
            valid += usize::from(result.is_empty());
            out.extend(result);
        }
        if valid != s.all_of.len() {
            let suffix = if valid == 0 { ". None validated" } else { "" };
            out.push(self.composite(name, "must validate all the schemas (allOf)", suffix));
        }
    }

    /// maxLength, minLength, pattern: upstream stops at the first failure.
    fn string(&self, text: &str, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let length = text.chars().count() as u64;
        let field = self.field(name);
        let bad = gofmt::quote(text);
        if let Some(max) = s.max_length
            && length > max
        {
            out.push(Problem::too_long(&field, max));
        } else if let Some(min) = s.min_length
            && length < min
        {
            out.push(Problem::invalid(
                &field,
                &bad,
                &format!("{name} in body should be at least {min} chars long"),
            ));
        } else if let (Some(pattern), Some(Ok(regex))) = (&s.pattern, &s.regex)
            && !regex.is_match(text)
        {
            out.push(Problem::invalid(
                &field,
                &bad,
                &format!("{name} in body should match '{pattern}'"),
            ));
        }
    }

    fn format(&self, text: &str, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let Some(format) = s.effective_format() else {
            return;
        };
        if formats::is_supported(format) && !formats::validates(format, text) {
            let bad = gofmt::quote(text);
            let detail = format!("{name} in body must be of type {format}: {bad}");
            out.push(Problem::type_invalid(&self.field(name), &bad, &detail));
        }
    }

    fn number(&self, n: &Number, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let Some(value) = n.as_f64() else { return };
        let field = self.field(name);
        let bad = gofmt::number(n);
        if let Some(factor) = s.multiple_of {
            if factor <= 0.0 {
                let detail = format!(
                    "factor MultipleOf declared for {name} must be positive: {}",
                    gofmt::float(factor)
                );
                out.push(Problem::invalid(&field, &gofmt::float(factor), &detail));
            } else if !is_multiple(n, value, factor) {
                let detail = format!(
                    "{name} in body should be a multiple of {}",
                    gofmt::float(factor)
                );
                out.push(Problem::invalid(&field, &bad, &detail));
            }
        }
        if let Some(min) = s.minimum
            && (value < min || (s.exclusive_minimum && value <= min))
        {
            let relation = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            let detail = format!("{name} in body should be {relation} {}", gofmt::float(min));
            out.push(Problem::invalid(&field, &bad, &detail));
        }
        if let Some(max) = s.maximum
            && (value > max || (s.exclusive_maximum && value >= max))
        {
            let relation = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            let detail = format!("{name} in body should be {relation} {}", gofmt::float(max));
            out.push(Problem::invalid(&field, &bad, &detail));
        }
    }

    fn array(&self, items: &[Value], s: &Schema, name: &str, out: &mut Vec<Problem>) {
        if let Some(item_schema) = &s.items {
            for (i, item) in items.iter().enumerate() {
                self.value(item, item_schema, &paths::index(name, i), out);
            }
        }
        let field = self.field(name);
        let size = items.len() as u64;
        if let Some(min) = s.min_items
            && size < min
        {
            out.push(Problem::invalid(
                &field,
                &size.to_string(),
                &format!("{name} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = s.max_items
            && size > max
        {
            out.push(Problem::too_many(&field, size, max));
        }
        if s.unique_items && has_duplicates(items) {
            let detail = format!("{name} in body shouldn't contain duplicates");
            out.push(Problem::invalid(&field, &gofmt::quote(""), &detail));
        }
    }

    fn enumeration(&self, v: &Value, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let Some(allowed) = &s.enumeration else {
            return;
        };
        if allowed.is_empty() || allowed.iter().any(|a| enum_equal(a, v)) {
            return;
        }
        let listed: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        out.push(Problem::not_supported(
            &self.field(name),
            &gofmt::bad(v),
            &listed,
        ));
    }

    fn object(&self, map: &Map<String, Value>, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let count = map.len() as u64;
        let field = self.field(name);
        // upstream returns straight away when the property count is off
        if let Some(min) = s.min_properties
            && count < min
        {
            let detail = format!("{name} in body should have at least {min} properties");
            out.push(Problem::invalid(&field, &count.to_string(), &detail));
            return;
        }
        if let Some(max) = s.max_properties
            && count > max
        {
            out.push(Problem::too_many(&field, count, max));
            return;
        }
        self.additional(map, s, name, out);
        for (key, prop) in &s.properties {
            if let Some(v) = map.get(key) {
                self.value(v, prop, &paths::child(name, key), out);
            }
        }
        for key in &s.required {
            if !map.contains_key(key) {
                out.push(Problem::required(&self.field(&paths::child(name, key)), ""));
            }
        }
    }

    fn additional(&self, map: &Map<String, Value>, s: &Schema, name: &str, out: &mut Vec<Problem>) {
        let extra = map.iter().filter(|(k, _)| !s.properties.contains_key(*k));
        match &s.additional {
            Some(Additional::Allows(false)) => {
                for (key, _) in extra {
                    let detail = format!("{name}.{key} in body is a forbidden property");
                    out.push(Problem::invalid(
                        &self.field(name),
                        &gofmt::quote(key),
                        &detail,
                    ));
                }
            }
            Some(Additional::Schema(value_schema)) => {
                for (key, v) in extra {
                    self.value(v, value_schema, &paths::child(name, key), out);
                }
            }
            _ => {}
        }
    }
}

/// JSON type and go-openapi format of a decoded value; integers are int64 as
/// apimachinery decodes them, anything else numeric is float64.
fn json_kind(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_i64() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// `swag.IsFloat64AJSONInteger`: integral and within ±2^53.
fn is_json_integer(v: &Value) -> bool {
    v.as_f64().is_some_and(is_integral)
}

fn is_integral(f: f64) -> bool {
    f.is_finite() && f.trunc() == f && f.abs() <= MAX_JSON_INTEGER
}

/// Integer values against integral factors are checked exactly, as upstream
/// does for native ints; everything else divides in float64.
fn is_multiple(n: &Number, value: f64, factor: f64) -> bool {
    match n.as_i64() {
        Some(i) if factor.trunc() == factor && factor <= i64::MAX as f64 => {
            i % (factor as i64) == 0
        }
        _ => is_integral(value / factor),
    }
}

/// Enum membership: numbers compare by value (Go converts the data to the
/// enum entry's type), everything else structurally.
fn enum_equal(allowed: &Value, v: &Value) -> bool {
    match (allowed, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => allowed == v,
    }
}

/// `uniqueItems`: reflect.DeepEqual over all pairs.
fn has_duplicates(items: &[Value]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[i + 1..].iter().any(|b| a == b))
}
