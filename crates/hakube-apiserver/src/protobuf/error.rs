//! Errors from decoding a protobuf body, worded for the person who sent it
//! (they end up in a 400/415 Status message). Byte offsets count from the
//! start of the HTTP body, magic included.

/// Why a protobuf request body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the magic bytes \"k8s\\0\"")]
    NoMagic,
    #[error("truncated varint at byte {at}")]
    TruncatedVarint { at: usize },
    #[error("varint at byte {at} is longer than 10 bytes")]
    VarintTooLong { at: usize },
    #[error("field at byte {at} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        at: usize,
        needed: u64,
        remaining: usize,
    },
    #[error("invalid field number {number} at byte {at}")]
    InvalidFieldNumber { at: usize, number: u64 },
    #[error("unsupported protobuf wire type {wire_type} at byte {at}")]
    UnsupportedWireType { at: usize, wire_type: u8 },
    #[error(
        "field {field} of {message} has wire type {found} ({found_name}), expected {expected} ({expected_name}) at byte {at}"
    )]
    WrongWireType {
        message: &'static str,
        field: u32,
        at: usize,
        found: u8,
        found_name: &'static str,
        expected: u8,
        expected_name: &'static str,
    },
    #[error("field {field} of {message} is not valid UTF-8 at byte {at}")]
    InvalidUtf8 {
        message: &'static str,
        field: u32,
        at: usize,
    },
    #[error("field {field} of {message} holds invalid embedded JSON at byte {at}: {reason}")]
    InvalidJson {
        message: &'static str,
        field: u32,
        at: usize,
        reason: String,
    },
    #[error(
        "field {field} of {message} holds an IntOrString of unknown type {int_or_string_type} at byte {at}"
    )]
    InvalidIntOrString {
        message: &'static str,
        field: u32,
        at: usize,
        int_or_string_type: i64,
    },
    #[error(
        "field {field} of {message} holds a timestamp outside years 1-9999 ({seconds} s) at byte {at}"
    )]
    TimeOutOfRange {
        message: &'static str,
        field: u32,
        at: usize,
        seconds: i64,
    },
    #[error("field {field} of {message} is not a finite number ({value}) at byte {at}")]
    NonFiniteNumber {
        message: &'static str,
        field: u32,
        at: usize,
        value: String,
    },
    #[error("objects nest deeper than {limit} levels at byte {at}")]
    TooDeep { at: usize, limit: usize },
    #[error("protobuf body names no kind (its typeMeta.kind is empty)")]
    MissingKind,
    #[error(
        "protobuf body uses content encoding {0:?}, which is not supported; send it uncompressed"
    )]
    UnsupportedEncoding(String),
    #[error(
        "unknown kind {kind:?} in {api_version:?}: protobuf bodies are accepted for {accepted}"
    )]
    UnknownKind {
        kind: String,
        api_version: String,
        accepted: String,
    },
}
