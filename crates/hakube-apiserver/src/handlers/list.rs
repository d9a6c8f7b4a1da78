//! LIST: every object of a type (in a namespace or across all), filtered by label and field
//! selectors, in pages (`limit`/`continue`) read at one revision, as a List or a Table.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::freshness;
use crate::negotiation::{Representation, representation};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::storage::{self, Freshness};
use crate::{objects, respond, table};

/// The selectors of a list or watch request.
pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Byte strings every matching object's stored JSON contains (see [`Self::may_match`]).
    needles: Vec<Vec<u8>>,
}

/// String fields whose required value, JSON-encoded, must appear in a matching object's bytes.
/// (Not booleans or numbers: their JSON text is not a quoted string.)
const STRING_FIELDS: &[&str] = &[
    "spec.nodeName",
    "metadata.name",
    "status.phase",
    "spec.schedulerName",
    "spec.serviceAccountName",
];

impl Selection {
    pub fn from_call(call: &Call) -> ApiResult<Self> {
        let labels = LabelSelector::parse(call.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let fields = FieldSelector::parse(call.query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let resource = &call.target.resource;
        if let Some(field) = fields
            .fields()
            .find(|f| !field_supported(&resource.group, &resource.plural, f))
        {
            return Err(ApiError::BadRequest(format!(
                "field label not supported: {field}"
            )));
        }
        Ok(Self::new(labels, fields))
    }

    pub(crate) fn new(labels: LabelSelector, fields: FieldSelector) -> Self {
        let needles = STRING_FIELDS
            .iter()
            .filter_map(|field| fields.required_value(field))
            .filter(|value| !value.is_empty())
            .chain(labels.required_strings())
            .filter_map(|value| serde_json::to_vec(value).ok())
            .collect();
        Selection {
            labels,
            fields,
            needles,
        }
    }

    /// False when the stored JSON `bytes` cannot match: a required string value does not
    /// appear in them (the store's JSON escapes a string as `serde_json` does here). Lets a
    /// list or watch for one node's pods skip the other nodes' pods without decoding them.
    pub fn may_match(&self, bytes: &[u8]) -> bool {
        self.needles
            .iter()
            .all(|needle| memchr::memmem::find(bytes, needle).is_some())
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(&objects::labels(object)) && self.fields.matches(object)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// The fields a field selector may test, per resource (upstream's field label conversions).
fn field_supported(group: &str, plural: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "secrets") => &["type"],
        ("", "services") => &["spec.clusterIP", "spec.type"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", _) => &["spec.signerName"],
        _ => &[],
    };
    extra.contains(&field)
}

/// Where a page continues: the revision of the first page and the key to start from.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

fn encode_continue(revision: u64, start: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv: revision,
        start: start.to_string(),
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(text: &str) -> ApiResult<ContinueToken> {
    let invalid = || {
        ApiError::BadRequest(format!(
            "invalid continue token {text:?}: it was not issued by this server"
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| invalid())?;
    let token: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // The start is appended to the listed prefix, so no token can reach outside the list.
    if token.v != "meta.k8s.io/v1" {
        return Err(invalid());
    }
    Ok(token)
}

/// The key range to scan: the namespace's when the request or a field selector names one.
fn scan_prefix(call: &Call, selection: &Selection) -> Vec<u8> {
    let namespace = call
        .target
        .namespace
        .as_deref()
        .or_else(|| selection.fields.required_value("metadata.namespace"));
    storage::prefix(&call.target.resource, namespace)
}

/// One stored object as JSON with its resourceVersion, spliced in without decoding when it can.
fn raw_item(kv: &hakube_store::KeyValue) -> ApiResult<Vec<u8>> {
    if let Some(bytes) = crate::raw_json::with_resource_version(&kv.value, kv.mod_revision) {
        return Ok(bytes);
    }
    let object = storage::decode(kv)?;
    serde_json::to_vec(&object).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `{"kind":…,"apiVersion":…,"metadata":…,"items":[…]}` around already encoded items.
fn raw_list(kind: &str, api_version: &str, metadata: &Value, items: &[Vec<u8>]) -> Vec<u8> {
    let head = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}).to_string();
    let size = head.len() + items.iter().map(|i| i.len() + 1).sum::<usize>() + 16;
    let mut body = Vec::with_capacity(size);
    // `head` ends with its closing brace: reopen it for the items.
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    body
}

pub async fn list(call: Call) -> ApiResult<Response> {
    let selection = Selection::from_call(&call)?;
    let limit = call.query.number("limit")?.unwrap_or(0) as usize;
    let prefix = scan_prefix(&call, &selection);
    let end = storage::prefix_end(&prefix);
    let (read_freshness, mut start) = match call.query.get("continue").filter(|c| !c.is_empty()) {
        Some(text) => {
            let token = decode_continue(text)?;
            let mut start = prefix.clone();
            start.extend_from_slice(token.start.as_bytes());
            (Freshness::Exact(token.rv), start)
        }
        None => (freshness(&call)?, prefix.clone()),
    };
    let storage = &call.server.storage;
    let read = if selection.needles.is_empty() {
        storage.range(&start, &end, read_freshness).await
    } else {
        let keep = |bytes: &[u8]| selection.may_match(bytes);
        storage
            .range_matching(&start, &end, read_freshness, &keep)
            .await
    };
    let (items, read) = read.map_err(|error| match error {
            ApiError::Expired(_) => ApiError::Expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into()),
            other => other,
        })?;
    // A plain JSON list of built-in objects is assembled from the stored bytes (see raw_json).
    let raw = matches!(representation(&call.headers), Representation::Object)
        && selection.is_empty()
        && call.target.resource.custom.is_none();
    let mut objects = Vec::new();
    let mut raw_items: Vec<Vec<u8>> = Vec::new();
    let mut next = None;
    let mut scanned = 0;
    for kv in &items {
        scanned += 1;
        let taken = if raw {
            raw_items.push(raw_item(kv)?);
            raw_items.len()
        } else {
            let mut object = storage::decode(kv)?;
            if !selection.matches(&object) {
                continue;
            }
            call.target.resource.present(&mut object);
            objects.push(object);
            objects.len()
        };
        if limit > 0 && taken == limit {
            if scanned < items.len() {
                next = Some(kv.key.clone());
            }
            break;
        }
    }
    let mut metadata = json!({"resourceVersion": read.revision.to_string()});
    if let Some(last_key) = next {
        start = last_key;
        start.push(0);
        let suffix = String::from_utf8_lossy(&start[prefix.len()..]).into_owned();
        metadata["continue"] = json!(encode_continue(read.revision, &suffix));
        if selection.is_empty() {
            metadata["remainingItemCount"] = json!(items.len() - scanned);
        }
    }
    let warnings = respond::read_warnings(read.stale);
    let resource = &call.target.resource;
    if raw {
        let body = raw_list(
            &resource.list_kind(),
            &resource.api_version(),
            &metadata,
            &raw_items,
        );
        return Ok(respond::json_bytes(StatusCode::OK, body, &warnings));
    }
    Ok(match representation(&call.headers) {
        Representation::Table => {
            let table = table::build(resource, &objects, &call.query, metadata);
            respond::table(StatusCode::OK, &table, &warnings)
        }
        Representation::Object => {
            let list = json!({
                "kind": resource.list_kind(),
                "apiVersion": resource.api_version(),
                "metadata": metadata,
                "items": objects,
            });
            respond::json(StatusCode::OK, &list, &warnings)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(fields: &str) -> Selection {
        Selection::new(
            LabelSelector::parse("").expect("valid"),
            FieldSelector::parse(fields).expect("valid"),
        )
    }

    #[test]
    fn bytes_without_a_required_string_value_cannot_match() {
        let pod =
            br#"{"metadata":{"name":"web"},"spec":{"nodeName":"node-1","unschedulable":false}}"#;
        assert!(selection("spec.nodeName=node-1").may_match(pod));
        assert!(!selection("spec.nodeName=node-2").may_match(pod));
        // Only string fields narrow: `false` is not stored as a quoted string.
        assert!(selection("spec.unschedulable=false").may_match(pod));
        // Not-equal and empty values never narrow.
        assert!(selection("spec.nodeName!=node-1").may_match(pod));
        assert!(selection("spec.nodeName=").may_match(pod));
        // A value needing escapes is looked for escaped, as the store holds it.
        let quoted = br#"{"metadata":{"name":"a\"b"}}"#;
        assert!(selection("metadata.name=a\"b").may_match(quoted));
    }

    #[test]
    fn labels_narrow_by_their_keys_and_equal_values() {
        let labelled = |labels: &str| {
            Selection::new(
                LabelSelector::parse(labels).expect("valid"),
                FieldSelector::parse("").expect("valid"),
            )
        };
        let pod = br#"{"metadata":{"name":"web-1","labels":{"app":"web","tier":"front"}}}"#;
        assert!(labelled("app=web").may_match(pod));
        assert!(labelled("app in (web),tier").may_match(pod));
        assert!(!labelled("app=db").may_match(pod));
        assert!(!labelled("canary").may_match(pod));
        // Negations and several values never narrow.
        assert!(labelled("app!=web,!canary,app in (db,web)").may_match(pod));
    }
}
