//! A container's environment: plain values, and values from ConfigMaps, Secrets and the pod's
//! own fields (`valueFrom`, `envFrom`), resolved from the `ResolvedPod`. A missing required
//! reference is an error the status shows as CreateContainerConfigError, as the kubelet does.

use crate::resolved_pod::ResolvedPod;
use hakube_kinds::k8s_openapi::api::core::v1::{Container, EnvVar, ObjectFieldSelector};
use k8s_cri::v1::KeyValue;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("unsupported fieldPath: {0}")]
    UnsupportedField(String),
}

/// Addresses known only once the sandbox runs (`status.podIP`) or from the node.
#[derive(Debug, Clone, Default)]
pub struct PodAddresses {
    pub pod_ip: String,
    pub host_ip: String,
}

/// The environment in the order the container spec gives it: `envFrom` first, then `env`
/// (later entries win in the runtime, as in Kubernetes).
pub fn resolve_environment(
    resolved: &ResolvedPod,
    container: &Container,
    addresses: &PodAddresses,
) -> Result<Vec<KeyValue>, EnvironmentError> {
    let mut environment = Vec::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            let optional = reference.optional.unwrap_or(false);
            match resolved.config_maps.get(&reference.name) {
                Some(config_map) => {
                    for (key, value) in config_map.data.iter().flatten() {
                        environment.push(key_value(format!("{prefix}{key}"), value.clone()));
                    }
                }
                None if optional => {}
                None => return Err(EnvironmentError::ConfigMapNotFound(reference.name.clone())),
            }
        }
        if let Some(reference) = &source.secret_ref {
            let optional = reference.optional.unwrap_or(false);
            match resolved.secrets.get(&reference.name) {
                Some(secret) => {
                    for (key, value) in secret_entries(secret) {
                        environment.push(key_value(format!("{prefix}{key}"), value));
                    }
                }
                None if optional => {}
                None => return Err(EnvironmentError::SecretNotFound(reference.name.clone())),
            }
        }
    }
    for variable in container.env.iter().flatten() {
        if let Some(value) = resolve_variable(resolved, variable, addresses)? {
            environment.push(key_value(variable.name.clone(), value));
        }
    }
    Ok(environment)
}

fn key_value(key: String, value: String) -> KeyValue {
    KeyValue { key, value }
}

/// A Secret's entries as text (`data` decoded, `stringData` over it).
pub fn secret_entries(
    secret: &hakube_kinds::k8s_openapi::api::core::v1::Secret,
) -> Vec<(String, String)> {
    let mut entries: std::collections::BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), String::from_utf8_lossy(&value.0).into_owned()))
        .collect();
    for (key, value) in secret.string_data.iter().flatten() {
        entries.insert(key.clone(), value.clone());
    }
    entries.into_iter().collect()
}

/// One `env` entry's value; `None` when an optional reference is absent.
fn resolve_variable(
    resolved: &ResolvedPod,
    variable: &EnvVar,
    addresses: &PodAddresses,
) -> Result<Option<String>, EnvironmentError> {
    let Some(source) = &variable.value_from else {
        return Ok(Some(variable.value.clone().unwrap_or_default()));
    };
    let namespace = resolved.namespace().to_owned();
    if let Some(selector) = &source.config_map_key_ref {
        let optional = selector.optional.unwrap_or(false);
        let Some(config_map) = resolved.config_maps.get(&selector.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(EnvironmentError::ConfigMapNotFound(selector.name.clone()))
            };
        };
        let value = config_map
            .data
            .as_ref()
            .and_then(|data| data.get(&selector.key))
            .cloned();
        return match value {
            Some(value) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(EnvironmentError::ConfigMapKeyNotFound {
                namespace,
                name: selector.name.clone(),
                key: selector.key.clone(),
            }),
        };
    }
    if let Some(selector) = &source.secret_key_ref {
        let optional = selector.optional.unwrap_or(false);
        let Some(secret) = resolved.secrets.get(&selector.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(EnvironmentError::SecretNotFound(selector.name.clone()))
            };
        };
        let value = secret_entries(secret)
            .into_iter()
            .find(|(key, _)| *key == selector.key)
            .map(|(_, value)| value);
        return match value {
            Some(value) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(EnvironmentError::SecretKeyNotFound {
                namespace,
                name: selector.name.clone(),
                key: selector.key.clone(),
            }),
        };
    }
    if let Some(selector) = &source.field_ref {
        return field_value(resolved, selector, addresses).map(Some);
    }
    // resourceFieldRef is not supported yet: an empty value rather than a failed pod.
    Ok(Some(String::new()))
}

/// The downward API fields of a pod (`fieldRef.fieldPath`).
pub fn field_value(
    resolved: &ResolvedPod,
    selector: &ObjectFieldSelector,
    addresses: &PodAddresses,
) -> Result<String, EnvironmentError> {
    let pod = &resolved.pod;
    let spec = pod.spec.as_ref();
    let path = selector.field_path.as_str();
    let from_map = |map: Option<&std::collections::BTreeMap<String, String>>, prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.and_then(|map| map.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let value = match path {
        "metadata.name" => resolved.name().to_owned(),
        "metadata.namespace" => resolved.namespace().to_owned(),
        "metadata.uid" => resolved.uid().to_owned(),
        "spec.nodeName" => spec
            .and_then(|spec| spec.node_name.clone())
            .unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|spec| spec.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => addresses.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => addresses.host_ip.clone(),
        _ => from_map(pod.metadata.labels.as_ref(), "metadata.labels['")
            .or_else(|| from_map(pod.metadata.annotations.as_ref(), "metadata.annotations['"))
            .ok_or_else(|| EnvironmentError::UnsupportedField(path.to_owned()))?,
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{ConfigMap, ConfigMapKeySelector, EnvVarSource};

    fn variable_from(source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: "X".to_owned(),
            value: None,
            value_from: Some(source),
        }
    }

    #[test]
    fn plain_config_map_and_field_values_resolve() {
        let mut resolved = ResolvedPod::default();
        resolved.pod.metadata.name = Some("web".to_owned());
        let config_map = ConfigMap {
            data: Some([("color".to_owned(), "blue".to_owned())].into()),
            ..ConfigMap::default()
        };
        resolved
            .config_maps
            .insert("settings".to_owned(), config_map);
        let container = Container {
            env: Some(vec![
                EnvVar {
                    name: "PLAIN".to_owned(),
                    value: Some("1".to_owned()),
                    value_from: None,
                },
                variable_from(EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "settings".to_owned(),
                        key: "color".to_owned(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                variable_from(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "status.podIP".to_owned(),
                        api_version: None,
                    }),
                    ..EnvVarSource::default()
                }),
                variable_from(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".to_owned(),
                        api_version: None,
                    }),
                    ..EnvVarSource::default()
                }),
            ]),
            ..Container::default()
        };
        let addresses = PodAddresses {
            pod_ip: "10.1.0.5".to_owned(),
            host_ip: String::new(),
        };
        let values: Vec<String> = resolve_environment(&resolved, &container, &addresses)
            .unwrap_or_default()
            .into_iter()
            .map(|pair| pair.value)
            .collect();
        assert_eq!(values, ["1", "blue", "10.1.0.5", "web"]);
    }

    #[test]
    fn a_missing_config_map_is_an_error_unless_optional() {
        let resolved = ResolvedPod::default();
        let selector = |optional| ConfigMapKeySelector {
            name: "gone".to_owned(),
            key: "k".to_owned(),
            optional,
        };
        let container = |optional| Container {
            env: Some(vec![variable_from(EnvVarSource {
                config_map_key_ref: Some(selector(optional)),
                ..EnvVarSource::default()
            })]),
            ..Container::default()
        };
        let addresses = PodAddresses::default();
        assert_eq!(
            resolve_environment(&resolved, &container(None), &addresses),
            Err(EnvironmentError::ConfigMapNotFound("gone".to_owned()))
        );
        assert_eq!(
            resolve_environment(&resolved, &container(Some(true)), &addresses),
            Ok(vec![])
        );
    }
}
