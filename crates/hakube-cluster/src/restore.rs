//! Restoring a backup, offline (the daemon of the data directory must be stopped): the backup
//! becomes the initial state of a new one-node cluster that keeps this node's CA and
//! certificates (so kubeconfigs and join fingerprints stay valid) under a new Raft node id.
//! Other nodes then join it as usual and receive the state by snapshot.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use openraft::type_config::async_runtime::WatchReceiver;

use hakube_store::backup::{self, RESTORE_FILE_NAME};

/// Present from the restore until the restored state is sealed in a snapshot with the log
/// purged behind it; while it is, the node admits no new member (a member joining earlier
/// would replay the log onto an empty state and miss the restored data).
pub const SEAL_PENDING_FILE_NAME: &str = "restore.pending";

/// Whether this node still has a restored state to seal.
pub fn seal_pending(node: &Node) -> bool {
    store_directory(&node.config)
        .join(SEAL_PENDING_FILE_NAME)
        .exists()
}

use crate::config::DaemonConfig;
use crate::identity::{Identity, new_node_id};
use crate::node::{Node, store_directory};

/// Verifies `file` and prepares `data_dir` to start from it. Changes nothing when the file is
/// unreadable or damaged.
pub fn restore_offline(data_dir: &Path, file: &Path) -> anyhow::Result<String> {
    let (mut backup_file, summary) = backup::read(file)?;
    forget_cluster_records(&mut backup_file.kv)?;
    let config = DaemonConfig {
        data_dir: data_dir.to_path_buf(),
        ..Default::default()
    };
    if let Some(mut identity) = Identity::load(data_dir)? {
        if identity.ca_key_pem.is_none() {
            bail!("this is a worker node: restore the backup on a control-plane node");
        }
        identity.node_id = new_node_id();
        identity.save(data_dir)?;
        // A new log: this node must initialise Raft again, as a new cluster.
        std::fs::write(data_dir.join(crate::daemon::BOOTSTRAP_MARKER), b"")
            .context("writing the bootstrap marker")?;
    }
    let store = store_directory(&config);
    if store.exists() {
        std::fs::remove_dir_all(&store).with_context(|| format!("removing {}", store.display()))?;
    }
    std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
    backup::write(
        &store.join(RESTORE_FILE_NAME),
        &backup_file.kv,
        backup_file.created_unix_ms,
    )?;
    std::fs::write(store.join(SEAL_PENDING_FILE_NAME), b"")
        .context("writing the restore marker")?;
    Ok(format!(
        "Restored revision {} ({} keys) into {}: start it with 'hakube start --data-dir {}'; it is a one-node cluster that other nodes can join.",
        summary.revision,
        summary.keys,
        data_dir.display(),
        data_dir.display()
    ))
}

/// The old cluster's node records and tokens describe machines that are not members of the
/// restored cluster: without this they would show as ghost nodes.
fn forget_cluster_records(kv: &mut hakube_store::mvcc::KeyValueState) -> anyhow::Result<()> {
    let prefix = b"/hakube/";
    let end = hakube_store::mvcc::prefix_end(prefix);
    let keys: Vec<Vec<u8>> = kv
        .range(prefix, end.as_deref(), None, 0)?
        .items
        .into_iter()
        .map(|item| item.key)
        .collect();
    for key in keys {
        kv.apply(&hakube_store::Operation::Delete {
            key,
            condition: hakube_store::Condition::Always,
        });
    }
    Ok(())
}

/// After a restore, the state exists only in memory and in the backup copy: snapshot it and
/// purge the log, so that members joining later catch up by snapshot and get the state.
pub async fn seal_restored_state(node: Arc<Node>) {
    let pending = store_directory(&node.config).join(SEAL_PENDING_FILE_NAME);
    if !pending.exists() {
        return;
    }
    let raft = node.store.raft().clone();
    if raft
        .wait(Some(Duration::from_secs(30)))
        .metrics(
            // Leading, with its own first entry applied: a snapshot of nothing would be empty.
            |m| {
                m.current_leader == Some(node.node_id())
                    && m.last_applied.is_some()
                    && m.last_applied.map(|id| id.index()) == m.last_log_index
            },
            "restored node leads",
        )
        .await
        .is_err()
    {
        tracing::warn!("restored node did not become leader; the backup stays in place");
        return;
    }
    if let Err(error) = raft.trigger().snapshot().await {
        tracing::warn!(%error, "snapshot after restore");
        return;
    }
    let metrics = raft.metrics();
    for _ in 0..300 {
        let snapshot = metrics.borrow_watched().snapshot;
        if let Some(log_id) = snapshot {
            if let Err(error) = raft.trigger().purge_log(log_id.index()).await {
                tracing::warn!(%error, "purging the log after restore");
                return;
            }
            // Joins may proceed once the purge has reached the log.
            let _ = raft
                .wait(Some(Duration::from_secs(30)))
                .metrics(
                    |m| m.purged.is_some_and(|p| p.index() >= log_id.index()),
                    "log purged after restore",
                )
                .await;
            if let Err(error) = std::fs::remove_file(&pending) {
                tracing::warn!(%error, "removing the restore marker");
            }
            tracing::info!(
                index = log_id.index(),
                "restored state sealed in a snapshot"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_store::{Condition, Operation};

    #[test]
    fn cluster_records_are_forgotten_and_data_kept() {
        let mut kv = hakube_store::mvcc::KeyValueState::new();
        for key in [
            "/hakube/nodes/node1",
            "/hakube/tokens/abc",
            "/registry/pods/default/a",
        ] {
            kv.apply(&Operation::Put {
                key: key.as_bytes().to_vec(),
                value: b"x".to_vec(),
                condition: Condition::Always,
            });
        }
        forget_cluster_records(&mut kv).unwrap();
        let all = kv.range(b"/", None, None, 0).unwrap();
        let keys: Vec<String> = all
            .items
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect();
        assert_eq!(keys, vec!["/registry/pods/default/a".to_string()]);
    }
}
