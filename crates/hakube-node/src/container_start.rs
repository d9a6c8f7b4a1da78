//! Starting one container of a pod: making sure its image is present (ImageStatus before any
//! pull: PullImage always asks the registry), building its configuration (env, volumes,
//! resources) and creating and starting it. Each failure carries the kind the status shows.

use crate::cri::CriClient;
use crate::environment::{PodAddresses, resolve_environment};
use crate::pod_config::{ContainerParts, container_config, oom_score_adj};
use crate::resolved_pod::ResolvedPod;
use crate::sync::FailureKind;
use crate::volumes::{container_mounts, prepare_volumes};
use hakube_kinds::k8s_openapi::api::core::v1::Container;
use k8s_cri::v1 as cri;
use std::path::Path;

/// Why a start failed, with the message for the container's waiting state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub kind: FailureKind,
    pub message: String,
}

/// A started container and how its image was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedContainer {
    pub container_id: String,
    /// The image was pulled now (false: it was already present).
    pub image_pulled: bool,
}

/// Everything one start needs besides the pod.
#[derive(Debug, Clone, Copy)]
pub struct StartRequest<'a> {
    pub client: &'a CriClient,
    pub sandbox_id: &'a str,
    pub sandbox_config: &'a cri::PodSandboxConfig,
    pub pod_dir: &'a Path,
    pub addresses: &'a PodAddresses,
    pub memory_capacity_bytes: i64,
}

pub async fn start_container(
    request: StartRequest<'_>,
    resolved: &ResolvedPod,
    container: &Container,
    attempt: u32,
) -> Result<StartedContainer, StartFailure> {
    let image_pulled = ensure_image(request.client, container).await?;
    let config_failure = |message: String| StartFailure {
        kind: FailureKind::CreateContainerConfig,
        message,
    };
    let environment = resolve_environment(resolved, container, request.addresses)
        .map_err(|error| config_failure(error.to_string()))?;
    let volume_paths = prepare_volumes(resolved, request.pod_dir, request.addresses)
        .map_err(|error| config_failure(error.to_string()))?;
    let mounts = container_mounts(container, &volume_paths)
        .map_err(|error| config_failure(error.to_string()))?;
    let parts = ContainerParts {
        environment,
        mounts,
        oom_score_adj: oom_score_adj(&resolved.pod, container, request.memory_capacity_bytes),
    };
    let config = container_config(&resolved.pod, container, attempt, parts);
    let container_id = request
        .client
        .create_container(request.sandbox_id, config, request.sandbox_config.clone())
        .await
        .map_err(|error| StartFailure {
            kind: FailureKind::CreateContainer,
            message: error.message(),
        })?;
    request
        .client
        .start_container(&container_id)
        .await
        .map_err(|error| StartFailure {
            kind: FailureKind::RunContainer,
            message: error.message(),
        })?;
    Ok(StartedContainer {
        container_id,
        image_pulled,
    })
}

/// The kubelet's pull policies; `Always` falls back to a present image when the registry is
/// unreachable, since nodes here are often offline with imported images. Returns whether it
/// pulled.
async fn ensure_image(client: &CriClient, container: &Container) -> Result<bool, StartFailure> {
    let image = container.image.clone().unwrap_or_default();
    let pull_failure = |message: String| StartFailure {
        kind: FailureKind::ImagePull {
            image: image.clone(),
        },
        message,
    };
    let policy = container
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| default_pull_policy(&image).to_owned());
    let present = client
        .image_status(&image)
        .await
        .map_err(|error| pull_failure(error.message()))?
        .is_some();
    match policy.as_str() {
        "Never" if !present => Err(StartFailure {
            kind: FailureKind::ImagePull {
                image: image.clone(),
            },
            message: format!(
                "Container image \"{image}\" is not present with pull policy of Never"
            ),
        }),
        "Always" => match client.pull_image(&image).await {
            Ok(_) => Ok(true),
            Err(_) if present => Ok(false),
            Err(error) => Err(pull_failure(format!(
                "Failed to pull image \"{image}\": {}",
                error.message()
            ))),
        },
        _ if present => Ok(false),
        _ => client
            .pull_image(&image)
            .await
            .map(|_| true)
            .map_err(|error| {
                pull_failure(format!(
                    "Failed to pull image \"{image}\": {}",
                    error.message()
                ))
            }),
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (Kubernetes' defaulting).
fn default_pull_policy(image: &str) -> &'static str {
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    let untagged = !last_segment.contains(':') && !image.contains('@');
    if untagged || last_segment.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_and_untagged_images_are_always_pulled() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("hakube.local/busybox:1"),
            "IfNotPresent"
        );
    }
}
