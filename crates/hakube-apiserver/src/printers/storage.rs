//! Printers for storage: persistent volumes and claims (core group) and
//! storage classes (storage.k8s.io).

use serde_json::Value;

use super::columns::{AGE, NAME, column, wide_column};
use super::fields::{
    age_cell, array, field, is_being_deleted, name_cell, optional_boolean, optional_text,
    or_placeholder, quantity, text,
};
use super::{Column, Printer};

/// Legacy annotation that overrides `storageClassName` on volumes and claims.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
/// Annotations that mark a storage class as the cluster default.
const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

const VOLUME_MODE_DESCRIPTION: &str = "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.";

static PERSISTENT_VOLUME_COLUMNS: [Column; 11] = [
    NAME,
    column(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources and capacity.",
    ),
    column(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted.",
    ),
    column(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated).",
    ),
    column(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or released by a claim.",
    ),
    column(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
    ),
    column("StorageClass", "string", "StorageClass of the pv"),
    column(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    column(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
    ),
    AGE,
    wide_column("VolumeMode", "string", VOLUME_MODE_DESCRIPTION),
];

pub(super) const PERSISTENT_VOLUME_PRINTER: Printer = Printer {
    columns: &PERSISTENT_VOLUME_COLUMNS,
    cells: persistent_volume_cells,
};

fn persistent_volume_cells(volume: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let claim = field(volume, &["spec", "claimRef"]).map_or_else(String::new, |claim| {
        format!("{}/{}", text(claim, &["namespace"]), text(claim, &["name"]))
    });
    let capacity = quantity(field(volume, &["spec", "capacity", "storage"]))
        .unwrap_or_else(|| "0".to_string());
    let storage_class =
        class_annotation(volume).unwrap_or_else(|| text(volume, &["spec", "storageClassName"]));
    vec![
        name_cell(volume),
        Value::from(capacity),
        Value::from(access_modes(array(volume, &["spec", "accessModes"]))),
        Value::from(text(volume, &["spec", "persistentVolumeReclaimPolicy"])),
        Value::from(phase(volume)),
        Value::from(claim),
        Value::from(storage_class),
        Value::from(unset_or(volume, &["spec", "volumeAttributesClassName"])),
        Value::from(text(volume, &["status", "reason"])),
        age_cell(volume, now_unix_seconds),
        Value::from(unset_or(volume, &["spec", "volumeMode"])),
    ]
}

static PERSISTENT_VOLUME_CLAIM_COLUMNS: [Column; 9] = [
    NAME,
    column(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    column(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    column(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    column(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    column("StorageClass", "string", "StorageClass of the pvc"),
    column(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide_column("VolumeMode", "string", VOLUME_MODE_DESCRIPTION),
];

pub(super) const PERSISTENT_VOLUME_CLAIM_PRINTER: Printer = Printer {
    columns: &PERSISTENT_VOLUME_CLAIM_COLUMNS,
    cells: persistent_volume_claim_cells,
};

fn persistent_volume_claim_cells(claim: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let volume_name = text(claim, &["spec", "volumeName"]);
    // Capacity and access modes are only meaningful once bound to a volume.
    let (capacity, modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        let capacity = quantity(field(claim, &["status", "capacity", "storage"]))
            .unwrap_or_else(|| "0".to_string());
        (
            capacity,
            access_modes(array(claim, &["status", "accessModes"])),
        )
    };
    let storage_class = class_annotation(claim)
        .or_else(|| optional_text(claim, &["spec", "storageClassName"]))
        .unwrap_or("");
    vec![
        name_cell(claim),
        Value::from(phase(claim)),
        Value::from(volume_name),
        Value::from(capacity),
        Value::from(modes),
        Value::from(storage_class),
        Value::from(unset_or(claim, &["spec", "volumeAttributesClassName"])),
        age_cell(claim, now_unix_seconds),
        Value::from(unset_or(claim, &["spec", "volumeMode"])),
    ]
}

/// `status.phase`, or "Terminating" once deletion has started.
fn phase(object: &Value) -> String {
    if is_being_deleted(object) {
        "Terminating".to_string()
    } else {
        text(object, &["status", "phase"]).to_string()
    }
}

/// The optional string at `path`, or "<unset>" when absent.
fn unset_or(object: &Value, path: &[&str]) -> String {
    optional_text(object, path).unwrap_or("<unset>").to_string()
}

/// The legacy storage-class annotation, which wins over the spec field.
fn class_annotation(object: &Value) -> Option<&str> {
    optional_text(
        object,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    )
}

/// Upstream's `GetAccessModesAsString`: abbreviations in a fixed order
/// (RWO, ROX, RWX, RWOP), each at most once, joined by ",".
fn access_modes(modes: &[Value]) -> String {
    const ABBREVIATIONS: [(&str, &str); 4] = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ];
    let present: Vec<&str> = modes.iter().filter_map(Value::as_str).collect();
    let abbreviated: Vec<&str> = ABBREVIATIONS
        .iter()
        .filter(|(mode, _)| present.contains(mode))
        .map(|(_, abbreviation)| *abbreviation)
        .collect();
    abbreviated.join(",")
}

static STORAGE_CLASS_COLUMNS: [Column; 6] = [
    NAME,
    column(
        "Provisioner",
        "string",
        "provisioner indicates the type of the provisioner.",
    ),
    column(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
    ),
    column(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used.",
    ),
    column(
        "AllowVolumeExpansion",
        "string",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
    ),
    AGE,
];

pub(super) const STORAGE_CLASS_PRINTER: Printer = Printer {
    columns: &STORAGE_CLASS_COLUMNS,
    cells: storage_class_cells,
};

fn storage_class_cells(class: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let mut name = text(class, &["metadata", "name"]).to_string();
    if is_default_class(class) {
        name.push_str(" (default)");
    }
    vec![
        Value::from(name),
        Value::from(text(class, &["provisioner"])),
        Value::from(or_placeholder(text(class, &["reclaimPolicy"]), "Delete")),
        Value::from(or_placeholder(
            text(class, &["volumeBindingMode"]),
            "Immediate",
        )),
        Value::from(optional_boolean(class, &["allowVolumeExpansion"]).unwrap_or(false)),
        age_cell(class, now_unix_seconds),
    ]
}

/// Whether either default-class annotation is "true".
fn is_default_class(class: &Value) -> bool {
    DEFAULT_CLASS_ANNOTATIONS
        .iter()
        .any(|annotation| text(class, &["metadata", "annotations", annotation]) == "true")
}
