//! A pod's volumes on the host: emptyDir as a directory under the pod directory (removed with
//! it), hostPath as given, and configMap, secret and projected (service account token,
//! ConfigMap, Secret, downward API) volumes as files written from the `ResolvedPod`. Also turns
//! a container's volumeMounts into CRI mounts.

use crate::environment::{PodAddresses, field_value, secret_entries};
use crate::node_paths::pod_volumes_dir;
use crate::resolved_pod::ResolvedPod;
use hakube_kinds::k8s_openapi::api::core::v1::{Container, KeyToPath, Volume};
use k8s_cri::v1::Mount;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Kubernetes' default file mode for configMap, secret and projected volumes (0644).
const DEFAULT_FILE_MODE: i32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("volume {volume}: path {path:?} leaves the volume")]
    UnsafePath { volume: String, path: String },
    #[error("volume {0} has no type this node supports")]
    Unsupported(String),
    #[error("container mounts volume {0}, which the pod does not define")]
    UnknownVolume(String),
    #[error("{0}")]
    Field(#[from] crate::environment::EnvironmentError),
}

/// A file a volume holds: relative path, contents, mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolumeFile {
    path: String,
    contents: Vec<u8>,
    mode: i32,
}

/// Creates or refreshes every volume of the pod; returns each volume's host path by name.
pub fn prepare_volumes(
    resolved: &ResolvedPod,
    pod_dir: &Path,
    addresses: &PodAddresses,
) -> Result<BTreeMap<String, PathBuf>, VolumeError> {
    let mut host_paths = BTreeMap::new();
    let volumes = resolved
        .pod
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.clone())
        .unwrap_or_default();
    for volume in &volumes {
        let host_path = prepare_volume(resolved, volume, pod_dir, addresses)?;
        host_paths.insert(volume.name.clone(), host_path);
    }
    Ok(host_paths)
}

fn prepare_volume(
    resolved: &ResolvedPod,
    volume: &Volume,
    pod_dir: &Path,
    addresses: &PodAddresses,
) -> Result<PathBuf, VolumeError> {
    if let Some(host_path) = &volume.host_path {
        let path = PathBuf::from(&host_path.path);
        if matches!(host_path.type_.as_deref(), Some("DirectoryOrCreate")) {
            create_dir(&path)?;
        }
        return Ok(path);
    }
    let directory = pod_volumes_dir(pod_dir).join(&volume.name);
    create_dir(&directory)?;
    let files = if volume.empty_dir.is_some() {
        return Ok(directory);
    } else if let Some(source) = &volume.config_map {
        let mode = source.default_mode.unwrap_or(DEFAULT_FILE_MODE);
        match resolved.config_maps.get(&source.name) {
            Some(config_map) => config_map_files(config_map, source.items.as_deref(), mode),
            None if source.optional.unwrap_or(false) => Vec::new(),
            None => return Err(VolumeError::ConfigMapNotFound(source.name.clone())),
        }
    } else if let Some(source) = &volume.secret {
        let name = source.secret_name.clone().unwrap_or_default();
        let mode = source.default_mode.unwrap_or(DEFAULT_FILE_MODE);
        match resolved.secrets.get(&name) {
            Some(secret) => secret_files(secret, source.items.as_deref(), mode),
            None if source.optional.unwrap_or(false) => Vec::new(),
            None => return Err(VolumeError::SecretNotFound(name)),
        }
    } else if let Some(source) = &volume.projected {
        projected_files(resolved, source, addresses)?
    } else {
        return Err(VolumeError::Unsupported(volume.name.clone()));
    };
    write_files(&volume.name, &directory, &files)?;
    Ok(directory)
}

fn config_map_files(
    config_map: &hakube_kinds::k8s_openapi::api::core::v1::ConfigMap,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
) -> Vec<VolumeFile> {
    let mut entries: BTreeMap<String, Vec<u8>> = config_map
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.clone().into_bytes()))
        .collect();
    for (key, value) in config_map.binary_data.iter().flatten() {
        entries.insert(key.clone(), value.0.clone());
    }
    select_items(entries, items, default_mode)
}

fn secret_files(
    secret: &hakube_kinds::k8s_openapi::api::core::v1::Secret,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
) -> Vec<VolumeFile> {
    let mut entries: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.0.clone()))
        .collect();
    for (key, value) in secret_entries(secret) {
        entries.entry(key).or_insert_with(|| value.into_bytes());
    }
    select_items(entries, items, default_mode)
}

/// All keys as files, or only the listed `items` at their paths and modes.
fn select_items(
    entries: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
) -> Vec<VolumeFile> {
    match items {
        None => entries
            .into_iter()
            .map(|(path, contents)| VolumeFile {
                path,
                contents,
                mode: default_mode,
            })
            .collect(),
        Some(items) => items
            .iter()
            .filter_map(|item| {
                let contents = entries.get(&item.key)?.clone();
                Some(VolumeFile {
                    path: item.path.clone(),
                    contents,
                    mode: item.mode.unwrap_or(default_mode),
                })
            })
            .collect(),
    }
}

fn projected_files(
    resolved: &ResolvedPod,
    source: &hakube_kinds::k8s_openapi::api::core::v1::ProjectedVolumeSource,
    addresses: &PodAddresses,
) -> Result<Vec<VolumeFile>, VolumeError> {
    let mode = source.default_mode.unwrap_or(DEFAULT_FILE_MODE);
    let mut files = Vec::new();
    for projection in source.sources.iter().flatten() {
        if let Some(token) = &projection.service_account_token {
            let contents = resolved
                .service_account_token
                .clone()
                .unwrap_or_default()
                .into_bytes();
            files.push(VolumeFile {
                path: token.path.clone(),
                contents,
                mode,
            });
        }
        if let Some(projection) = &projection.config_map {
            match resolved.config_maps.get(&projection.name) {
                Some(config_map) => files.extend(config_map_files(
                    config_map,
                    projection.items.as_deref(),
                    mode,
                )),
                None if projection.optional.unwrap_or(false) => {}
                None => return Err(VolumeError::ConfigMapNotFound(projection.name.clone())),
            }
        }
        if let Some(projection) = &projection.secret {
            match resolved.secrets.get(&projection.name) {
                Some(secret) => {
                    files.extend(secret_files(secret, projection.items.as_deref(), mode))
                }
                None if projection.optional.unwrap_or(false) => {}
                None => return Err(VolumeError::SecretNotFound(projection.name.clone())),
            }
        }
        for item in projection
            .downward_api
            .iter()
            .flat_map(|api| api.items.iter().flatten())
        {
            if let Some(selector) = &item.field_ref {
                let contents = field_value(resolved, selector, addresses)?.into_bytes();
                files.push(VolumeFile {
                    path: item.path.clone(),
                    contents,
                    mode: item.mode.unwrap_or(mode),
                });
            }
        }
    }
    Ok(files)
}

/// Writes files that changed; a path that would leave the volume directory is refused.
fn write_files(volume: &str, directory: &Path, files: &[VolumeFile]) -> Result<(), VolumeError> {
    use std::os::unix::fs::PermissionsExt;
    for file in files {
        let relative = Path::new(&file.path);
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|component| matches!(component, std::path::Component::ParentDir));
        if escapes || file.path.is_empty() {
            return Err(VolumeError::UnsafePath {
                volume: volume.to_owned(),
                path: file.path.clone(),
            });
        }
        let path = directory.join(relative);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        let io_error = |source| VolumeError::Io {
            path: path.clone(),
            source,
        };
        if std::fs::read(&path).ok().as_deref() != Some(file.contents.as_slice()) {
            std::fs::write(&path, &file.contents).map_err(io_error)?;
        }
        let mode = u32::try_from(file.mode).unwrap_or(0o644) & 0o777;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io_error)?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), VolumeError> {
    std::fs::create_dir_all(path).map_err(|source| VolumeError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The container's volumeMounts as CRI mounts (subPath resolved inside the volume).
pub fn container_mounts(
    container: &Container,
    host_paths: &BTreeMap<String, PathBuf>,
) -> Result<Vec<Mount>, VolumeError> {
    let mut mounts = Vec::new();
    for volume_mount in container.volume_mounts.iter().flatten() {
        let host_path = host_paths
            .get(&volume_mount.name)
            .ok_or_else(|| VolumeError::UnknownVolume(volume_mount.name.clone()))?;
        let host_path = match volume_mount
            .sub_path
            .as_deref()
            .filter(|sub_path| !sub_path.is_empty())
        {
            Some(sub_path) if sub_path.contains("..") => {
                return Err(VolumeError::UnsafePath {
                    volume: volume_mount.name.clone(),
                    path: sub_path.to_owned(),
                });
            }
            Some(sub_path) => host_path.join(sub_path),
            None => host_path.clone(),
        };
        mounts.push(Mount {
            container_path: volume_mount.mount_path.clone(),
            host_path: host_path.display().to_string(),
            readonly: volume_mount.read_only.unwrap_or(false),
            ..Mount::default()
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{
        ConfigMap, ConfigMapVolumeSource, EmptyDirVolumeSource, PodSpec, VolumeMount,
    };

    fn pod_with_volumes(volumes: Vec<Volume>) -> ResolvedPod {
        let mut resolved = ResolvedPod::default();
        resolved.pod.spec = Some(PodSpec {
            volumes: Some(volumes),
            ..PodSpec::default()
        });
        resolved
    }

    #[test]
    fn empty_dir_and_config_map_volumes_become_directories_with_files()
    -> Result<(), Box<dyn std::error::Error>> {
        let pod_dir = tempfile::tempdir()?;
        let mut resolved = pod_with_volumes(vec![
            Volume {
                name: "scratch".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
            Volume {
                name: "settings".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "app".to_owned(),
                    items: Some(vec![KeyToPath {
                        key: "a".to_owned(),
                        path: "dir/a.txt".to_owned(),
                        mode: Some(0o600),
                        ..KeyToPath::default()
                    }]),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
        ]);
        let data = [
            ("a".to_owned(), "A".to_owned()),
            ("b".to_owned(), "B".to_owned()),
        ]
        .into();
        resolved.config_maps.insert(
            "app".to_owned(),
            ConfigMap {
                data: Some(data),
                ..ConfigMap::default()
            },
        );
        let paths = prepare_volumes(&resolved, pod_dir.path(), &PodAddresses::default())?;
        assert!(paths["scratch"].is_dir());
        assert_eq!(
            std::fs::read_to_string(paths["settings"].join("dir/a.txt"))?,
            "A"
        );
        assert!(!paths["settings"].join("b").exists());
        let container = Container {
            volume_mounts: Some(vec![VolumeMount {
                name: "settings".to_owned(),
                mount_path: "/etc/app".to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        let mounts = container_mounts(&container, &paths)?;
        assert_eq!(mounts[0].container_path, "/etc/app");
        assert!(mounts[0].readonly);
        Ok(())
    }

    #[test]
    fn a_missing_config_map_fails_the_volume() -> Result<(), Box<dyn std::error::Error>> {
        let pod_dir = tempfile::tempdir()?;
        let resolved = pod_with_volumes(vec![Volume {
            name: "settings".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: "gone".to_owned(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        }]);
        let result = prepare_volumes(&resolved, pod_dir.path(), &PodAddresses::default());
        assert!(matches!(result, Err(VolumeError::ConfigMapNotFound(name)) if name == "gone"));
        Ok(())
    }
}
