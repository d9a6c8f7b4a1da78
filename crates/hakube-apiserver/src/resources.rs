//! What the API server serves: one [`ResourceType`] per resource (group, version, plural,
//! kind, scope, short names, subresources), looked up by URL or by kind. Built-in types come
//! from [`crate::builtin`]; custom resources are added at run time from their definitions.

use std::sync::{Arc, RwLock};

/// The subresources a resource type has (beyond the object itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subresources {
    pub status: bool,
    pub scale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Subresources,
    /// Extra subresources with their own handlers (pods' log, exec, eviction, binding…):
    /// (name, kind of the request/response, group and version of that kind, verbs).
    pub extra_subresources: Vec<ExtraSubresource>,
    /// The verbs of the object itself; empty for create-only types such as reviews.
    pub verbs: Vec<&'static str>,
    /// Whether objects of the type are stored (reviews are computed and not stored).
    pub stored: bool,
    /// What a custom resource's version adds (None for built-in types, checked through
    /// their k8s-openapi types instead).
    pub custom: Option<Arc<CustomVersion>>,
}

/// One served version of a custom resource, from its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomVersion {
    /// The version's `openAPIV3Schema`.
    pub schema: serde_json::Value,
    /// The apiVersion objects are stored as: the definition's storage version.
    pub storage_api_version: String,
    /// What a request to this version is warned when the version is deprecated.
    pub deprecation_warning: Option<String>,
    /// The version's `additionalPrinterColumns` (`kubectl get` shows Name and these, or
    /// Name and Age when there are none).
    pub printer_columns: Vec<PrinterColumn>,
    /// The scale subresource's paths, when the version has one.
    pub scale: Option<ScalePaths>,
}

/// Where a custom object keeps what its `scale` subresource shows, as JSON pointers
/// (`/spec/replicas`; the definition says `.spec.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// A selector string (`app=web`) the object keeps in its status, for autoscalers.
    pub label_selector: Option<String>,
}

/// One `additionalPrinterColumns` entry; its JSONPath was checked when the definition was
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// integer, number, string, boolean or date.
    pub column_type: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSubresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    pub fn subject(&self, name: &str) -> crate::error::Subject {
        crate::error::Subject {
            group: self.group.clone(),
            plural: self.plural.clone(),
            kind: self.kind.clone(),
            name: name.to_string(),
        }
    }

    /// A stored custom object as this version presents it (conversion "None": the same
    /// object under this version's apiVersion).
    pub fn present(&self, object: &mut serde_json::Value) {
        if self.custom.is_some() && object.is_object() {
            object["apiVersion"] = serde_json::Value::String(self.api_version());
        }
    }

    /// A custom object written through this version as it is stored: under the storage
    /// version's apiVersion (conversion "None"), so `status.storedVersions` says the truth.
    pub fn to_storage(&self, object: &mut serde_json::Value) {
        if let Some(custom) = &self.custom
            && object.is_object()
        {
            object["apiVersion"] = serde_json::Value::String(custom.storage_api_version.clone());
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// Every served resource type, in discovery order.
#[derive(Debug, Default)]
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
}

impl Registry {
    pub fn with_builtin() -> Self {
        Registry {
            types: RwLock::new(crate::builtin::types().into_iter().map(Arc::new).collect()),
        }
    }

    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.types
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The type served at `/…/group/version/plural`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.all()
            .into_iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.all()
            .into_iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    /// Whether any type lives in `group`/`version` (an unknown group version is a 404).
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.all()
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// Adds or replaces the types of one custom resource definition.
    pub fn set_custom(&self, group: &str, plural: &str, versions: Vec<ResourceType>) {
        let mut types = self
            .types
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        types.retain(|t| !(t.group == group && t.plural == plural));
        types.extend(versions.into_iter().map(Arc::new));
    }

    pub fn remove_custom(&self, group: &str, plural: &str) {
        let mut types = self
            .types
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        types.retain(|t| !(t.group == group && t.plural == plural));
    }
}
