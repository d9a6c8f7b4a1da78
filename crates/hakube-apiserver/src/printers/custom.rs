//! Tables of custom resources: Name and the version's `additionalPrinterColumns` (each a
//! JSONPath into the object, its cell typed as the column says), or Name and Age when the
//! definition names none, as upstream's CRD table convertor does.

use serde_json::{Value, json};

use super::columns::NAME_DESCRIPTION;
use super::duration::age;
use super::fields::name_cell;
use crate::json_path::JsonPath;
use crate::resources::PrinterColumn;

fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        column_type: "date".into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }
}

fn or_age(columns: &[PrinterColumn]) -> Vec<PrinterColumn> {
    if columns.is_empty() {
        vec![age_column()]
    } else {
        columns.to_vec()
    }
}

/// The Table column definitions.
pub fn columns(columns: &[PrinterColumn]) -> Vec<Value> {
    let mut definitions = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": NAME_DESCRIPTION, "priority": 0})];
    definitions.extend(or_age(columns).iter().map(|column| {
        let description = if column.description.is_empty() {
            format!(
                "Custom resource definition column (in JSONPath format): {}",
                column.json_path
            )
        } else {
            column.description.clone()
        };
        json!({"name": column.name, "type": column.column_type, "format": column.format,
            "description": description, "priority": column.priority})
    }));
    definitions
}

/// One cell: the first value the path reaches, as the column's type shows it (null when the
/// path reaches nothing or a value of another type).
fn cell(
    column: &PrinterColumn,
    path: Option<&JsonPath>,
    object: &Value,
    now_unix_seconds: i64,
) -> Value {
    let Some(value) = path.and_then(|path| path.find(object).into_iter().next()) else {
        return Value::Null;
    };
    match column.column_type.as_str() {
        "integer" => value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        "number" => value.as_f64().map_or(Value::Null, Value::from),
        "boolean" => value.as_bool().map_or(Value::Null, Value::from),
        "date" => value.as_str().map_or(Value::Null, |text| {
            Value::from(age(Some(text), now_unix_seconds))
        }),
        _ => match value {
            Value::String(text) => Value::from(text.as_str()),
            other => Value::from(other.to_string()),
        },
    }
}

/// A version's columns with their paths parsed, once per Table.
pub struct Cells {
    columns: Vec<(PrinterColumn, Option<JsonPath>)>,
}

impl Cells {
    pub fn new(columns: &[PrinterColumn]) -> Self {
        let columns = or_age(columns)
            .into_iter()
            .map(|column| {
                // Checked when the definition was accepted; a bad one shows empty cells.
                let path = JsonPath::parse(&column.json_path).ok();
                (column, path)
            })
            .collect();
        Cells { columns }
    }

    /// The cells of one object's row.
    pub fn row(&self, object: &Value, now_unix_seconds: i64) -> Vec<Value> {
        let mut cells = vec![name_cell(object)];
        cells.extend(
            self.columns
                .iter()
                .map(|(column, path)| cell(column, path.as_ref(), object, now_unix_seconds)),
        );
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, column_type: &str, json_path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            column_type: column_type.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: json_path.into(),
        }
    }

    #[test]
    fn cells_follow_the_columns_types() {
        let columns = [
            column("Size", "integer", ".spec.size"),
            column(
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#,
            ),
            column("Paused", "boolean", ".spec.paused"),
            column("Missing", "string", ".status.nothing"),
        ];
        let object = json!({"metadata": {"name": "w1"}, "spec": {"size": 3.0, "paused": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(
            Cells::new(&columns).row(&object, 0),
            [
                json!("w1"),
                json!(3),
                json!("True"),
                json!(true),
                Value::Null
            ]
        );
        let names: Vec<Value> = super::columns(&columns)
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(names, ["Name", "Size", "Ready", "Paused", "Missing"]);
    }

    #[test]
    fn without_columns_name_and_age() {
        let object =
            json!({"metadata": {"name": "w1", "creationTimestamp": "1970-01-01T00:00:00Z"}});
        assert_eq!(
            Cells::new(&[]).row(&object, 300),
            [json!("w1"), json!("5m")]
        );
        assert_eq!(super::columns(&[])[1]["name"], "Age");
    }
}
