//! Column definitions reused across resources (Name, Age, Containers, ...)
//! and a small constructor so the per-resource tables stay one line a column.
//!
//! Descriptions reproduce upstream's literal strings; where upstream pulls a
//! field's API documentation (`SwaggerDoc()`), the leading sentences of that
//! documentation are used.

use super::Column;

/// An always-shown column.
pub(super) const fn column(
    name: &'static str,
    column_type: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        column_type,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown only with `-o wide`.
pub(super) const fn wide_column(
    name: &'static str,
    column_type: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        column_type,
        format: "",
        description,
        priority: 1,
    }
}

pub(super) const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

pub(super) const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The first column of nearly every table.
pub(super) const NAME: Column = Column {
    name: "Name",
    column_type: "string",
    format: "name",
    description: NAME_DESCRIPTION,
    priority: 0,
};

/// Time since creation, as a HumanDuration string.
pub(super) const AGE: Column = column("Age", "string", CREATION_TIMESTAMP_DESCRIPTION);

/// The default table's creation column: the raw RFC 3339 timestamp.
pub(super) const CREATED_AT: Column = column("Created At", "date", CREATION_TIMESTAMP_DESCRIPTION);

pub(super) const CONTAINERS: Column = wide_column(
    "Containers",
    "string",
    "Names of each container in the template.",
);

pub(super) const IMAGES: Column = wide_column(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// A wide Selector column with the resource's own selector documentation.
pub(super) const fn selector(description: &'static str) -> Column {
    wide_column("Selector", "string", description)
}

pub(super) const LABEL_SELECTOR_DESCRIPTION: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";
