#!/usr/bin/env python3
"""Generates src/protobuf/schema_*.rs from Kubernetes' generated.proto files
(field numbers and wire types) and types.go files (JSON names, omitempty,
pointer-ness, inline embedding), plus schema_kinds.rs, the table of
(apiVersion, kind) pairs the decoder accepts.

Usage: gen_schema.py PROTO_DIR GO_DIR OUT_DIR
  PROTO_DIR holds <key>.proto and GO_DIR <key>.go for every key of GROUPS
  below, copied from that group version's generated.proto and types.go:
    kubernetes/api              <group>/<version>/   for core, apps, ...,
                                                     autoscaling_v1 (autoscaling/v1),
                                                     autoscaling_v2 (autoscaling/v2)
    kubernetes/apimachinery     pkg/apis/meta/v1/    for meta
    kubernetes/apiextensions-apiserver
                                pkg/apis/apiextensions/v1/ for apiextensions
                                (apiextensions.go = types.go followed by
                                types_jsonschema.go)
  plus runtime.proto, resource.proto and intstr.proto from apimachinery's
  pkg/runtime, pkg/api/resource and pkg/util/intstr (no .go needed).
The checked-in tables come from tag v0.36.3 of all three repositories. The
output is plain Rust statics; rerun after bumping the API version, then
`cargo fmt`.
"""
import re
import sys
from collections import OrderedDict

PROTO_DIR, GO_DIR, OUT_DIR = sys.argv[1:4]

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
APIEXT = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"

# File key -> (protobuf package, apiVersion). Each key becomes one
# schema_<key>.rs (core/v1 is split further by file_of).
GROUPS = OrderedDict([
    ("core", ("k8s.io.api.core.v1", "v1")),
    ("apiextensions", (APIEXT, "apiextensions.k8s.io/v1")),
    ("apps", ("k8s.io.api.apps.v1", "apps/v1")),
    ("authentication", ("k8s.io.api.authentication.v1", "authentication.k8s.io/v1")),
    ("authorization", ("k8s.io.api.authorization.v1", "authorization.k8s.io/v1")),
    ("autoscaling_v1", ("k8s.io.api.autoscaling.v1", "autoscaling/v1")),
    ("autoscaling_v2", ("k8s.io.api.autoscaling.v2", "autoscaling/v2")),
    ("batch", ("k8s.io.api.batch.v1", "batch/v1")),
    ("coordination", ("k8s.io.api.coordination.v1", "coordination.k8s.io/v1")),
    ("discovery", ("k8s.io.api.discovery.v1", "discovery.k8s.io/v1")),
    ("events", ("k8s.io.api.events.v1", "events.k8s.io/v1")),
    ("networking", ("k8s.io.api.networking.v1", "networking.k8s.io/v1")),
    ("policy", ("k8s.io.api.policy.v1", "policy/v1")),
    ("rbac", ("k8s.io.api.rbac.v1", "rbac.authorization.k8s.io/v1")),
    ("scheduling", ("k8s.io.api.scheduling.v1", "scheduling.k8s.io/v1")),
    ("storage", ("k8s.io.api.storage.v1", "storage.k8s.io/v1")),
    ("meta", (META, "meta/v1")),
])
SUPPORT_PROTOS = ["runtime", "resource", "intstr"]
KEY_OF = {pkg: key for key, (pkg, _) in GROUPS.items()}

# Messages whose JSON form is not an object of their fields, with the
# wire shape the Rust side assumes (checked against the .proto below).
SPECIAL = {
    f"{META}.Time": ("Kind::Time", [("optional", "int64", 1), ("optional", "int32", 2)]),
    f"{META}.MicroTime": ("Kind::MicroTime", [("optional", "int64", 1), ("optional", "int32", 2)]),
    f"{META}.Duration": ("Kind::Duration", [("optional", "int64", 1)]),
    f"{META}.FieldsV1": ("Kind::RawJson", [("optional", "bytes", 1)]),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": ("Kind::RawJson", [("optional", "bytes", 1)]),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": ("Kind::Quantity", [("optional", "string", 1)]),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": (
        "Kind::IntOrString", [("optional", "int64", 1), ("optional", "int32", 2), ("optional", "string", 3)]),
    # apiextensions JSON{raw}: MarshalJSON writes the raw bytes.
    f"{APIEXT}.JSON": ("Kind::RawJson", [("optional", "bytes", 1)]),
    # `type ExtraValue []string`, wrapped in a message for protobuf.
    "k8s.io.api.authentication.v1.ExtraValue": ("Kind::StringList", [("repeated", "string", 1)]),
    "k8s.io.api.authorization.v1.ExtraValue": ("Kind::StringList", [("repeated", "string", 1)]),
}
# Go structs with a MarshalJSON that writes one of their fields, not an
# object: their table is emitted (with the proto field names, as Go has no
# JSON tags) and the reference is wrapped in Kind::SchemaOr.
UNIONS = {
    f"{APIEXT}.JSONSchemaPropsOrArray": ("Array", ["schema", "jSONSchemas"]),
    f"{APIEXT}.JSONSchemaPropsOrBool": ("Bool", ["allows", "schema"]),
    f"{APIEXT}.JSONSchemaPropsOrStringArray": ("StringArray", ["schema", "property"]),
}
SCALAR = {"string": "Kind::String", "bytes": "Kind::Bytes", "int32": "Kind::Int32",
          "int64": "Kind::Int64", "bool": "Kind::Bool", "double": "Kind::Double"}

# Objects a client may send; everything reachable from them is emitted.
# The meta root (DeleteOptions) is accepted in every group version and is
# handled in kinds.rs; every other root is a row of KINDS.
ROOTS = [
    ("core", "Binding"), ("core", "ConfigMap"), ("core", "Endpoints"), ("core", "Event"),
    ("core", "LimitRange"), ("core", "Namespace"), ("core", "Node"), ("core", "PersistentVolume"),
    ("core", "PersistentVolumeClaim"), ("core", "Pod"), ("core", "PodTemplate"),
    ("core", "ReplicationController"), ("core", "ResourceQuota"), ("core", "Secret"),
    ("core", "Service"), ("core", "ServiceAccount"),
    ("apiextensions", "CustomResourceDefinition"),
    ("apps", "ControllerRevision"), ("apps", "DaemonSet"), ("apps", "Deployment"),
    ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
    ("authentication", "SelfSubjectReview"), ("authentication", "TokenRequest"),
    ("authentication", "TokenReview"),
    ("authorization", "LocalSubjectAccessReview"), ("authorization", "SelfSubjectAccessReview"),
    ("authorization", "SelfSubjectRulesReview"), ("authorization", "SubjectAccessReview"),
    ("autoscaling_v1", "Scale"), ("autoscaling_v2", "HorizontalPodAutoscaler"),
    ("batch", "CronJob"), ("batch", "Job"),
    ("coordination", "Lease"), ("discovery", "EndpointSlice"), ("events", "Event"),
    ("networking", "Ingress"), ("networking", "IngressClass"), ("networking", "NetworkPolicy"),
    ("policy", "Eviction"), ("policy", "PodDisruptionBudget"),
    ("rbac", "ClusterRole"), ("rbac", "ClusterRoleBinding"), ("rbac", "Role"), ("rbac", "RoleBinding"),
    ("scheduling", "PriorityClass"), ("storage", "StorageClass"),
    ("meta", "DeleteOptions"),
]


def parse_proto(path):
    text = open(path).read()
    pkg = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    msgs = {}
    for m in re.finditer(r"^message (\w+) \{(.*?)^\}", text, re.M | re.S):
        fields = []
        for line in m.group(2).split("\n"):
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            fm = re.match(r"(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+);", line)
            mm = re.match(r"map<\s*string\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+);", line)
            if fm:
                fields.append(dict(label=fm.group(1), type=fm.group(2), name=fm.group(3), num=int(fm.group(4))))
            elif mm:
                fields.append(dict(label="map", type=mm.group(1), name=mm.group(2), num=int(mm.group(3))))
            else:
                raise SystemExit(f"{path}: cannot parse {line!r} in {m.group(1)}")
        msgs[f"{pkg}.{m.group(1)}"] = fields
    return pkg, msgs


def parse_go(path):
    """struct name -> {field number: (json name or None, omitempty, pointer, inline)}"""
    text = open(path).read()
    structs = {}
    for m in re.finditer(r"^type (\w+) struct ?\{(?:\}|\n(.*?)^\})", text, re.M | re.S):
        fields = {}
        for line in (m.group(2) or "").split("\n"):
            fm = re.match(r"\s*([\w.]+)(?:\s+([^\s`]+))?\s+`([^`]*)`", line)
            if not fm or "protobuf:" not in fm.group(3):
                continue
            gotype = fm.group(2) or fm.group(1)
            tags = fm.group(3)
            num = int(re.search(r'protobuf:"\w+,(\d+),', tags).group(1))
            js = re.search(r'json:"([^"]*)"', tags)
            js = js.group(1).split(",") if js else [None]
            inline = fm.group(2) is None and js[0] == ""
            fields[num] = dict(json=js[0], omitempty="omitempty" in js[1:],
                               pointer=gotype.startswith("*"), inline=inline)
        structs[m.group(1)] = fields
    return structs


protos, gos = {}, {}
for key in list(GROUPS) + SUPPORT_PROTOS:
    pkg, msgs = parse_proto(f"{PROTO_DIR}/{key}.proto")
    protos.update(msgs)
    if key in GROUPS:
        if pkg != GROUPS[key][0]:
            raise SystemExit(f"{key}.proto is package {pkg}, expected {GROUPS[key][0]}")
        gos[pkg] = parse_go(f"{GO_DIR}/{key}.go")

for full, (_, shape) in SPECIAL.items():
    got = [(f["label"], f["type"], f["num"]) for f in protos[full]]
    if got != shape:
        raise SystemExit(f"{full} changed shape: {got}, the decoder assumes {shape}")
for full, (_, names) in UNIONS.items():
    if sorted(f["name"] for f in protos[full]) != sorted(names):
        raise SystemExit(f"{full} changed fields; the decoder reads {names}")


def resolve(pkg, t):
    t = t.lstrip(".")
    return t if "." in t else f"{pkg}.{t}"


def rust_name(full):
    base = full.rsplit(".", 1)[1]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).upper()


def group_of(full):
    return KEY_OF[full.rsplit(".", 1)[0]]


reachable = OrderedDict()
queue = [f"{GROUPS[g][0]}.{k}" for g, k in ROOTS]
while queue:
    full = queue.pop(0)
    if full in reachable or full in SPECIAL:
        continue
    reachable[full] = True
    pkg = full.rsplit(".", 1)[0]
    for f in protos[full]:
        if f["type"] not in SCALAR:
            queue.append(resolve(pkg, f["type"]))

# core/v1 is split by concern; everything not listed here goes to core_pod.
CORE_VOLUME_SUFFIXES = (
    "VolumeSource", "Projection", "KeyToPath", "VolumeFile", "Volume", "VolumeMount",
    "VolumeDevice", "ClaimTemplate", "ProjectedVolumeSource", "TypedLocalObjectReference",
    "TypedObjectReference", "VolumeResourceRequirements", "ClusterTrustBundleProjection",
    "PodCertificateProjection", "VolumeNodeAffinity", "ModifyVolumeStatus",
)
CORE_VOLUME_PREFIXES = ("PersistentVolume",)
CORE_OBJECTS = {
    "Namespace", "NamespaceSpec", "NamespaceStatus", "NamespaceCondition", "ConfigMap", "Secret",
    "Service", "ServiceSpec", "ServiceStatus", "ServicePort", "SessionAffinityConfig",
    "ClientIPConfig", "LoadBalancerStatus", "LoadBalancerIngress", "PortStatus", "ServiceAccount",
    "ResourceQuota", "ResourceQuotaSpec", "ResourceQuotaStatus", "ScopeSelector",
    "ScopedResourceSelectorRequirement", "ObjectReference", "LocalObjectReference", "Event",
    "EventSource", "EventSeries", "Binding", "Endpoints", "EndpointSubset", "EndpointAddress",
    "EndpointPort", "LimitRange", "LimitRangeSpec", "LimitRangeItem",
}
CORE_NODE_PREFIXES = ("Node", "Taint", "DaemonEndpoint", "ContainerImage", "AttachedVolume",
                      "ConfigMapNodeConfigSource")


def file_of(full):
    g = group_of(full)
    if g != "core":
        return g
    base = full.rsplit(".", 1)[1]
    if base.endswith(CORE_VOLUME_SUFFIXES) or base.startswith(CORE_VOLUME_PREFIXES):
        return "core_volume"
    if base in CORE_OBJECTS:
        return "core_objects"
    if base.startswith(CORE_NODE_PREFIXES) and not base.startswith(("NodeSelector", "NodeAffinity")):
        return "core_node"
    return "core_pod"


def message_ref(full, here_file):
    f = file_of(full)
    return rust_name(full) if f == here_file else f"schema_{f}::{rust_name(full)}"


def kind_expr(pkg, t, here_file):
    if t in SCALAR:
        return SCALAR[t]
    full = resolve(pkg, t)
    if full in SPECIAL:
        return SPECIAL[full][0]
    if full in UNIONS:
        return f"Kind::SchemaOr(SchemaOr::{UNIONS[full][0]}, &{message_ref(full, here_file)})"
    return f"Kind::Message(&{message_ref(full, here_file)})"


def label_of(full):
    key = group_of(full)
    return {"core": "core/v1", "meta": "meta/v1"}.get(key, GROUPS[key][1])


out = {}
for full in reachable:
    pkg, base = full.rsplit(".", 1)
    go = gos[pkg].get(base)
    if go is None:
        raise SystemExit(f"no Go struct for {full}")
    here = file_of(full)
    lines = []
    for f in sorted(protos[full], key=lambda f: f["num"]):
        g = go.get(f["num"])
        if g is None:
            raise SystemExit(f"{full} field {f['num']} missing in Go")
        json_name = g["json"]
        if json_name is None:
            if full not in UNIONS:
                raise SystemExit(f"{full} field {f['num']} has no JSON tag")
            json_name = f["name"]
        kind = kind_expr(pkg, f["type"], here)
        if f["label"] == "map":
            lines.append(f'Field::keep({f["num"]}, "{json_name}", Kind::Map(&{kind})),')
        elif g["inline"]:
            lines.append(f'Field::inline({f["num"]}, &{kind[len("Kind::Message(&"):-1]}),')
        else:
            ctor = "keep" if (g["pointer"] or not g["omitempty"]) else "omit"
            rep = ".repeated()" if f["label"] == "repeated" else ""
            lines.append(f'Field::{ctor}({f["num"]}, "{json_name}", {kind}){rep},')
    text = (f"/// {label_of(full)} `{base}`.\n"
            f"pub static {rust_name(full)}: Message = Message {{\n"
            f"    name: \"{base}\",\n    fields: &[\n" +
            "".join(f"        {l}\n" for l in lines) + "    ],\n};\n")
    out.setdefault(here, []).append(text)

HEADERS = {
    "meta": "meta/v1 (`k8s.io/apimachinery/pkg/apis/meta/v1`): object metadata, label selectors, conditions, DeleteOptions.",
    "core_objects": "core/v1 top-level objects other than pods, nodes and volumes: Namespace, ConfigMap, Secret, Service, ServiceAccount, ResourceQuota, Event, Binding, Endpoints, LimitRange.",
    "core_node": "core/v1 Node: spec, status and the types only they use.",
    "core_pod": "core/v1 Pod, PodSpec, containers and everything a pod template reaches except volumes; PodTemplate and ReplicationController.",
    "core_volume": "core/v1 volumes, volume sources and mounts, PersistentVolume and PersistentVolumeClaim.",
    "apiextensions": "apiextensions.k8s.io/v1 CustomResourceDefinition, including the recursive JSONSchemaProps.",
}
for f, texts in out.items():
    key = f.split("_")[0] if f.startswith("core_") else f
    head = HEADERS.get(f, f"{GROUPS[key][1]} messages reachable from the kinds clients send.")
    uses = sorted({m for t in texts for m in re.findall(r"schema_(\w+)::", t)})
    schema_uses = "Field, Kind, Message, SchemaOr" if "SchemaOr::" in "".join(texts) else "Field, Kind, Message"
    src = (f"//! Schema of {head}\n//!\n"
           "//! Generated by `tools/gen_schema.py` from the upstream `generated.proto`\n"
           "//! (field numbers, wire types) and `types.go` (JSON names, `omitempty`,\n"
           "//! pointers, inline embedding); edit the generator, not this file.\n\n"
           f"use super::schema::{{{schema_uses}}};\n" +
           "".join(f"use super::schema_{u};\n" for u in uses) + "\n" + "\n".join(texts))
    open(f"{OUT_DIR}/schema_{f}.rs", "w").write(src)
    print(f, len(texts), "messages")

# The accepted kinds, in the order error messages list them.
rows = sorted(((GROUPS[g][1], k, message_ref(f"{GROUPS[g][0]}.{k}", "kinds"))
               for g, k in ROOTS if g != "meta"),
              key=lambda r: (r[0] != "v1", r[0], r[1]))
files = sorted({ref.split("::")[0] for _, _, ref in rows})
src = ("//! The (apiVersion, kind) pairs a protobuf body may carry and the schema\n"
       "//! message of each; generated by `tools/gen_schema.py` from its ROOTS list.\n\n"
       "use super::schema::Message;\n" +
       "".join(f"use super::{m};\n" for m in files) +
       "\n/// Objects clients send: kubectl's `create` generators, `auth can-i`/\n"
       "/// `whoami`, drain, and client-go controllers. Only the versions the server\n"
       "/// serves: other versions use other field numbers.\n"
       "pub static KINDS: &[(&str, &str, &Message)] = &[\n" +
       "".join(f'    ("{v}", "{k}", &{ref}),\n' for v, k, ref in rows) + "];\n")
open(f"{OUT_DIR}/schema_kinds.rs", "w").write(src)
print("kinds", len(rows), "roots")
