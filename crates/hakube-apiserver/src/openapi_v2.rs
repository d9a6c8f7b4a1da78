//! `/openapi/v2`: a minimal Swagger 2.0 document encoded as gnostic
//! `openapi.v2.Document` protobuf (what clients get with
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
//!
//! Why it exists: kubectl 1.28's `apply`/`create`/`replace` with the default
//! `--validate=strict` builds its validator from the v2 document
//! (`Factory.Validator` → `OpenAPISchema`), so a 404 there aborts the
//! command before any object is sent. Its field-validation check tries
//! `/openapi/v3` first and, on any error other than "unsupported", falls back
//! to this document: for a GroupVersionKind it takes the first path whose
//! PATCH operation carries `x-kubernetes-group-version-kind` for that GVK and
//! looks for a query parameter named `fieldValidation`. When found, kubectl
//! skips client-side schema validation and leaves it to the server.
//!
//! What it owns: the document's shape (one path per kind with GET, PUT,
//! PATCH and DELETE carrying the GVK extension; PUT and PATCH carrying the
//! `dryRun`, `fieldManager`, `fieldValidation` query parameters, PATCH also
//! `force`) and a hand-written protobuf writer for just the wire types used
//! here (varint and length-delimited).
//!
//! No `definitions` are emitted: kubectl parses the document but, without
//! definitions, finds no schema for any kind and so never rejects an object
//! client-side. `kubectl explain` in 1.28 uses `/openapi/v3` when the server
//! serves it and only needs v2 definitions otherwise.
//!
//! List every kind the server serves: for a GVK missing from the document
//! (while Namespace is present) kubectl 1.28 assumes a CRD and lists
//! `customresourcedefinitions`, failing the command if that 404s.
//!
//! The HTTP handler serving these bytes must answer with
//! `Content-Type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf`
//! (a `.` before `v1.0`, as kube-openapi does), not the `@` spelling kubectl
//! sends in `Accept`: client-go parses the response type with Go's
//! `mime.ParseMediaType`, which rejects `@`.
//!
//! Field numbers follow gnostic-models `openapiv2/OpenAPIv2.proto`
//! (package `openapi.v2`, proto3).

/// One kind's object path, e.g. ("/api/v1/namespaces/{namespace}/pods/{name}", "", "v1", "Pod").
pub struct KindPath {
    pub path: String,
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The protobuf bytes of a Swagger 2.0 document whose paths have, for each
/// kind, GET, PUT, PATCH and DELETE operations carrying
/// `x-kubernetes-group-version-kind`, and PUT/PATCH the query parameters
/// `dryRun`, `fieldManager`, `fieldValidation` (and `force` on PATCH).
///
/// Paths keep the order of `kinds`; kubectl uses the first PATCH matching a
/// GVK, so callers should list each GVK's object path once.
pub fn document(kinds: &[KindPath], version: &str) -> Vec<u8> {
    let mut doc = Message::default();
    doc.string(tag::document::SWAGGER, "2.0")
        .message(tag::document::INFO, &info(version))
        .message(tag::document::PATHS, &paths(kinds));
    doc.into_bytes()
}

/// Field numbers from gnostic's OpenAPIv2.proto, one module per message.
mod tag {
    pub mod document {
        pub const SWAGGER: u32 = 1;
        pub const INFO: u32 = 2;
        pub const PATHS: u32 = 8;
    }
    pub mod info {
        pub const TITLE: u32 = 1;
        pub const VERSION: u32 = 2;
    }
    pub mod paths {
        pub const PATH: u32 = 2;
    }
    /// NamedPathItem, NamedAny and NamedResponseValue share this layout.
    pub mod named {
        pub const NAME: u32 = 1;
        pub const VALUE: u32 = 2;
    }
    pub mod path_item {
        pub const GET: u32 = 2;
        pub const PUT: u32 = 3;
        pub const DELETE: u32 = 5;
        pub const PATCH: u32 = 8;
        pub const PARAMETERS: u32 = 9;
    }
    pub mod operation {
        pub const PRODUCES: u32 = 6;
        pub const CONSUMES: u32 = 7;
        pub const PARAMETERS: u32 = 8;
        pub const RESPONSES: u32 = 9;
        pub const VENDOR_EXTENSION: u32 = 13;
    }
    pub mod parameters_item {
        pub const PARAMETER: u32 = 1;
    }
    pub mod parameter {
        pub const NON_BODY_PARAMETER: u32 = 2;
    }
    pub mod non_body_parameter {
        pub const QUERY: u32 = 3;
        pub const PATH: u32 = 4;
    }
    /// QueryParameterSubSchema: note `type` is 6 here but 5 in the path one.
    pub mod query_parameter {
        pub const IN: u32 = 2;
        pub const NAME: u32 = 4;
        pub const TYPE: u32 = 6;
        pub const UNIQUE_ITEMS: u32 = 20;
    }
    pub mod path_parameter {
        pub const REQUIRED: u32 = 1;
        pub const IN: u32 = 2;
        pub const NAME: u32 = 4;
        pub const TYPE: u32 = 5;
    }
    pub mod responses {
        pub const RESPONSE_CODE: u32 = 1;
    }
    pub mod response_value {
        pub const RESPONSE: u32 = 1;
    }
    pub mod response {
        pub const DESCRIPTION: u32 = 1;
    }
    pub mod any {
        pub const YAML: u32 = 2;
    }
}

/// The vendor extension kubectl matches operations to kinds by.
const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";
/// Kubernetes' own documents name the verb too; cheap and keeps tools that
/// read it (client generators, doc renderers) working.
const ACTION_EXTENSION: &str = "x-kubernetes-action";

/// Patch content types a Kubernetes PATCH accepts, declared so the
/// operation is a complete Swagger operation.
const PATCH_CONSUMES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

fn info(version: &str) -> Message {
    let mut info = Message::default();
    info.string(tag::info::TITLE, "Kubernetes")
        .string(tag::info::VERSION, version);
    info
}

fn paths(kinds: &[KindPath]) -> Message {
    let mut paths = Message::default();
    for kind in kinds {
        let mut named = Message::default();
        named
            .string(tag::named::NAME, &kind.path)
            .message(tag::named::VALUE, &path_item(kind));
        paths.message(tag::paths::PATH, &named);
    }
    paths
}

fn path_item(kind: &KindPath) -> Message {
    let gvk = gvk_extension(kind);
    let mut item = Message::default();
    item.message(tag::path_item::GET, &operation("get", &gvk, &[], &[]))
        .message(
            tag::path_item::PUT,
            &operation("put", &gvk, &PUT_PARAMS, &[]),
        )
        .message(tag::path_item::DELETE, &operation("delete", &gvk, &[], &[]))
        .message(
            tag::path_item::PATCH,
            &operation("patch", &gvk, &PATCH_PARAMS, &PATCH_CONSUMES),
        );
    // Swagger 2.0 requires every `{placeholder}` to be declared; Kubernetes
    // declares them once on the path item rather than per operation.
    for name in path_placeholders(&kind.path) {
        item.message(tag::path_item::PARAMETERS, &path_parameter(name));
    }
    item
}

/// A query parameter of a write operation, with its Swagger type.
struct QueryParam {
    name: &'static str,
    kind: &'static str,
}

const fn query(name: &'static str, kind: &'static str) -> QueryParam {
    QueryParam { name, kind }
}

/// The query parameters PUT carries. `fieldValidation` is the one kubectl
/// checks for; the others are what the server accepts on every write.
const PUT_PARAMS: [QueryParam; 3] = [
    query("dryRun", "string"),
    query("fieldManager", "string"),
    query("fieldValidation", "string"),
];

/// PATCH also takes `force`, which only server-side apply patches use.
/// kubectl looks for `fieldValidation` on PATCH specifically.
const PATCH_PARAMS: [QueryParam; 4] = [
    query("dryRun", "string"),
    query("fieldManager", "string"),
    query("fieldValidation", "string"),
    query("force", "boolean"),
];

fn operation(action: &str, gvk: &Message, params: &[QueryParam], consumes: &[&str]) -> Message {
    let mut op = Message::default();
    op.repeated_string(tag::operation::PRODUCES, "application/json");
    for content_type in consumes {
        op.repeated_string(tag::operation::CONSUMES, content_type);
    }
    for param in params {
        op.message(tag::operation::PARAMETERS, &query_parameter(param));
    }
    op.message(tag::operation::RESPONSES, &ok_responses())
        .message(
            tag::operation::VENDOR_EXTENSION,
            &named_any(ACTION_EXTENSION, &format!("{}\n", yaml_quote(action))),
        )
        .message(tag::operation::VENDOR_EXTENSION, gvk);
    op
}

/// `x-kubernetes-group-version-kind` as a NamedAny whose YAML is a mapping
/// of three strings; kubectl decodes it into `map[string]string`.
fn gvk_extension(kind: &KindPath) -> Message {
    let yaml = format!(
        "group: {}\nkind: {}\nversion: {}\n",
        yaml_quote(&kind.group),
        yaml_quote(&kind.kind),
        yaml_quote(&kind.version)
    );
    named_any(GVK_EXTENSION, &yaml)
}

fn named_any(name: &str, yaml: &str) -> Message {
    let mut any = Message::default();
    any.string(tag::any::YAML, yaml);
    let mut named = Message::default();
    named
        .string(tag::named::NAME, name)
        .message(tag::named::VALUE, &any);
    named
}

/// A ParametersItem wrapping Parameter → NonBodyParameter → query sub-schema.
fn query_parameter(param: &QueryParam) -> Message {
    let mut query = Message::default();
    query
        .string(tag::query_parameter::IN, "query")
        .string(tag::query_parameter::NAME, param.name)
        .string(tag::query_parameter::TYPE, param.kind)
        // Single-valued, which Kubernetes' own documents spell this way.
        .bool(tag::query_parameter::UNIQUE_ITEMS, true);
    non_body_item(tag::non_body_parameter::QUERY, &query)
}

fn path_parameter(name: &str) -> Message {
    let mut path = Message::default();
    path.bool(tag::path_parameter::REQUIRED, true)
        .string(tag::path_parameter::IN, "path")
        .string(tag::path_parameter::NAME, name)
        .string(tag::path_parameter::TYPE, "string");
    non_body_item(tag::non_body_parameter::PATH, &path)
}

fn non_body_item(sub_schema_field: u32, sub_schema: &Message) -> Message {
    let mut non_body = Message::default();
    non_body.message(sub_schema_field, sub_schema);
    let mut parameter = Message::default();
    parameter.message(tag::parameter::NON_BODY_PARAMETER, &non_body);
    let mut item = Message::default();
    item.message(tag::parameters_item::PARAMETER, &parameter);
    item
}

/// Swagger 2.0 requires at least one response per operation.
fn ok_responses() -> Message {
    let mut response = Message::default();
    response.string(tag::response::DESCRIPTION, "OK");
    let mut value = Message::default();
    value.message(tag::response_value::RESPONSE, &response);
    let mut named = Message::default();
    named
        .string(tag::named::NAME, "200")
        .message(tag::named::VALUE, &value);
    let mut responses = Message::default();
    responses.message(tag::responses::RESPONSE_CODE, &named);
    responses
}

/// The names inside `{...}` segments of a path template, in order.
fn path_placeholders(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| {
        segment
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
    })
}

/// A YAML double-quoted scalar, so any group/kind/version (including the
/// empty core group) reads back as the same string.
fn yaml_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Protobuf wire types used here (the others are never needed).
const WIRE_VARINT: u8 = 0;
const WIRE_LEN: u8 = 2;

/// One protobuf message being written, fields appended in call order.
/// Nested messages are built first and copied in, which keeps the writer
/// trivial; the document is small enough that the copies do not matter.
#[derive(Default)]
struct Message {
    buf: Vec<u8>,
}

impl Message {
    /// A singular proto3 string: empty is the default and is left out.
    fn string(&mut self, field: u32, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.repeated_string(field, value);
        }
        self
    }

    /// One element of a repeated string: always written.
    fn repeated_string(&mut self, field: u32, value: &str) -> &mut Self {
        self.len_delimited(field, value.as_bytes())
    }

    fn message(&mut self, field: u32, value: &Message) -> &mut Self {
        self.len_delimited(field, &value.buf)
    }

    /// A singular proto3 bool: false is the default and is left out.
    fn bool(&mut self, field: u32, value: bool) -> &mut Self {
        if value {
            put_key(&mut self.buf, field, WIRE_VARINT);
            put_varint(&mut self.buf, 1);
        }
        self
    }

    fn len_delimited(&mut self, field: u32, bytes: &[u8]) -> &mut Self {
        put_key(&mut self.buf, field, WIRE_LEN);
        put_varint(&mut self.buf, bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
        self
    }

    fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Base-128 little-endian varint: 7 bits per byte, high bit = more follow.
fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded field: varint or length-delimited bytes.
    #[derive(Debug, Clone, PartialEq)]
    enum Value {
        Varint(u64),
        Bytes(Vec<u8>),
    }

    fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = buf[*pos];
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    /// Decodes one message level; panics on anything this writer never emits.
    fn decode(buf: &[u8]) -> Vec<(u32, Value)> {
        let mut pos = 0;
        let mut fields = Vec::new();
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos);
            let field = u32::try_from(key >> 3).unwrap();
            let value = match key & 7 {
                0 => Value::Varint(read_varint(buf, &mut pos)),
                2 => {
                    let len = usize::try_from(read_varint(buf, &mut pos)).unwrap();
                    let bytes = buf[pos..pos + len].to_vec();
                    pos += len;
                    Value::Bytes(bytes)
                }
                other => panic!("unexpected wire type {other}"),
            };
            fields.push((field, value));
        }
        assert_eq!(pos, buf.len(), "trailing bytes");
        fields
    }

    /// All length-delimited values of `field`.
    fn all(buf: &[u8], field: u32) -> Vec<Vec<u8>> {
        decode(buf)
            .into_iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| match v {
                Value::Bytes(b) => b,
                Value::Varint(_) => panic!("field {field} is a varint"),
            })
            .collect()
    }

    fn one(buf: &[u8], field: u32) -> Vec<u8> {
        let values = all(buf, field);
        assert_eq!(values.len(), 1, "field {field}");
        values.into_iter().next().unwrap()
    }

    fn text(buf: &[u8], field: u32) -> String {
        String::from_utf8(one(buf, field)).unwrap()
    }

    fn strings(buf: &[u8], field: u32) -> Vec<String> {
        all(buf, field)
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    }

    fn varint(value: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        buf
    }

    fn pod() -> KindPath {
        KindPath {
            path: "/api/v1/namespaces/{namespace}/pods/{name}".into(),
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
        }
    }

    fn pdb() -> KindPath {
        KindPath {
            path: "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}".into(),
            group: "policy".into(),
            version: "v1".into(),
            kind: "PodDisruptionBudget".into(),
        }
    }

    /// Name → value pairs of a repeated Named* field.
    fn named(buf: &[u8], field: u32) -> Vec<(String, Vec<u8>)> {
        all(buf, field)
            .iter()
            .map(|n| (text(n, tag::named::NAME), one(n, tag::named::VALUE)))
            .collect()
    }

    /// Vendor extensions of an operation as name → YAML.
    fn extensions(op: &[u8]) -> Vec<(String, String)> {
        named(op, tag::operation::VENDOR_EXTENSION)
            .into_iter()
            .map(|(name, any)| (name, text(&any, tag::any::YAML)))
            .collect()
    }

    /// (name, in, type) of an operation's query parameters, the way
    /// kubectl reaches them: parameter.nonBodyParameter.querySubSchema.
    fn query_params(op: &[u8]) -> Vec<(String, String, String)> {
        all(op, tag::operation::PARAMETERS)
            .iter()
            .map(|item| {
                let parameter = one(item, tag::parameters_item::PARAMETER);
                let non_body = one(&parameter, tag::parameter::NON_BODY_PARAMETER);
                let query = one(&non_body, tag::non_body_parameter::QUERY);
                (
                    text(&query, tag::query_parameter::NAME),
                    text(&query, tag::query_parameter::IN),
                    text(&query, tag::query_parameter::TYPE),
                )
            })
            .collect()
    }

    fn path_items(doc: &[u8]) -> Vec<(String, Vec<u8>)> {
        named(&one(doc, tag::document::PATHS), tag::paths::PATH)
    }

    #[test]
    fn varints_match_the_protobuf_spec() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(16_384), [0x80, 0x80, 0x01]);
        let max = varint(u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(max[9], 0x01);
        assert!(max[..9].iter().all(|b| *b == 0xff));
    }

    #[test]
    fn keys_pack_field_and_wire_type() {
        let mut buf = Vec::new();
        put_key(&mut buf, 1, WIRE_LEN);
        assert_eq!(buf, [0x0a]);
        buf.clear();
        // Field 16 no longer fits in one byte's 4 field bits.
        put_key(&mut buf, 16, WIRE_LEN);
        assert_eq!(buf, [0x82, 0x01]);
        buf.clear();
        put_key(&mut buf, 20, WIRE_VARINT);
        assert_eq!(buf, [0xa0, 0x01]);
    }

    #[test]
    fn message_writes_exact_bytes_and_skips_defaults() {
        let mut inner = Message::default();
        inner.bool(1, true).bool(2, false).string(3, "");
        let mut outer = Message::default();
        outer
            .string(1, "2.0")
            .message(2, &inner)
            .repeated_string(3, "");
        assert_eq!(
            outer.into_bytes(),
            [0x0a, 3, b'2', b'.', b'0', 0x12, 2, 0x08, 0x01, 0x1a, 0]
        );
    }

    #[test]
    fn long_values_get_multi_byte_lengths() {
        let long = "x".repeat(200);
        let mut msg = Message::default();
        msg.string(1, &long);
        let bytes = msg.into_bytes();
        assert_eq!(&bytes[..3], [0x0a, 0xc8, 0x01]);
        assert_eq!(text(&bytes, 1), long);
    }

    #[test]
    fn empty_document_has_swagger_and_info() {
        let doc = document(&[], "v1.28.0");
        assert_eq!(text(&doc, tag::document::SWAGGER), "2.0");
        let info = one(&doc, tag::document::INFO);
        assert_eq!(text(&info, tag::info::TITLE), "Kubernetes");
        assert_eq!(text(&info, tag::info::VERSION), "v1.28.0");
        assert!(path_items(&doc).is_empty());
    }

    #[test]
    fn every_kind_gets_one_path_in_order() {
        let doc = document(&[pod(), pdb()], "v1.28.0");
        let names: Vec<String> = path_items(&doc).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [pod().path, pdb().path]);
    }

    #[test]
    fn all_four_operations_carry_the_gvk() {
        let doc = document(&[pdb()], "v1");
        let (_, item) = &path_items(&doc)[0];
        let expected_gvk = "group: \"policy\"\nkind: \"PodDisruptionBudget\"\nversion: \"v1\"\n";
        for (field, action) in [
            (tag::path_item::GET, "get"),
            (tag::path_item::PUT, "put"),
            (tag::path_item::PATCH, "patch"),
            (tag::path_item::DELETE, "delete"),
        ] {
            let op = one(item, field);
            assert_eq!(
                extensions(&op),
                [
                    (ACTION_EXTENSION.to_string(), format!("\"{action}\"\n")),
                    (GVK_EXTENSION.to_string(), expected_gvk.to_string()),
                ],
                "{action}"
            );
            assert_eq!(strings(&op, tag::operation::PRODUCES), ["application/json"]);
            assert_eq!(all(&op, tag::operation::RESPONSES).len(), 1);
        }
    }

    #[test]
    fn core_group_is_an_explicit_empty_string() {
        let doc = document(&[pod()], "v1");
        let (_, item) = &path_items(&doc)[0];
        let patch = one(item, tag::path_item::PATCH);
        let gvk = extensions(&patch)
            .into_iter()
            .find(|(name, _)| name == GVK_EXTENSION)
            .map(|(_, yaml)| yaml);
        assert_eq!(
            gvk.as_deref(),
            Some("group: \"\"\nkind: \"Pod\"\nversion: \"v1\"\n")
        );
    }

    #[test]
    fn put_and_patch_carry_the_write_query_parameters() {
        let doc = document(&[pod()], "v1");
        let (_, item) = &path_items(&doc)[0];
        let q = |name: &str, ty: &str| (name.to_string(), "query".to_string(), ty.to_string());
        let write = vec![
            q("dryRun", "string"),
            q("fieldManager", "string"),
            q("fieldValidation", "string"),
        ];
        assert_eq!(query_params(&one(item, tag::path_item::PUT)), write);
        let mut patch = write.clone();
        patch.push(q("force", "boolean"));
        assert_eq!(query_params(&one(item, tag::path_item::PATCH)), patch);
        assert!(query_params(&one(item, tag::path_item::GET)).is_empty());
        assert!(query_params(&one(item, tag::path_item::DELETE)).is_empty());
    }

    #[test]
    fn patch_declares_its_content_types() {
        let doc = document(&[pod()], "v1");
        let (_, item) = &path_items(&doc)[0];
        let patch = one(item, tag::path_item::PATCH);
        assert_eq!(strings(&patch, tag::operation::CONSUMES), PATCH_CONSUMES);
    }

    #[test]
    fn path_placeholders_become_required_path_parameters() {
        let doc = document(&[pod()], "v1");
        let (_, item) = &path_items(&doc)[0];
        let params: Vec<(String, Vec<(u32, Value)>)> = all(item, tag::path_item::PARAMETERS)
            .iter()
            .map(|item| {
                let parameter = one(item, tag::parameters_item::PARAMETER);
                let non_body = one(&parameter, tag::parameter::NON_BODY_PARAMETER);
                let path = one(&non_body, tag::non_body_parameter::PATH);
                (text(&path, tag::path_parameter::NAME), decode(&path))
            })
            .collect();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["namespace", "name"]);
        for (_, fields) in &params {
            assert!(fields.contains(&(tag::path_parameter::REQUIRED, Value::Varint(1))));
            assert!(fields.contains(&(tag::path_parameter::IN, Value::Bytes(b"path".to_vec()))));
            assert!(
                fields.contains(&(tag::path_parameter::TYPE, Value::Bytes(b"string".to_vec())))
            );
        }
    }

    #[test]
    fn placeholders_ignore_plain_segments() {
        let found: Vec<&str> = path_placeholders("/api/v1/namespaces/{name}").collect();
        assert_eq!(found, ["name"]);
        assert_eq!(path_placeholders("/api/v1/nodes").count(), 0);
    }

    #[test]
    fn yaml_quote_escapes_what_yaml_double_quotes_need() {
        assert_eq!(yaml_quote(""), "\"\"");
        assert_eq!(yaml_quote("apps"), "\"apps\"");
        assert_eq!(yaml_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(yaml_quote("a\nb"), "\"a\\u000ab\"");
    }
}
