//! Constructors for [`Problem`] mirroring apimachinery's `field.Invalid`,
//! `field.Required`, … so that reasons and message bodies match what
//! kube-apiserver puts into a 422 Status (`ErrorBody()`, without the field).
//!
//! `bad` arguments are already rendered with [`super::gofmt`], because Go
//! prints the offending value with `%q`/`%v`/`%#v` depending on its type.

use super::Problem;

pub(crate) const INVALID: &str = "FieldValueInvalid";
pub(crate) const TYPE_INVALID: &str = "FieldValueTypeInvalid";
pub(crate) const REQUIRED: &str = "FieldValueRequired";
pub(crate) const FORBIDDEN: &str = "FieldValueForbidden";
pub(crate) const NOT_SUPPORTED: &str = "FieldValueNotSupported";
pub(crate) const TOO_LONG: &str = "FieldValueTooLong";
pub(crate) const TOO_MANY: &str = "FieldValueTooMany";
pub(crate) const DUPLICATE: &str = "FieldValueDuplicate";

impl Problem {
    fn build(
        field: &str,
        reason: &'static str,
        label: &str,
        bad: Option<&str>,
        detail: &str,
    ) -> Self {
        let mut message = label.to_string();
        if let Some(bad) = bad {
            message.push_str(": ");
            message.push_str(bad);
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Problem {
            field: field.to_string(),
            reason,
            message,
        }
    }

    /// `field.Invalid`: "Invalid value: <bad>: <detail>".
    pub(crate) fn invalid(field: &str, bad: &str, detail: &str) -> Self {
        Self::build(field, INVALID, "Invalid value", Some(bad), detail)
    }

    /// `field.TypeInvalid`: same text as Invalid, distinct reason.
    pub(crate) fn type_invalid(field: &str, bad: &str, detail: &str) -> Self {
        Self::build(field, TYPE_INVALID, "Invalid value", Some(bad), detail)
    }

    /// `field.Required`: the value is never printed.
    pub(crate) fn required(field: &str, detail: &str) -> Self {
        Self::build(field, REQUIRED, "Required value", None, detail)
    }

    /// `field.Forbidden`: the value is never printed.
    pub(crate) fn forbidden(field: &str, detail: &str) -> Self {
        Self::build(field, FORBIDDEN, "Forbidden", None, detail)
    }

    /// `field.NotSupported`: lists the allowed values, each Go-quoted.
    pub(crate) fn not_supported(field: &str, bad: &str, valid: &[String]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| super::gofmt::quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::build(
            field,
            NOT_SUPPORTED,
            "Unsupported value",
            Some(bad),
            &detail,
        )
    }

    /// `field.TooLong` (current apimachinery wording; the value is omitted).
    pub(crate) fn too_long(field: &str, max: u64) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        let detail = format!("may not be more than {max} {unit}");
        Self::build(field, TOO_LONG, "Too long", None, &detail)
    }

    /// `field.TooMany`: "Too many: <actual>: must have at most <max> items".
    pub(crate) fn too_many(field: &str, actual: u64, max: u64) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        let detail = format!("must have at most {max} {unit}");
        Self::build(
            field,
            TOO_MANY,
            "Too many",
            Some(&actual.to_string()),
            &detail,
        )
    }

    /// `field.Duplicate`: "Duplicate value: <bad>".
    pub(crate) fn duplicate(field: &str, bad: &str) -> Self {
        Self::build(field, DUPLICATE, "Duplicate value", Some(bad), "")
    }
}
