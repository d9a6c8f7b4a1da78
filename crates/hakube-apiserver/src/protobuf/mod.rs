//! Decoding of Kubernetes protobuf request bodies
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the JSON
//! object model the rest of the server works on.
//!
//! kubectl 1.32+ sends protobuf for every `kubectl create <generator>`,
//! `auth can-i` (SelfSubjectAccessReview), `auth whoami`
//! (SelfSubjectReview) and drain's DELETE fallback, and client-go
//! controllers send it for any built-in kind, so the server reads it for
//! every built-in kind it serves. Rather than a
//! protobuf code generator this is a hand-written wire reader (`wire`)
//! driven by static schema tables (`schema*`) that map field numbers to
//! JSON names with Go's `omitempty` rules (`json`).
//!
//! Layout:
//! - `wire`: varints, length-delimited payloads, fixed-width values.
//! - `schema`: the table types; `schema_<group>`: generated tables.
//! - `kinds`: which apiVersion/kind pairs are accepted (the generated
//!   `schema_kinds` table plus DeleteOptions in any group version).
//! - `json`: table-driven decoding into `serde_json::Value`.
//! - `error`: `ProtobufError`.

mod error;
mod json;
mod kinds;
mod schema;
mod schema_apiextensions;
mod schema_apps;
mod schema_authentication;
mod schema_authorization;
mod schema_autoscaling_v1;
mod schema_autoscaling_v2;
mod schema_batch;
mod schema_coordination;
mod schema_core_node;
mod schema_core_objects;
mod schema_core_pod;
mod schema_core_volume;
mod schema_discovery;
mod schema_events;
mod schema_kinds;
mod schema_meta;
mod schema_networking;
mod schema_policy;
mod schema_rbac;
mod schema_scheduling;
mod schema_storage;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_kinds;

pub use error::ProtobufError;

use serde_json::{Map, Value};
use wire::{Reader, WireType};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Decodes a protobuf body: the 4-byte magic, then runtime.Unknown {1: typeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}; the raw bytes are the object message named by kind (and apiVersion's group). Returns the JSON object with "apiVersion" and "kind" set.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_nested(body, 0, 0)
}

/// `decode` for a body found at `base` inside another one (a RawExtension
/// holding a protobuf object), `depth` levels down.
fn decode_nested(body: &[u8], base: usize, depth: usize) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(&MAGIC).ok_or(ProtobufError::NoMagic)?;
    let envelope = Envelope::read(Reader::new(rest, base + MAGIC.len()), depth)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(
            envelope.content_encoding,
        ));
    }
    if envelope.kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let message = kinds::lookup(&envelope.api_version, &envelope.kind)?;
    let mut object = json::decode_message(message, envelope.raw, depth + 1)?;
    object.insert("apiVersion".to_owned(), Value::String(envelope.api_version));
    object.insert("kind".to_owned(), Value::String(envelope.kind));
    Ok(Value::Object(object))
}

/// The `runtime.Unknown` wrapper around the object bytes.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: Reader<'a>,
    content_encoding: String,
}

static TYPE_META: schema::Message = schema::Message {
    name: "runtime.TypeMeta",
    fields: &[
        schema::Field::keep(1, "apiVersion", schema::Kind::String),
        schema::Field::keep(2, "kind", schema::Kind::String),
    ],
};

static UNKNOWN: schema::Message = schema::Message {
    name: "runtime.Unknown",
    fields: &[
        schema::Field::keep(1, "typeMeta", schema::Kind::Message(&TYPE_META)),
        schema::Field::keep(3, "contentEncoding", schema::Kind::String),
        schema::Field::keep(4, "contentType", schema::Kind::String),
    ],
};

impl<'a> Envelope<'a> {
    fn read(reader: Reader<'a>, depth: usize) -> Result<Envelope<'a>, ProtobufError> {
        // `raw` (field 2) must stay bytes, so it is pulled out by hand; the
        // string fields go through the generic decoder (field 2 is not in
        // UNKNOWN's table, so it skips it).
        let mut scan = reader.clone();
        let mut raw = Reader::new(&[], scan.offset());
        while let Some((number, wire)) = scan.key()? {
            if number != 2 {
                scan.skip(wire)?;
                continue;
            }
            if wire != WireType::Len {
                return Err(ProtobufError::WrongWireType {
                    message: UNKNOWN.name,
                    field: 2,
                    at: scan.offset(),
                    found: wire.number(),
                    found_name: wire.name(),
                    expected: WireType::Len.number(),
                    expected_name: WireType::Len.name(),
                });
            }
            raw = scan.len_delimited()?;
        }
        let fields = json::decode_message(&UNKNOWN, reader, depth)?;
        let type_meta = fields.get("typeMeta").and_then(Value::as_object);
        Ok(Envelope {
            api_version: string_field(type_meta, "apiVersion"),
            kind: string_field(type_meta, "kind"),
            raw,
            content_encoding: string_field(Some(&fields), "contentEncoding"),
        })
    }
}

fn string_field(object: Option<&Map<String, Value>>, key: &str) -> String {
    object
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
