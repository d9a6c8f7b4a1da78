//! The CRI v1 client for this node's containerd, over its Unix socket (recipe in the reference
//! §2.1). Thin: one method per call the agent uses, each returning the useful part of the reply
//! and a typed error naming the call, so the agent can tell "not found" from "runtime down".

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("connecting to the CRI socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: tonic::transport::Error,
    },
    #[error("CRI {call}: {status}")]
    Call {
        call: &'static str,
        status: tonic::Status,
    },
}

impl CriError {
    /// The gRPC code of a failed call (`Unavailable` for a connection failure).
    pub fn code(&self) -> tonic::Code {
        match self {
            CriError::Connect { .. } => tonic::Code::Unavailable,
            CriError::Call { status, .. } => status.code(),
        }
    }

    /// The runtime's own message, without the call name (for pod status messages).
    pub fn message(&self) -> String {
        match self {
            CriError::Connect { source, .. } => source.to_string(),
            CriError::Call { status, .. } => status.message().to_owned(),
        }
    }
}

/// Per-call deadline for everything but StopContainer and ExecSync, which bring their own.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected CRI client; cheap to clone (one shared HTTP/2 channel).
#[derive(Debug, Clone)]
pub struct CriClient {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

fn call_error(call: &'static str) -> impl FnOnce(tonic::Status) -> CriError {
    move |status| CriError::Call { call, status }
}

fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

impl CriClient {
    /// Connects to the socket; the URI is a placeholder, the connector ignores it.
    pub async fn connect(socket_path: &Path) -> Result<Self, CriError> {
        let path = socket_path.to_owned();
        let connect_error = |source| CriError::Connect {
            path: socket_path.to_owned(),
            source,
        };
        let endpoint =
            Endpoint::from_static("http://[::]:50051").connect_timeout(Duration::from_secs(2));
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .map_err(connect_error)?;
        Ok(Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    pub async fn version(&self) -> Result<cri::VersionResponse, CriError> {
        let message = cri::VersionRequest {
            version: "v1".to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .version(request(message, Duration::from_secs(2)))
            .await;
        Ok(reply.map_err(call_error("Version"))?.into_inner())
    }

    pub async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String, CriError> {
        let message = cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        };
        let reply = self
            .runtime
            .clone()
            .run_pod_sandbox(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("RunPodSandbox"))?
            .into_inner()
            .pod_sandbox_id)
    }

    pub async fn stop_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<(), CriError> {
        let message = cri::StopPodSandboxRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .stop_pod_sandbox(request(message, CALL_TIMEOUT))
            .await;
        reply.map_err(call_error("StopPodSandbox")).map(drop)
    }

    pub async fn remove_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<(), CriError> {
        let message = cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .remove_pod_sandbox(request(message, CALL_TIMEOUT))
            .await;
        reply.map_err(call_error("RemovePodSandbox")).map(drop)
    }

    pub async fn pod_sandbox_status(
        &self,
        pod_sandbox_id: &str,
    ) -> Result<Option<cri::PodSandboxStatus>, CriError> {
        let message = cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
            verbose: false,
        };
        let reply = self
            .runtime
            .clone()
            .pod_sandbox_status(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("PodSandboxStatus"))?
            .into_inner()
            .status)
    }

    pub async fn list_pod_sandboxes(&self) -> Result<Vec<cri::PodSandbox>, CriError> {
        let message = cri::ListPodSandboxRequest { filter: None };
        let reply = self
            .runtime
            .clone()
            .list_pod_sandbox(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("ListPodSandbox"))?
            .into_inner()
            .items)
    }

    /// Creates a container; `sandbox_config` is mandatory (containerd 1.6.20 panics without it).
    pub async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String, CriError> {
        let message = cri::CreateContainerRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        let reply = self
            .runtime
            .clone()
            .create_container(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("CreateContainer"))?
            .into_inner()
            .container_id)
    }

    pub async fn start_container(&self, container_id: &str) -> Result<(), CriError> {
        let message = cri::StartContainerRequest {
            container_id: container_id.to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .start_container(request(message, CALL_TIMEOUT))
            .await;
        reply.map_err(call_error("StartContainer")).map(drop)
    }

    /// Stops a container: SIGTERM, then SIGKILL after `grace_period_seconds`.
    pub async fn stop_container(
        &self,
        container_id: &str,
        grace_period_seconds: i64,
    ) -> Result<(), CriError> {
        let message = cri::StopContainerRequest {
            container_id: container_id.to_owned(),
            timeout: grace_period_seconds,
        };
        let deadline =
            CALL_TIMEOUT + Duration::from_secs(grace_period_seconds.max(0).unsigned_abs());
        let reply = self
            .runtime
            .clone()
            .stop_container(request(message, deadline))
            .await;
        reply.map_err(call_error("StopContainer")).map(drop)
    }

    pub async fn remove_container(&self, container_id: &str) -> Result<(), CriError> {
        let message = cri::RemoveContainerRequest {
            container_id: container_id.to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .remove_container(request(message, CALL_TIMEOUT))
            .await;
        reply.map_err(call_error("RemoveContainer")).map(drop)
    }

    pub async fn list_containers(&self) -> Result<Vec<cri::Container>, CriError> {
        let message = cri::ListContainersRequest { filter: None };
        let reply = self
            .runtime
            .clone()
            .list_containers(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("ListContainers"))?
            .into_inner()
            .containers)
    }

    pub async fn container_status(
        &self,
        container_id: &str,
    ) -> Result<Option<cri::ContainerStatus>, CriError> {
        let message = cri::ContainerStatusRequest {
            container_id: container_id.to_owned(),
            verbose: false,
        };
        let reply = self
            .runtime
            .clone()
            .container_status(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("ContainerStatus"))?
            .into_inner()
            .status)
    }

    /// Makes containerd reopen a container's log file (after it was rotated away).
    pub async fn reopen_container_log(&self, container_id: &str) -> Result<(), CriError> {
        let message = cri::ReopenContainerLogRequest {
            container_id: container_id.to_owned(),
        };
        let reply = self
            .runtime
            .clone()
            .reopen_container_log(request(message, CALL_TIMEOUT))
            .await;
        reply.map_err(call_error("ReopenContainerLog")).map(drop)
    }

    /// Runs a command in a container and waits for it; `timeout_seconds` 0 means no limit.
    pub async fn exec_sync(
        &self,
        container_id: &str,
        command: Vec<String>,
        timeout_seconds: i64,
    ) -> Result<cri::ExecSyncResponse, CriError> {
        let message = cri::ExecSyncRequest {
            container_id: container_id.to_owned(),
            cmd: command,
            timeout: timeout_seconds,
        };
        let deadline = CALL_TIMEOUT + Duration::from_secs(timeout_seconds.max(0).unsigned_abs());
        let reply = self
            .runtime
            .clone()
            .exec_sync(request(message, deadline))
            .await;
        Ok(reply.map_err(call_error("ExecSync"))?.into_inner())
    }

    /// A streaming exec: the URL on containerd's stream server to connect to (SPDY or
    /// WebSocket, as the kubelet proxies it). For a node in a network namespace, that URL is
    /// only reachable from inside it.
    pub async fn exec(&self, message: cri::ExecRequest) -> Result<String, CriError> {
        let reply = self
            .runtime
            .clone()
            .exec(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply.map_err(call_error("Exec"))?.into_inner().url)
    }

    /// A streaming attach: the stream server URL.
    pub async fn attach(&self, message: cri::AttachRequest) -> Result<String, CriError> {
        let reply = self
            .runtime
            .clone()
            .attach(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply.map_err(call_error("Attach"))?.into_inner().url)
    }

    /// A port forward into a sandbox: the stream server URL.
    pub async fn port_forward(
        &self,
        pod_sandbox_id: &str,
        ports: Vec<i32>,
    ) -> Result<String, CriError> {
        let message = cri::PortForwardRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
            port: ports,
        };
        let reply = self
            .runtime
            .clone()
            .port_forward(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply.map_err(call_error("PortForward"))?.into_inner().url)
    }

    /// CPU and memory of every container (for metrics.k8s.io).
    pub async fn list_container_stats(&self) -> Result<Vec<cri::ContainerStats>, CriError> {
        let message = cri::ListContainerStatsRequest { filter: None };
        let reply = self
            .runtime
            .clone()
            .list_container_stats(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply
            .map_err(call_error("ListContainerStats"))?
            .into_inner()
            .stats)
    }

    /// The image's record, or `None` when it is not present (not an error in CRI).
    pub async fn image_status(&self, image: &str) -> Result<Option<cri::Image>, CriError> {
        let message = cri::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let reply = self
            .images
            .clone()
            .image_status(request(message, CALL_TIMEOUT))
            .await;
        Ok(reply.map_err(call_error("ImageStatus"))?.into_inner().image)
    }

    /// Pulls from a registry; returns the image reference (its ID).
    pub async fn pull_image(&self, image: &str) -> Result<String, CriError> {
        let message = cri::PullImageRequest {
            image: Some(image_spec(image)),
            auth: None,
            sandbox_config: None,
        };
        let reply = self
            .images
            .clone()
            .pull_image(request(message, Duration::from_secs(300)))
            .await;
        Ok(reply
            .map_err(call_error("PullImage"))?
            .into_inner()
            .image_ref)
    }
}

pub fn image_spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.to_owned(),
        ..cri::ImageSpec::default()
    }
}
