//! `hakube status`: fetches the daemon's [`StatusReport`], optionally waits until the cluster is
//! ready, and renders it as MicroK8s-like text, JSON or YAML (DESIGN §7 fixes the formats).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hakube_cluster::admin_api::{DatastoreRole, StatusReport};

use crate::admin_client::{AdminClient, within};
use crate::cli::{StatusArgs, StatusFormat};

pub async fn run(data_dir: &Path, args: &StatusArgs) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let limit = Duration::from_secs(args.timeout);
    let report = if args.wait_ready {
        wait_ready(&client, limit).await?
    } else {
        within(limit, "status", client.get::<StatusReport>("/status")).await?
    };
    print!("{}", render(&report, args.format)?);
    Ok(())
}

pub fn render(report: &StatusReport, format: StatusFormat) -> Result<String> {
    Ok(match format {
        StatusFormat::Pretty => render_pretty(report),
        StatusFormat::Json => {
            serde_json::to_string_pretty(report).context("encoding the status")? + "\n"
        }
        StatusFormat::Yaml => serde_saphyr::to_string(report).context("encoding the status")?,
    })
}

/// Why the cluster is not ready yet, or `None` when it is: the daemon runs, the datastore has a
/// leader with quorum, and every node is reachable.
pub fn not_ready_reason(report: &StatusReport) -> Option<String> {
    if !report.running {
        return Some("the daemon is not running".into());
    }
    if !report.quorum {
        return Some("the datastore has no quorum".into());
    }
    if report.leader.is_none() {
        return Some("the datastore has no leader".into());
    }
    let unreachable: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| n.name.as_str())
        .collect();
    if !unreachable.is_empty() {
        return Some(format!("unreachable nodes: {}", unreachable.join(", ")));
    }
    None
}

/// Polls `GET /status` until the cluster is ready (see [`not_ready_reason`]) or `limit` passes.
pub async fn wait_ready(client: &AdminClient, limit: Duration) -> Result<StatusReport> {
    let deadline = Instant::now() + limit;
    let mut last_reason;
    loop {
        match within(
            Duration::from_secs(5),
            "status",
            client.get::<StatusReport>("/status"),
        )
        .await
        {
            Ok(report) => match not_ready_reason(&report) {
                None => return Ok(report),
                Some(reason) => last_reason = reason,
            },
            Err(e) => last_reason = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!(
                "the cluster was not ready within {} s: {last_reason}",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn role_name(role: DatastoreRole) -> &'static str {
    match role {
        DatastoreRole::Voter => "voter",
        DatastoreRole::Standby => "standby",
        DatastoreRole::Spare => "spare",
        DatastoreRole::None => "none",
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(" ")
    }
}

pub fn render_pretty(report: &StatusReport) -> String {
    let mut out = String::new();
    if !report.running {
        out.push_str("hakube is not running\n");
        return out;
    }
    out.push_str("hakube is running\n");
    let ha = if !report.quorum {
        "no (quorum lost)"
    } else {
        yes_no(report.high_availability)
    };
    let _ = writeln!(out, "high-availability: {ha}");
    let _ = writeln!(
        out,
        "  datastore master nodes: {}",
        list_or_none(&report.datastore_voters)
    );
    let _ = writeln!(
        out,
        "  datastore standby nodes: {}",
        list_or_none(&report.datastore_standbys)
    );
    out.push('\n');

    let mut rows = vec![[
        "NAME".to_string(),
        "ADDRESS".into(),
        "ROLE".into(),
        "CONTROL-PLANE".into(),
        "REACHABLE".into(),
        "FAILURE-DOMAIN".into(),
    ]];
    for node in &report.nodes {
        let name = if node.name == report.node {
            format!("{} (this node)", node.name)
        } else {
            node.name.clone()
        };
        rows.push([
            name,
            node.address.clone(),
            role_name(node.datastore_role).into(),
            yes_no(node.control_plane).into(),
            yes_no(node.reachable).into(),
            node.failure_domain.to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    let _ = writeln!(
        out,
        "leader: {}",
        report.leader.as_deref().unwrap_or("none")
    );
    let _ = writeln!(out, "version: {}", report.version);
    out
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_cluster::admin_api::NodeStatus;

    fn node(i: u8, role: DatastoreRole, reachable: bool) -> NodeStatus {
        NodeStatus {
            name: format!("node{i}"),
            address: format!("127.0.0.{}", 10 + i),
            datastore_role: role,
            control_plane: true,
            reachable,
            failure_domain: 1,
        }
    }

    fn three_nodes() -> StatusReport {
        StatusReport {
            running: true,
            node: "node1".into(),
            high_availability: true,
            quorum: true,
            leader: Some("node2".into()),
            nodes: vec![
                node(1, DatastoreRole::Voter, true),
                node(2, DatastoreRole::Voter, true),
                node(3, DatastoreRole::Voter, true),
            ],
            datastore_voters: vec![
                "127.0.0.11:19001".into(),
                "127.0.0.12:19001".into(),
                "127.0.0.13:19001".into(),
            ],
            datastore_standbys: vec![],
            version: "v0.1.0".into(),
        }
    }

    #[test]
    fn pretty_begins_like_microk8s() {
        let text = render_pretty(&three_nodes());
        assert!(
            text.starts_with(
                "hakube is running\n\
                 high-availability: yes\n  \
                 datastore master nodes: 127.0.0.11:19001 127.0.0.12:19001 127.0.0.13:19001\n  \
                 datastore standby nodes: none\n\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nNAME "), "{text}");
        assert!(
            text.contains("node1 (this node)  127.0.0.11  voter"),
            "{text}"
        );
        assert!(text.contains("\nleader: node2\n"), "{text}");
    }

    #[test]
    fn pretty_says_quorum_lost() {
        let mut report = three_nodes();
        report.quorum = false;
        report.leader = None;
        report.datastore_standbys = vec!["127.0.0.14:19001".into()];
        let text = render_pretty(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "high-availability: no (quorum lost)");
        assert_eq!(lines[3], "  datastore standby nodes: 127.0.0.14:19001");
        assert!(text.contains("leader: none"));
        report.quorum = true;
        report.high_availability = false;
        assert_eq!(
            render_pretty(&report).lines().nth(1),
            Some("high-availability: no")
        );
    }

    #[test]
    fn json_has_the_contract_fields() {
        let text = render(&three_nodes(), StatusFormat::Json).unwrap_or_else(|e| panic!("{e}"));
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        for field in [
            "running",
            "node",
            "highAvailability",
            "quorum",
            "leader",
            "nodes",
        ] {
            assert!(value.get(field).is_some(), "missing {field}: {text}");
        }
        let first = &value["nodes"][0];
        assert_eq!(first["datastoreRole"], "voter");
        assert_eq!(first["controlPlane"], true);
        assert_eq!(first["failureDomain"], 1);
    }

    #[test]
    fn yaml_renders() {
        let text = render(&three_nodes(), StatusFormat::Yaml).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("highAvailability: true"), "{text}");
        assert!(text.contains("datastoreRole: voter"), "{text}");
    }

    #[test]
    fn readiness_needs_quorum_leader_and_reachable_nodes() {
        let mut report = three_nodes();
        assert_eq!(not_ready_reason(&report), None);
        report.nodes[2].reachable = false;
        assert_eq!(
            not_ready_reason(&report).as_deref(),
            Some("unreachable nodes: node3")
        );
        report.leader = None;
        assert_eq!(
            not_ready_reason(&report).as_deref(),
            Some("the datastore has no leader")
        );
    }
}
