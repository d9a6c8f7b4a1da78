//! The shape of the schema tables: which JSON field each protobuf field
//! number becomes, how its bytes are read, and when Go would leave it out.
//!
//! The tables themselves live in the `schema_*` files, one per API group
//! (core/v1 is split by concern because it is large).

/// How the bytes of one field (or one map value) turn into JSON.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `string` → JSON string.
    String,
    /// `bytes` (Go `[]byte`) → base64 JSON string, as `encoding/json` does.
    Bytes,
    /// `int32` varint → JSON number.
    Int32,
    /// `int64` varint → JSON number.
    Int64,
    /// `bool` varint → JSON boolean.
    Bool,
    /// A nested message → JSON object.
    Message(&'static Message),
    /// `resource.Quantity{1: string}` → its string form.
    Quantity,
    /// `intstr.IntOrString{1: type, 2: intVal, 3: strVal}` → number or string.
    IntOrString,
    /// `metav1.Time{1: seconds, 2: nanos}` → RFC 3339 string at second
    /// precision (Go drops the nanos on both protobuf and JSON paths).
    Time,
    /// `metav1.MicroTime` → RFC 3339 string with six fractional digits.
    MicroTime,
    /// `metav1.Duration{1: nanoseconds}` → Go's `time.Duration` string.
    /// No v1 kind covered here has one yet; kept so adding such a kind
    /// needs only a table change.
    #[allow(dead_code)]
    Duration,
    /// `runtime.RawExtension{1: raw}` or `metav1.FieldsV1{1: raw}`: the
    /// bytes are JSON (or a nested protobuf object) and are inlined parsed.
    RawJson,
    /// `map<string, V>` → JSON object whose values are decoded as `V`.
    Map(&'static Kind),
}

/// What to do with a decoded zero value ("", 0, false, empty bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    /// Go field is a non-pointer with `omitempty`: gogo-protobuf still writes
    /// it, but Go's JSON would leave it out, so we do too.
    Drop,
    /// Go field is a pointer (zero is a real value, e.g. `replicas: 0`) or
    /// lacks `omitempty` (Go's JSON always writes it).
    Keep,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub number: u32,
    /// JSON name; empty for an inline (embedded) struct whose fields are
    /// spliced into the parent object, as Go's `json:",inline"` does.
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
    pub zero: Zero,
}

impl Field {
    /// A non-pointer `omitempty` field: zero values are dropped.
    pub const fn omit(number: u32, json: &'static str, kind: Kind) -> Field {
        Field {
            number,
            json,
            kind,
            repeated: false,
            zero: Zero::Drop,
        }
    }

    /// A pointer or non-`omitempty` field: zero values are kept.
    pub const fn keep(number: u32, json: &'static str, kind: Kind) -> Field {
        Field {
            number,
            json,
            kind,
            repeated: false,
            zero: Zero::Keep,
        }
    }

    /// An embedded struct whose JSON fields sit in the parent object.
    pub const fn inline(number: u32, message: &'static Message) -> Field {
        Field {
            number,
            json: "",
            kind: Kind::Message(message),
            repeated: false,
            zero: Zero::Keep,
        }
    }

    /// Marks the field `repeated` (a JSON array).
    pub const fn repeated(self) -> Field {
        Field {
            repeated: true,
            ..self
        }
    }

    pub fn is_inline(&self) -> bool {
        self.json.is_empty()
    }
}

/// A protobuf message: its Go type name (for error messages) and fields
/// sorted by number.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Message {
    /// The field with this number, if the schema knows it; unknown fields
    /// (newer API versions) are skipped by the caller.
    pub fn field(&self, number: u32) -> Option<&'static Field> {
        let fields = self.fields;
        fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .and_then(|i| fields.get(i))
    }
}
