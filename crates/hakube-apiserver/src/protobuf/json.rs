//! Walks a message's wire bytes with its schema table and builds the JSON
//! object Go's `encoding/json` would have produced for the same Go struct.
//!
//! Protobuf merge rules are kept where they are visible in JSON: a field
//! seen twice keeps the last scalar, merges nested objects and appends to
//! arrays.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::ProtobufError;
use super::schema::{Field, Kind, Message, SchemaOr, Zero};
use super::wire::{Reader, WireType};

/// Deepest nesting accepted. Built-in kinds nest about 12 levels; a
/// CustomResourceDefinition's schema adds one per nested property (two per
/// `items`), so real CRDs stay well below this. The limit stops hostile
/// bodies (deep schemas, nested RawExtensions) from exhausting the stack.
pub const MAX_DEPTH: usize = 100;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    message: &'static str,
    field: u32,
    at: usize,
}

impl Ctx {
    fn check_wire(self, found: WireType, expected: WireType) -> Result<(), ProtobufError> {
        if found == expected {
            return Ok(());
        }
        Err(ProtobufError::WrongWireType {
            message: self.message,
            field: self.field,
            at: self.at,
            found: found.number(),
            found_name: found.name(),
            expected: expected.number(),
            expected_name: expected.name(),
        })
    }
}

// Helper messages for the types whose JSON form is not an object; decoding
// them through the generic path reuses its wire-type checks and errors.
static QUANTITY: Message = Message {
    name: "Quantity",
    fields: &[Field::keep(1, "string", Kind::String)],
};
static INT_OR_STRING: Message = Message {
    name: "IntOrString",
    fields: &[
        Field::keep(1, "type", Kind::Int64),
        Field::keep(2, "intVal", Kind::Int32),
        Field::keep(3, "strVal", Kind::String),
    ],
};
static TIMESTAMP: Message = Message {
    name: "Time",
    fields: &[
        Field::keep(1, "seconds", Kind::Int64),
        Field::keep(2, "nanos", Kind::Int32),
    ],
};
static DURATION: Message = Message {
    name: "Duration",
    fields: &[Field::keep(1, "duration", Kind::Int64)],
};
static STRING_LIST: Message = Message {
    name: "ExtraValue",
    fields: &[Field::keep(1, "items", Kind::String).repeated()],
};

/// Decodes one message into a JSON object.
pub fn decode_message(
    message: &'static Message,
    mut reader: Reader<'_>,
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep {
            at: reader.offset(),
            limit: MAX_DEPTH,
        });
    }
    let mut out = Map::new();
    while let Some((number, wire)) = reader.key()? {
        let Some(field) = message.field(number) else {
            reader.skip(wire)?;
            continue;
        };
        let ctx = Ctx {
            message: message.name,
            field: number,
            at: reader.offset(),
        };
        if field.repeated {
            let values = decode_repeated(field.kind, wire, &mut reader, ctx, depth)?;
            merge(&mut out, field.json, Value::Array(values));
            continue;
        }
        let value = decode_value(field.kind, wire, &mut reader, ctx, depth)?;
        if field.is_inline() {
            if let Value::Object(fields) = value {
                for (key, value) in fields {
                    merge(&mut out, &key, value);
                }
            }
        } else if is_dropped(field, &value) {
            // Last one wins in protobuf, so a later zero erases an earlier
            // value rather than leaving it behind.
            out.remove(field.json);
        } else {
            merge(&mut out, field.json, value);
        }
    }
    Ok(out)
}

/// Null means "Go would write null" (zero time, empty raw JSON): never
/// useful to a JSON reader, so always left out. Other zeros only go when
/// the Go field is a non-pointer `omitempty`.
fn is_dropped(field: &Field, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => field.zero == Zero::Drop && !b,
        Value::Number(n) => field.zero == Zero::Drop && n.as_i64() == Some(0),
        Value::String(s) => field.zero == Zero::Drop && s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

fn merge(out: &mut Map<String, Value>, key: &str, value: Value) {
    match (out.get_mut(key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge(old, &k, v);
            }
        }
        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
        (_, value) => {
            out.insert(key.to_owned(), value);
        }
    }
}

/// One occurrence of a repeated field: a single element, or for numeric
/// kinds possibly a packed run of them.
fn decode_repeated(
    kind: Kind,
    wire: WireType,
    reader: &mut Reader<'_>,
    ctx: Ctx,
    depth: usize,
) -> Result<Vec<Value>, ProtobufError> {
    let element_wire = match kind {
        Kind::Int32 | Kind::Int64 | Kind::Bool => WireType::Varint,
        Kind::Double => WireType::Fixed64,
        _ => return Ok(vec![decode_value(kind, wire, reader, ctx, depth)?]),
    };
    if wire != WireType::Len {
        return Ok(vec![decode_value(kind, wire, reader, ctx, depth)?]);
    }
    let mut packed = reader.len_delimited()?;
    let mut values = Vec::new();
    while !packed.is_empty() {
        values.push(decode_value(kind, element_wire, &mut packed, ctx, depth)?);
    }
    Ok(values)
}

/// Decodes one value of `kind`. A map kind yields a one-entry object, which
/// `merge` folds into the map built so far.
fn decode_value(
    kind: Kind,
    wire: WireType,
    reader: &mut Reader<'_>,
    ctx: Ctx,
    depth: usize,
) -> Result<Value, ProtobufError> {
    match kind {
        Kind::Int32 | Kind::Int64 | Kind::Bool => {
            ctx.check_wire(wire, WireType::Varint)?;
            let raw = reader.varint()?;
            // Negative numbers are sign-extended to 64 bits on the wire;
            // truncating is exactly what Go's generated code does.
            Ok(match kind {
                Kind::Int32 => Value::from(raw as i32),
                Kind::Int64 => Value::from(raw as i64),
                _ => Value::Bool(raw != 0),
            })
        }
        Kind::Double => {
            ctx.check_wire(wire, WireType::Fixed64)?;
            let at = reader.offset();
            double(f64::from_bits(reader.fixed64()?), Ctx { at, ..ctx })
        }
        _ => {
            ctx.check_wire(wire, WireType::Len)?;
            let payload = reader.len_delimited()?;
            decode_payload(kind, payload, ctx, depth)
        }
    }
}

fn decode_payload(
    kind: Kind,
    payload: Reader<'_>,
    ctx: Ctx,
    depth: usize,
) -> Result<Value, ProtobufError> {
    match kind {
        Kind::String => utf8(payload, ctx).map(Value::String),
        Kind::Bytes => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(payload.rest()),
        )),
        Kind::Message(message) => decode_message(message, payload, depth + 1).map(Value::Object),
        Kind::Quantity => {
            let fields = decode_message(&QUANTITY, payload, depth + 1)?;
            Ok(string_of(&fields, "string").map_or_else(|| Value::from("0"), Value::from))
        }
        Kind::IntOrString => int_or_string(payload, ctx, depth),
        Kind::Time | Kind::MicroTime => {
            let fields = decode_message(&TIMESTAMP, payload, depth + 1)?;
            let seconds = int_of(&fields, "seconds");
            let nanos = int_of(&fields, "nanos");
            format_time(seconds, nanos, matches!(kind, Kind::MicroTime), ctx)
        }
        Kind::Duration => {
            let fields = decode_message(&DURATION, payload, depth + 1)?;
            Ok(Value::String(go_duration(int_of(&fields, "duration"))))
        }
        Kind::RawJson => raw_json(payload, ctx, depth),
        Kind::Map(value_kind) => map_entry(value_kind, payload, ctx, depth),
        Kind::StringList => {
            let mut fields = decode_message(&STRING_LIST, payload, depth + 1)?;
            Ok(fields
                .remove("items")
                .unwrap_or_else(|| Value::Array(Vec::new())))
        }
        Kind::SchemaOr(which, message) => schema_or(which, message, payload, depth),
        // Varint and fixed64 kinds are handled by `decode_value` before a
        // payload is read.
        Kind::Int32 | Kind::Int64 | Kind::Bool | Kind::Double => Ok(Value::Null),
    }
}

/// Integers up to 2^53 are exact in a double and Go's JSON writes them
/// without a fraction, so they become JSON integers here too.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn double(value: f64, ctx: Ctx) -> Result<Value, ProtobufError> {
    if value.fract() == 0.0 && value.abs() <= MAX_EXACT_INTEGER {
        // In range and integral, so the cast is exact.
        return Ok(Value::from(value as i64));
    }
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .ok_or_else(|| ProtobufError::NonFiniteNumber {
            message: ctx.message,
            field: ctx.field,
            at: ctx.at,
            value: value.to_string(),
        })
}

/// What the Go `MarshalJSON` of a `JSONSchemaPropsOr*` writes.
fn schema_or(
    which: SchemaOr,
    message: &'static Message,
    payload: Reader<'_>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let mut fields = decode_message(message, payload, depth + 1)?;
    let non_empty =
        |value: Option<Value>| value.filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    Ok(match which {
        SchemaOr::Array => non_empty(fields.remove("jSONSchemas"))
            .or_else(|| fields.remove("schema"))
            .unwrap_or(Value::Null),
        SchemaOr::Bool => fields.remove("schema").unwrap_or_else(|| {
            Value::Bool(
                fields
                    .get("allows")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
        }),
        SchemaOr::StringArray => non_empty(fields.remove("property"))
            .or_else(|| fields.remove("schema"))
            .unwrap_or(Value::Null),
    })
}

fn utf8(payload: Reader<'_>, ctx: Ctx) -> Result<String, ProtobufError> {
    std::str::from_utf8(payload.rest())
        .map(str::to_owned)
        .map_err(|_| ProtobufError::InvalidUtf8 {
            message: ctx.message,
            field: ctx.field,
            at: payload.offset(),
        })
}

fn int_of(fields: &Map<String, Value>, key: &str) -> i64 {
    fields.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn string_of<'m>(fields: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    fields.get(key).and_then(Value::as_str)
}

fn int_or_string(payload: Reader<'_>, ctx: Ctx, depth: usize) -> Result<Value, ProtobufError> {
    let at = payload.offset();
    let fields = decode_message(&INT_OR_STRING, payload, depth + 1)?;
    match int_of(&fields, "type") {
        0 => Ok(Value::from(int_of(&fields, "intVal"))),
        1 => Ok(Value::from(
            string_of(&fields, "strVal").unwrap_or_default(),
        )),
        other => Err(ProtobufError::InvalidIntOrString {
            message: ctx.message,
            field: ctx.field,
            at,
            int_or_string_type: other,
        }),
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: Go's RFC 3339 output
/// (and so any JSON client) is limited to four-digit years.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

fn format_time(seconds: i64, nanos: i64, micro: bool, ctx: Ctx) -> Result<Value, ProtobufError> {
    if seconds == 0 && nanos == 0 {
        // Go's zero time.Time, which its JSON writes as null.
        return Ok(Value::Null);
    }
    // metav1.Time keeps whole seconds only; MicroTime normalizes nanos the
    // way time.Unix does.
    let (seconds, nanos) = if micro {
        (
            seconds.saturating_add(nanos.div_euclid(1_000_000_000)),
            nanos.rem_euclid(1_000_000_000),
        )
    } else {
        (seconds, 0)
    };
    let out_of_range = ProtobufError::TimeOutOfRange {
        message: ctx.message,
        field: ctx.field,
        at: ctx.at,
        seconds,
    };
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(out_of_range);
    }
    let timestamp = jiff::Timestamp::from_second(seconds).map_err(|_| out_of_range)?;
    let base = timestamp.strftime("%Y-%m-%dT%H:%M:%S");
    Ok(Value::String(if micro {
        format!("{base}.{:06}Z", nanos / 1000)
    } else {
        format!("{base}Z")
    }))
}

/// Go's `time.Duration.String()`, which is what `metav1.Duration` writes.
pub fn go_duration(nanos: i64) -> String {
    let mut u = nanos.unsigned_abs();
    let body = if u == 0 {
        return "0s".to_owned();
    } else if u < 1_000_000_000 {
        let (unit, precision) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (fraction, whole) = split_fraction(u, precision);
        format!("{whole}{fraction}{unit}")
    } else {
        let (fraction, seconds) = split_fraction(u, 9);
        u = seconds / 60;
        let mut text = format!("{}{fraction}s", seconds % 60);
        if u > 0 {
            text = format!("{}m{text}", u % 60);
            u /= 60;
            if u > 0 {
                text = format!("{u}h{text}");
            }
        }
        text
    };
    if nanos < 0 { format!("-{body}") } else { body }
}

/// Splits `value / 10^precision` into ".fraction" (trailing zeros and the
/// dot dropped as Go does) and the whole part.
fn split_fraction(value: u64, precision: u32) -> (String, u64) {
    let scale = 10u64.pow(precision);
    let fraction = value % scale;
    if fraction == 0 {
        return (String::new(), value / scale);
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    (format!(".{}", digits.trim_end_matches('0')), value / scale)
}

/// `RawExtension{1: raw}` / `FieldsV1{1: raw}`: the raw bytes are JSON, or
/// an object serialized as protobuf (magic-prefixed), which is decoded.
fn raw_json(mut payload: Reader<'_>, ctx: Ctx, depth: usize) -> Result<Value, ProtobufError> {
    let mut raw = None;
    while let Some((number, wire)) = payload.key()? {
        if number == 1 {
            Ctx {
                at: payload.offset(),
                ..ctx
            }
            .check_wire(wire, WireType::Len)?;
            raw = Some(payload.len_delimited()?);
        } else {
            payload.skip(wire)?;
        }
    }
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Value::Null);
    };
    if raw.rest().starts_with(&super::MAGIC) {
        return super::decode_nested(raw.rest(), raw.offset(), depth + 1);
    }
    serde_json::from_slice(raw.rest()).map_err(|e| ProtobufError::InvalidJson {
        message: ctx.message,
        field: ctx.field,
        at: raw.offset(),
        reason: e.to_string(),
    })
}

/// A map entry `{1: key, 2: value}` as a one-entry object. Either half may
/// be missing on the wire, meaning its zero value.
fn map_entry(
    value_kind: &Kind,
    mut payload: Reader<'_>,
    ctx: Ctx,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    while let Some((number, wire)) = payload.key()? {
        let entry_ctx = Ctx {
            at: payload.offset(),
            ..ctx
        };
        match number {
            1 => {
                entry_ctx.check_wire(wire, WireType::Len)?;
                key = utf8(payload.len_delimited()?, entry_ctx)?;
            }
            2 => {
                value = Some(decode_value(
                    *value_kind,
                    wire,
                    &mut payload,
                    entry_ctx,
                    depth,
                )?)
            }
            _ => payload.skip(wire)?,
        }
    }
    let value = value.unwrap_or_else(|| zero_value(*value_kind));
    Ok(Value::Object(Map::from_iter([(key, value)])))
}

/// The JSON Go writes for a zero value of `kind`.
fn zero_value(kind: Kind) -> Value {
    match kind {
        Kind::String | Kind::Bytes => Value::from(""),
        Kind::Int32 | Kind::Int64 | Kind::Double | Kind::IntOrString => Value::from(0),
        Kind::Bool | Kind::SchemaOr(SchemaOr::Bool, _) => Value::Bool(false),
        Kind::StringList => Value::Array(Vec::new()),
        Kind::Quantity => Value::from("0"),
        Kind::Duration => Value::from("0s"),
        Kind::Message(_) | Kind::Map(_) => Value::Object(Map::new()),
        Kind::Time | Kind::MicroTime | Kind::RawJson => Value::Null,
        Kind::SchemaOr(SchemaOr::Array | SchemaOr::StringArray, _) => Value::Null,
    }
}
