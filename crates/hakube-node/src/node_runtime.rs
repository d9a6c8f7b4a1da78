//! One node's container runtime as the daemon uses it: its containerd started (or adopted) and
//! supervised, and the agent that runs pods on it. `shutdown` leaves containerd and the pods
//! running for the next hakube (they are adopted); `stop` ends containerd too.

use crate::agent::{Agent, AgentError};
use crate::agent_config::AgentConfig;
use crate::containerd::{Containerd, ContainerdError, ContainerdOptions};
use crate::containerd_supervisor::ContainerdSupervisor;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum NodeRuntimeError {
    #[error(transparent)]
    Containerd(#[from] ContainerdError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

#[derive(Debug)]
pub struct NodeRuntime {
    pub agent: Agent,
    socket: std::path::PathBuf,
    supervisor: ContainerdSupervisor,
}

impl NodeRuntime {
    /// Starts or adopts the node's containerd in `config.node_dir` and builds the agent.
    pub async fn start(config: AgentConfig) -> Result<Self, NodeRuntimeError> {
        let containerd = Containerd::start(ContainerdOptions::new(&config.node_dir)).await?;
        Self::with_containerd(containerd, config)
    }

    /// The same with containerd started by the caller (other options, e.g. a netns).
    pub fn with_containerd(
        containerd: Containerd,
        config: AgentConfig,
    ) -> Result<Self, NodeRuntimeError> {
        let agent = Agent::new(config, containerd.client().clone())?;
        let socket = containerd.socket_path();
        Ok(Self {
            agent,
            socket,
            supervisor: ContainerdSupervisor::spawn(containerd),
        })
    }

    /// Imports an image archive (OCI or docker) for this node's pods.
    pub async fn import_image(&self, archive: &Path) -> Result<(), ContainerdError> {
        crate::containerd::import_image(&self.socket, archive).await
    }

    /// Leaves containerd and every pod running (a hakube restart adopts them).
    pub fn shutdown(self) {
        self.supervisor.detach();
    }

    /// Stops containerd; pods still run in their shims unless removed first (`sync(&[])`).
    pub async fn stop(self) {
        self.supervisor.stop().await;
    }
}
