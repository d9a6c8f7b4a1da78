//! Tests: bodies captured from kubectl 1.33 (compared with kubectl's own
//! `--dry-run=client -o json` rendering of the same command, or with JSON
//! written by hand where the command has no dry-run), and bodies built
//! with a tiny encoder for the cases kubectl does not produce. The kinds
//! kubectl never sends as protobuf are in `tests_kinds`.

use serde_json::{Value, json};

use super::json::go_duration;
use super::schema::{Kind, Message};
use super::{MAGIC, ProtobufError, decode, kinds};

/// A minimal protobuf writer, for tests only.
#[derive(Default, Clone)]
pub(super) struct Enc(pub(super) Vec<u8>);

impl Enc {
    pub(super) fn new() -> Enc {
        Enc::default()
    }

    pub(super) fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub(super) fn key(mut self, field: u32, wire_type: u8) -> Enc {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire_type));
        self
    }

    pub(super) fn int(self, field: u32, v: i64) -> Enc {
        let mut e = self.key(field, 0);
        e.raw_varint(v as u64);
        e
    }

    pub(super) fn bytes(self, field: u32, b: &[u8]) -> Enc {
        let mut e = self.key(field, 2);
        e.raw_varint(b.len() as u64);
        e.0.extend_from_slice(b);
        e
    }

    pub(super) fn str(self, field: u32, s: &str) -> Enc {
        self.bytes(field, s.as_bytes())
    }

    pub(super) fn msg(self, field: u32, m: Enc) -> Enc {
        self.bytes(field, &m.0)
    }

    pub(super) fn entry(self, field: u32, k: &str, v: &[u8]) -> Enc {
        self.msg(field, Enc::new().str(1, k).bytes(2, v))
    }

    /// A map entry whose value is a message.
    pub(super) fn entry_msg(self, field: u32, k: &str, v: Enc) -> Enc {
        self.msg(field, Enc::new().str(1, k).msg(2, v))
    }

    /// A `double` (wire type 1, little-endian).
    pub(super) fn double(self, field: u32, v: f64) -> Enc {
        let mut e = self.key(field, 1);
        e.0.extend_from_slice(&v.to_bits().to_le_bytes());
        e
    }
}

/// Wraps an object in the magic and runtime.Unknown envelope, the way
/// kubectl does (empty contentEncoding/contentType written explicitly).
pub(super) fn body(api_version: &str, kind: &str, object: Enc) -> Vec<u8> {
    let type_meta = Enc::new().str(1, api_version).str(2, kind);
    let unknown = Enc::new()
        .msg(1, type_meta)
        .msg(2, object)
        .str(3, "")
        .str(4, "");
    let mut out = MAGIC.to_vec();
    out.extend(unknown.0);
    out
}

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex fixture"))
        .collect()
}

/// Go's JSON writes `null` for nil slices/maps and zero times that lack
/// omitempty; the decoder leaves such fields out, so compare without them.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!("testdata/", $name, ".hex")),
            include_str!(concat!("testdata/", $name, ".json")),
        )),*]
    };
}

/// Bodies kubectl 1.33 POSTed to a loopback capture server, one per
/// `kubectl create` generator plus `auth can-i`, `auth whoami`, `autoscale`
/// and drain (see testdata/README.md for the commands).
static KUBECTL_FIXTURES: &[(&str, &str, &str)] = fixtures![
    "autoscale",
    "clusterrole",
    "clusterrole_agg",
    "clusterrolebinding",
    "configmap",
    "cronjob",
    "deployment",
    "deployment_port",
    "drain_delete",
    "drain_delete_grace",
    "ingress",
    "job",
    "namespace",
    "pdb",
    "pdb_max",
    "priorityclass",
    "priorityclass_zero",
    "quota",
    "role",
    "rolebinding",
    "secret_docker_registry",
    "secret_generic",
    "service_clusterip",
    "service_externalname",
    "service_headless",
    "service_lb",
    "service_nodeport",
    "serviceaccount",
    "ssar_all_namespaces",
    "ssar_create_pods",
    "ssar_non_resource",
    "ssar_subresource",
    "ssrr_list",
    "token",
    "whoami",
];

#[test]
fn kubectl_bodies_decode_like_kubectl_renders_them_as_json() {
    for (name, hex, expected) in KUBECTL_FIXTURES {
        let decoded = decode(&unhex(hex)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: Value = serde_json::from_str(expected).expect("fixture JSON");
        assert_eq!(
            decoded,
            without_nulls(expected),
            "{name}: got {}",
            serde_json::to_string_pretty(&decoded).unwrap_or_default()
        );
    }
}

#[test]
fn drain_fallback_delete_body_from_the_brief() {
    let body = unhex(
        "6b 38 73 00 0a 13 0a 02 76 31 12 0d 44 65 6c 65 74 65 4f 70 74 69 6f 6e 73 12 00 1a 00 22 00",
    );
    assert_eq!(
        decode(&body),
        Ok(json!({"apiVersion": "v1", "kind": "DeleteOptions"}))
    );
}

#[test]
fn delete_options_keeps_pointer_zeros_and_preconditions() {
    let options = Enc::new()
        .int(1, 0)
        .msg(2, Enc::new().str(1, "uid-1").str(2, "42"))
        .int(3, 0)
        .str(4, "Foreground")
        .str(5, "All");
    let decoded = decode(&body("apps/v1", "DeleteOptions", options));
    assert_eq!(
        decoded,
        Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        }))
    );
}

#[test]
fn secret_data_is_base64_and_string_data_is_text() {
    let secret = Enc::new()
        .msg(1, Enc::new().str(1, "s").str(3, "ns"))
        .entry(2, "bin", &[0, 159, 146, 150])
        .entry(2, "empty", b"")
        .str(3, "Opaque")
        .entry(4, "plain", b"hello")
        .int(5, 1);
    assert_eq!(
        decode(&body("v1", "Secret", secret)),
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"},
            "data": {"bin": "AJ+Slg==", "empty": ""},
            "type": "Opaque",
            "stringData": {"plain": "hello"},
            "immutable": true,
        }))
    );
}

#[test]
fn omitempty_zeros_drop_but_pointer_zeros_stay() {
    // DeploymentSpec: replicas (*int32) = 0 stays, minReadySeconds (int32,
    // omitempty) = 0 and paused (bool, omitempty) = false go.
    let spec = Enc::new().int(1, 0).int(5, 0).int(7, 0).int(9, 600);
    let object = Enc::new().msg(1, Enc::new().str(1, "d")).msg(2, spec);
    let decoded = decode(&body("apps/v1", "Deployment", object)).expect("decodes");
    assert_eq!(
        decoded["spec"],
        json!({"replicas": 0, "progressDeadlineSeconds": 600})
    );
}

#[test]
fn later_zero_erases_earlier_value_and_unknown_fields_are_skipped() {
    let meta = Enc::new()
        .str(1, "first")
        .str(1, "")
        .str(2, "gen-")
        .int(900, 5)
        .str(901, "future field")
        .key(902, 1);
    let mut meta = meta;
    meta.0.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let meta = meta.key(903, 5);
    let mut meta = meta;
    meta.0.extend_from_slice(&[1, 2, 3, 4]);
    let decoded = decode(&body("v1", "ConfigMap", Enc::new().msg(1, meta))).expect("decodes");
    assert_eq!(decoded["metadata"], json!({"generateName": "gen-"}));
}

#[test]
fn int_or_string_quantity_and_resource_maps() {
    // ServicePort: targetPort as a string, then as an int on a second port.
    let named = Enc::new()
        .int(3, 80)
        .msg(4, Enc::new().int(1, 1).str(3, "http"));
    let numbered = Enc::new()
        .int(3, 443)
        .msg(4, Enc::new().int(1, 0).int(2, 8443));
    let zero = Enc::new().int(3, 53).msg(4, Enc::new().int(1, 0).int(2, 0));
    let service = Enc::new().msg(2, Enc::new().msg(1, named).msg(1, numbered).msg(1, zero));
    let decoded = decode(&body("v1", "Service", service)).expect("decodes");
    assert_eq!(
        decoded["spec"]["ports"],
        json!([
            {"port": 80, "targetPort": "http"},
            {"port": 443, "targetPort": 8443},
            // A zero IntOrString is left out so defaulting sees it unset.
            {"port": 53},
        ])
    );

    let quantity = |s: &str| Enc::new().str(1, s);
    let hard = |k: &str, q: &str| Enc::new().str(1, k).msg(2, quantity(q));
    let quota = Enc::new().msg(
        2,
        Enc::new()
            .msg(1, hard("pods", "10"))
            .msg(1, hard("requests.cpu", "500m"))
            .msg(1, Enc::new().str(1, "no-value"))
            .str(2, "BestEffort"),
    );
    let decoded = decode(&body("v1", "ResourceQuota", quota)).expect("decodes");
    assert_eq!(
        decoded["spec"],
        json!({
            "hard": {"pods": "10", "requests.cpu": "500m", "no-value": "0"},
            "scopes": ["BestEffort"],
        })
    );
}

#[test]
fn pdb_min_available_zero_is_kept() {
    let spec = Enc::new().msg(1, Enc::new().int(1, 0).int(2, 0));
    let decoded = decode(&body(
        "policy/v1",
        "PodDisruptionBudget",
        Enc::new().msg(2, spec),
    ))
    .expect("ok");
    assert_eq!(decoded["spec"], json!({"minAvailable": 0}));
}

#[test]
fn times_render_as_rfc3339_and_zero_time_is_left_out() {
    // 2026-01-02T03:04:05Z
    let seconds = 1_767_323_045;
    let meta = Enc::new()
        .msg(8, Enc::new().int(1, seconds).int(2, 123_456_789))
        .msg(9, Enc::new());
    let event = Enc::new()
        .msg(1, meta)
        .msg(10, Enc::new().int(1, seconds).int(2, 123_456_789))
        .msg(6, Enc::new().int(1, 0).int(2, 0));
    let decoded = decode(&body("v1", "Event", event)).expect("decodes");
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"creationTimestamp": "2026-01-02T03:04:05Z"},
            "eventTime": "2026-01-02T03:04:05.123456Z",
        })
    );

    let far = Enc::new().msg(1, Enc::new().msg(8, Enc::new().int(1, i64::MAX)));
    assert!(matches!(
        decode(&body("v1", "Namespace", far)),
        Err(ProtobufError::TimeOutOfRange { .. })
    ));
    let ancient = Enc::new().msg(1, Enc::new().msg(8, Enc::new().int(1, -62_135_596_800)));
    let decoded = decode(&body("v1", "Namespace", ancient)).expect("year 1 is fine");
    assert_eq!(
        decoded["metadata"]["creationTimestamp"],
        "0001-01-01T00:00:00Z"
    );
}

#[test]
fn pod_volumes_inline_their_source_and_containers_decode() {
    let volume = Enc::new().str(1, "cfg").msg(
        2,
        Enc::new().msg(19, Enc::new().msg(1, Enc::new().str(1, "app-config"))),
    );
    let resources = Enc::new()
        .msg(1, Enc::new().str(1, "cpu").msg(2, Enc::new().str(1, "1")))
        .msg(
            2,
            Enc::new()
                .str(1, "memory")
                .msg(2, Enc::new().str(1, "64Mi")),
        );
    let container = Enc::new()
        .str(1, "app")
        .str(2, "busybox")
        .str(3, "sh")
        .str(4, "-c")
        .str(5, "/work")
        .msg(6, Enc::new().str(1, "http").int(3, 8080).str(4, "TCP"))
        .msg(7, Enc::new().str(1, "MODE").str(2, "prod"))
        .msg(8, resources)
        .msg(9, Enc::new().str(1, "cfg").str(3, "/etc/cfg").int(2, 1))
        .msg(
            10,
            Enc::new()
                .msg(
                    1,
                    Enc::new().msg(
                        2,
                        Enc::new()
                            .str(1, "/healthz")
                            .msg(2, Enc::new().int(1, 0).int(2, 8080)),
                    ),
                )
                .int(2, 3),
        )
        .str(13, "/dev/termination-log")
        .str(14, "IfNotPresent")
        .int(16, 1)
        .int(18, 1)
        .str(20, "File");
    let spec = Enc::new().msg(1, volume).msg(2, container).str(3, "Always");
    let decoded = decode(&body("v1", "Pod", Enc::new().msg(2, spec))).expect("decodes");
    assert_eq!(
        decoded["spec"],
        json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}],
            "containers": [{
                "name": "app",
                "image": "busybox",
                "command": ["sh"],
                "args": ["-c"],
                "workingDir": "/work",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "prod"}],
                "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "64Mi"}},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 3},
                "terminationMessagePath": "/dev/termination-log",
                "imagePullPolicy": "IfNotPresent",
                "stdin": true,
                "tty": true,
                "terminationMessagePolicy": "File",
            }],
            "restartPolicy": "Always",
        })
    );
}

#[test]
fn packed_and_negative_numbers() {
    // PodSecurityContext.supplementalGroups is repeated int64: accept both
    // the unpacked form gogo writes and the packed form proto3 writers use.
    let mut packed = Enc::new();
    packed.raw_varint(5);
    packed.raw_varint(300);
    let context = Enc::new().int(4, 1).bytes(4, &packed.0).int(2, -1);
    let decoded = decode(&body(
        "v1",
        "Pod",
        Enc::new().msg(2, Enc::new().msg(14, context)),
    ))
    .expect("decodes");
    assert_eq!(
        decoded["spec"]["securityContext"],
        json!({"supplementalGroups": [1, 5, 300], "runAsUser": -1})
    );
    // A negative int32 is a 10-byte sign-extended varint.
    let spec = Enc::new().int(1, -5);
    let decoded = decode(&body("apps/v1", "Deployment", Enc::new().msg(2, spec))).expect("ok");
    assert_eq!(decoded["spec"]["replicas"], -5);
}

#[test]
fn managed_fields_raw_json_and_nested_protobuf() {
    let entry = Enc::new()
        .str(1, "kubectl")
        .str(2, "Update")
        .str(6, "FieldsV1")
        .msg(7, Enc::new().str(1, r#"{"f:data":{".":{}}}"#));
    let object = Enc::new().msg(1, Enc::new().str(1, "c").msg(17, entry));
    let decoded = decode(&body("v1", "ConfigMap", object)).expect("decodes");
    assert_eq!(
        decoded["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}}},
        }])
    );

    let bad = Enc::new().msg(7, Enc::new().str(1, "{not json"));
    let object = Enc::new().msg(1, Enc::new().msg(17, bad));
    assert!(matches!(
        decode(&body("v1", "ConfigMap", object)),
        Err(ProtobufError::InvalidJson {
            message: "ManagedFieldsEntry",
            field: 7,
            ..
        })
    ));

    // Raw bytes that are themselves a protobuf object decode recursively,
    // and hostile nesting stops at the depth limit instead of the stack.
    let mut inner = body("v1", "Namespace", Enc::new().msg(1, Enc::new().str(1, "x")));
    let nested = Enc::new().msg(7, Enc::new().bytes(1, &inner));
    let object = Enc::new().msg(1, Enc::new().msg(17, nested));
    let decoded = decode(&body("v1", "ConfigMap", object)).expect("decodes");
    assert_eq!(
        decoded["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    );
    for _ in 0..40 {
        let nested = Enc::new().msg(7, Enc::new().bytes(1, &inner));
        inner = body(
            "v1",
            "ConfigMap",
            Enc::new().msg(1, Enc::new().msg(17, nested)),
        );
    }
    assert!(matches!(decode(&inner), Err(ProtobufError::TooDeep { .. })));
}

#[test]
fn errors_read_well() {
    let err = |body: &[u8]| decode(body).map(|_| ()).unwrap_err().to_string();

    assert_eq!(
        err(b"{\"kind\":\"Pod\"}"),
        "protobuf body does not start with the magic bytes \"k8s\\0\""
    );
    assert_eq!(err(b"k8s\0\x0a\x80"), "truncated varint at byte 5");
    assert_eq!(
        err(b"k8s\0\x0a\x05\x0a\x02v1"),
        "field at byte 5 needs 5 bytes but only 4 remain"
    );

    let unknown = err(&body("example.com/v1", "Widget", Enc::new()));
    assert!(
        unknown.starts_with(
            "unknown kind \"Widget\" in \"example.com/v1\": protobuf bodies are accepted for v1 Binding,"
        ),
        "{unknown}"
    );
    assert!(unknown.contains("apps/v1 Deployment"), "{unknown}");

    let wrong = Enc::new().msg(2, Enc::new().str(1, "three"));
    assert_eq!(
        err(&body("apps/v1", "Deployment", wrong)),
        "field 1 of DeploymentSpec has wire type 2 (length-delimited), expected 0 (varint) at byte 32"
    );

    let mut gzip = body("v1", "Namespace", Enc::new());
    let tail = Enc::new().str(3, "gzip");
    gzip.extend(tail.0);
    assert_eq!(
        err(&gzip),
        "protobuf body uses content encoding \"gzip\", which is not supported; send it uncompressed"
    );

    let no_kind = [MAGIC.to_vec(), Enc::new().msg(1, Enc::new().str(1, "v1")).0].concat();
    assert_eq!(
        err(&no_kind),
        "protobuf body names no kind (its typeMeta.kind is empty)"
    );

    let bad_utf8 = Enc::new().msg(1, Enc::new().bytes(1, &[0xff, 0xfe]));
    assert_eq!(
        err(&body("v1", "Namespace", bad_utf8)),
        "field 1 of ObjectMeta is not valid UTF-8 at byte 27"
    );

    let group = Enc::new().key(5, 3);
    assert!(err(&body("v1", "Namespace", group)).starts_with("unsupported protobuf wire type 3"));
}

#[test]
fn go_duration_strings() {
    for (nanos, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (5_400_000_000_000, "1h30m0s"),
        (-61_000_000_000, "-1m1s"),
    ] {
        assert_eq!(go_duration(nanos), text);
    }
}

#[test]
fn duration_kind_decodes() {
    // No covered kind has a metav1.Duration today, so exercise the kind
    // directly through a one-field table.
    static WITH_DURATION: Message = Message {
        name: "WithDuration",
        fields: &[super::schema::Field::omit(1, "timeout", Kind::Duration)],
    };
    let bytes = Enc::new().msg(1, Enc::new().int(1, 90_000_000_000));
    let decoded =
        super::json::decode_message(&WITH_DURATION, super::wire::Reader::new(&bytes.0, 0), 0);
    assert_eq!(
        decoded,
        Ok(json!({"timeout": "1m30s"})
            .as_object()
            .cloned()
            .unwrap_or_default())
    );
}

/// Every table reachable from an accepted kind has its fields sorted by
/// number (lookup is a binary search) and a JSON name unless inline.
#[test]
fn schema_tables_are_well_formed() {
    fn walk_kind(kind: Kind, seen: &mut Vec<*const Message>) {
        match kind {
            Kind::Message(inner) | Kind::SchemaOr(_, inner) => walk(inner, seen),
            Kind::Map(value) => walk_kind(*value, seen),
            _ => {}
        }
    }
    fn walk(message: &'static Message, seen: &mut Vec<*const Message>) {
        if seen.contains(&(message as *const Message)) {
            return;
        }
        seen.push(message);
        for pair in message.fields.windows(2) {
            assert!(
                pair[0].number < pair[1].number,
                "{} field {} out of order",
                message.name,
                pair[1].number
            );
        }
        for field in message.fields {
            assert!(
                !field.is_inline() || matches!(field.kind, Kind::Message(_)),
                "{} field {}",
                message.name,
                field.number
            );
            walk_kind(field.kind, seen);
        }
    }
    let mut seen = Vec::new();
    for (_, _, message) in kinds::KINDS {
        walk(message, &mut seen);
    }
    walk(&super::schema_meta::DELETE_OPTIONS, &mut seen);
    assert!(seen.len() > 350, "only {} messages reachable", seen.len());
}
