#!/usr/bin/env python3
"""Generates src/protobuf/schema_*.rs from Kubernetes' generated.proto files
(field numbers and wire types) and types.go files (JSON names, omitempty,
pointer-ness, inline embedding).

Usage: gen_schema.py PROTO_DIR GO_DIR OUT_DIR
  PROTO_DIR holds <group>.proto files copied from kubernetes/api
  (<group>/v1/generated.proto) and kubernetes/apimachinery
  (pkg/apis/meta/v1 -> meta.proto, pkg/runtime -> runtime.proto,
  pkg/api/resource -> resource.proto, pkg/util/intstr -> intstr.proto).
  GO_DIR holds <group>.go files copied from the matching types.go.
The checked-in tables come from tag v0.36.3 of both repositories. The
output is plain Rust statics; rerun after bumping the API version, then
`cargo fmt`.
"""
import re
import sys
from collections import OrderedDict

PROTO_DIR, GO_DIR, OUT_DIR = sys.argv[1:4]

API_GROUPS = ["core", "apps", "batch", "policy", "rbac", "networking", "scheduling", "authentication"]
PKG_OF = {f"k8s.io.api.{g}.v1": g for g in API_GROUPS}
PKG_OF["k8s.io.apimachinery.pkg.apis.meta.v1"] = "meta"

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# Messages whose JSON form is not an object of their fields.
SPECIAL = {
    f"{META}.Time": "Kind::Time",
    f"{META}.MicroTime": "Kind::MicroTime",
    f"{META}.Duration": "Kind::Duration",
    f"{META}.FieldsV1": "Kind::RawJson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "Kind::RawJson",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Kind::Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "Kind::IntOrString",
}
SCALAR = {"string": "Kind::String", "bytes": "Kind::Bytes", "int32": "Kind::Int32",
          "int64": "Kind::Int64", "bool": "Kind::Bool"}

# Objects a client may send; everything reachable from them is emitted.
ROOTS = [
    ("core", "Namespace"), ("core", "ConfigMap"), ("core", "Secret"), ("core", "Service"),
    ("core", "ServiceAccount"), ("core", "ResourceQuota"), ("core", "Pod"), ("core", "Event"),
    ("apps", "Deployment"), ("batch", "Job"), ("batch", "CronJob"),
    ("policy", "PodDisruptionBudget"), ("policy", "Eviction"),
    ("scheduling", "PriorityClass"), ("authentication", "TokenRequest"),
    ("rbac", "Role"), ("rbac", "ClusterRole"), ("rbac", "RoleBinding"), ("rbac", "ClusterRoleBinding"),
    ("networking", "Ingress"), ("meta", "DeleteOptions"),
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
    """struct name -> {field number: (json name, omitempty, pointer, inline)}"""
    text = open(path).read()
    structs = {}
    for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.M | re.S):
        fields = {}
        for line in m.group(2).split("\n"):
            fm = re.match(r"\s*([\w.]+)(?:\s+([^\s`]+))?\s+`([^`]*)`", line)
            if not fm or "protobuf:" not in fm.group(3):
                continue
            gotype = fm.group(2) or fm.group(1)
            tags = fm.group(3)
            num = int(re.search(r'protobuf:"\w+,(\d+),', tags).group(1))
            js = re.search(r'json:"([^"]*)"', tags).group(1).split(",")
            inline = fm.group(2) is None and js[0] == ""
            fields[num] = dict(json=js[0], omitempty="omitempty" in js[1:],
                               pointer=gotype.startswith("*"), inline=inline)
        structs[m.group(1)] = fields
    return structs


protos, gos = {}, {}
for name in API_GROUPS + ["meta", "runtime", "resource", "intstr"]:
    pkg, msgs = parse_proto(f"{PROTO_DIR}/{name}.proto")
    protos.update(msgs)
    if name in PKG_OF.values():
        gos[pkg] = parse_go(f"{GO_DIR}/{name}.go")


def resolve(pkg, t):
    t = t.lstrip(".")
    return t if "." in t else f"{pkg}.{t}"


def rust_name(full):
    base = full.rsplit(".", 1)[1]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).upper()


def group_of(full):
    return PKG_OF[full.rsplit(".", 1)[0]]


reachable = OrderedDict()
queue = [f"k8s.io.api.{g}.v1.{k}" if g != "meta" else f"{META}.{k}" for g, k in ROOTS]
while queue:
    full = queue.pop(0)
    if full in reachable or full in SPECIAL:
        continue
    reachable[full] = True
    pkg = full.rsplit(".", 1)[0]
    for f in protos[full]:
        if f["type"] not in SCALAR:
            queue.append(resolve(pkg, f["type"]))


def file_of(full):
    g = group_of(full)
    if g == "core":
        base = full.rsplit(".", 1)[1]
        if base.endswith(("VolumeSource", "Projection", "KeyToPath", "VolumeFile", "Volume",
                          "VolumeMount", "VolumeDevice", "ClaimTemplate", "ProjectedVolumeSource",
                          "PersistentVolumeClaimSpec", "TypedLocalObjectReference",
                          "TypedObjectReference", "VolumeResourceRequirements",
                          "ClusterTrustBundleProjection", "PodCertificateProjection")):
            return "core_volume"
        if full.rsplit(".", 1)[1] in ("Namespace", "NamespaceSpec", "NamespaceStatus", "NamespaceCondition",
                                      "ConfigMap", "Secret", "Service", "ServiceSpec", "ServiceStatus",
                                      "ServicePort", "SessionAffinityConfig", "ClientIPConfig",
                                      "LoadBalancerStatus", "LoadBalancerIngress", "PortStatus",
                                      "ServiceAccount", "ResourceQuota", "ResourceQuotaSpec",
                                      "ResourceQuotaStatus", "ScopeSelector",
                                      "ScopedResourceSelectorRequirement", "ObjectReference",
                                      "LocalObjectReference", "Event", "EventSource", "EventSeries"):
            return "core_objects"
        return "core_pod"
    return g


def kind_expr(pkg, t, here_file):
    if t in SCALAR:
        return SCALAR[t]
    full = resolve(pkg, t)
    if full in SPECIAL:
        return SPECIAL[full]
    f = file_of(full)
    path = rust_name(full) if f == here_file else f"schema_{f}::{rust_name(full)}"
    return f"Kind::Message(&{path})"


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
        kind = kind_expr(pkg, f["type"], here)
        if f["label"] == "map":
            if kind.startswith("Kind::Message"):
                raise SystemExit(f"{full}.{f['name']}: map of message values is not supported")
            lines.append(f'Field::keep({f["num"]}, "{g["json"]}", Kind::Map(&{kind})),')
        elif g["inline"]:
            lines.append(f'Field::inline({f["num"]}, &{kind[len("Kind::Message(&"):-1]}),')
        else:
            ctor = "keep" if (g["pointer"] or not g["omitempty"]) else "omit"
            rep = ".repeated()" if f["label"] == "repeated" else ""
            lines.append(f'Field::{ctor}({f["num"]}, "{g["json"]}", {kind}){rep},')
    group = group_of(full)
    text = (f"/// {group}/v1 `{base}`.\n"
            f"pub static {rust_name(full)}: Message = Message {{\n"
            f"    name: \"{base}\",\n    fields: &[\n" +
            "".join(f"        {l}\n" for l in lines) + "    ],\n};\n")
    out.setdefault(here, []).append(text)

HEADERS = {
    "meta": "meta/v1 (`k8s.io/apimachinery/pkg/apis/meta/v1`): object metadata, label selectors, conditions, DeleteOptions.",
    "core_objects": "core/v1 top-level objects other than Pod: Namespace, ConfigMap, Secret, Service, ServiceAccount, ResourceQuota, Event.",
    "core_pod": "core/v1 Pod, PodSpec, containers and everything a pod template reaches except volumes.",
    "core_volume": "core/v1 volumes, volume sources and volume mounts reachable from a pod template.",
}
for f, texts in out.items():
    head = HEADERS.get(f, f"{f}/v1 messages reachable from the kinds clients create.")
    uses = sorted({m for t in texts for m in re.findall(r"schema_(\w+)::", t)})
    src = (f"//! Schema of {head}\n//!\n"
           "//! Generated by `tools/gen_schema.py` from the upstream `generated.proto`\n"
           "//! (field numbers, wire types) and `types.go` (JSON names, `omitempty`,\n"
           "//! pointers, inline embedding); edit the generator, not this file.\n\n"
           "use super::schema::{Field, Kind, Message};\n" +
           "".join(f"use super::schema_{u};\n" for u in uses) + "\n" + "\n".join(texts))
    open(f"{OUT_DIR}/schema_{f}.rs", "w").write(src)
    print(f, len(texts), "messages")
