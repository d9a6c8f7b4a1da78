//! Where a `kubectl exec`, `attach` or `port-forward` goes on this node: the pod's sandbox or
//! container, found by the labels the agent gave them, and the one-time URL on containerd's
//! stream server that CRI Exec/Attach/PortForward hands out for it (the kubelet's job).

use k8s_cri::v1 as cri;

use crate::cri::{CriClient, CriError};
use crate::pod_config::{CONTAINER_NAME_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// No ready sandbox of that pod runs here (words of the kubelet).
    #[error("pod {namespace}/{pod} does not exist on this node")]
    PodNotFound { namespace: String, pod: String },
    #[error("container not found (\"{container}\")")]
    ContainerNotFound { container: String },
    #[error("container \"{container}\" in pod \"{pod}\" is not running")]
    ContainerNotRunning { container: String, pod: String },
    #[error("{0}")]
    Runtime(#[from] CriError),
}

/// The streams a client asked for (exec's and attach's query flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    /// A terminal merges stderr into stdout, so the runtime refuses both (as the kubelet
    /// does, stderr is dropped).
    fn for_runtime(&self) -> StreamOptions {
        StreamOptions {
            stderr: self.stderr && !self.tty,
            ..self.clone()
        }
    }
}

/// The newest ready sandbox of pod `namespace/pod`.
async fn sandbox_id(client: &CriClient, namespace: &str, pod: &str) -> Result<String, StreamError> {
    let ready = cri::PodSandboxState::SandboxReady as i32;
    client
        .list_pod_sandboxes()
        .await?
        .into_iter()
        .filter(|sandbox| {
            sandbox.state == ready
                && sandbox.labels.get(POD_NAMESPACE_LABEL).map(String::as_str) == Some(namespace)
                && sandbox.labels.get(POD_NAME_LABEL).map(String::as_str) == Some(pod)
        })
        .max_by_key(|sandbox| sandbox.created_at)
        .map(|sandbox| sandbox.id)
        .ok_or_else(|| StreamError::PodNotFound {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
        })
}

/// The running container `container` of the pod's newest sandbox.
async fn container_id(
    client: &CriClient,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<String, StreamError> {
    let sandbox = sandbox_id(client, namespace, pod).await?;
    let newest = client
        .list_containers()
        .await?
        .into_iter()
        .filter(|c| {
            c.pod_sandbox_id == sandbox
                && c.labels.get(CONTAINER_NAME_LABEL).map(String::as_str) == Some(container)
        })
        .max_by_key(|c| c.created_at)
        .ok_or_else(|| StreamError::ContainerNotFound {
            container: container.to_owned(),
        })?;
    if newest.state != cri::ContainerState::ContainerRunning as i32 {
        return Err(StreamError::ContainerNotRunning {
            container: container.to_owned(),
            pod: pod.to_owned(),
        });
    }
    Ok(newest.id)
}

/// The stream server URL for running `command` in the container.
pub async fn exec_url(
    client: &CriClient,
    (namespace, pod, container): (&str, &str, &str),
    command: Vec<String>,
    options: &StreamOptions,
) -> Result<String, StreamError> {
    let id = container_id(client, namespace, pod, container).await?;
    let options = options.for_runtime();
    let request = cri::ExecRequest {
        container_id: id,
        cmd: command,
        tty: options.tty,
        stdin: options.stdin,
        stdout: options.stdout,
        stderr: options.stderr,
    };
    Ok(client.exec(request).await?)
}

/// The stream server URL for attaching to the container's main process.
pub async fn attach_url(
    client: &CriClient,
    (namespace, pod, container): (&str, &str, &str),
    options: &StreamOptions,
) -> Result<String, StreamError> {
    let id = container_id(client, namespace, pod, container).await?;
    let options = options.for_runtime();
    let request = cri::AttachRequest {
        container_id: id,
        stdin: options.stdin,
        tty: options.tty,
        stdout: options.stdout,
        stderr: options.stderr,
    };
    Ok(client.attach(request).await?)
}

/// The stream server URL for forwarding ports into the pod's network namespace (the ports
/// themselves travel in the stream's headers).
pub async fn port_forward_url(
    client: &CriClient,
    namespace: &str,
    pod: &str,
    ports: Vec<i32>,
) -> Result<String, StreamError> {
    let sandbox = sandbox_id(client, namespace, pod).await?;
    Ok(client.port_forward(&sandbox, ports).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_drops_stderr() {
        let asked = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        assert!(!asked.for_runtime().stderr);
        let plain = StreamOptions {
            tty: false,
            ..asked
        };
        assert!(plain.for_runtime().stderr);
    }
}
