//! `hakube dbctl`: the replicated datastore from the command line, through the admin API's `/kv/*`,
//! `/members` and `/backup` routes. Every command exits 0 only when done (a put: committed) and
//! gives up after `--timeout` (default 10 s) with a non-zero exit; `watch` streams until then.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hakube_cluster::admin_api::{
    BackupRequest, Done, KvDeleteRequest, KvEvent, KvGetResponse, KvListResponse, KvPutRequest,
    KvWriteResponse, MemberJson, MembersResponse,
};

use crate::admin_client::{AdminClient, encode_query, within};
use crate::cli::{DbctlArgs, DbctlCommand};
use crate::commands::status::table;
use crate::error::Failure;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(data_dir: &Path, args: &DbctlArgs) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let limit = args
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let local = if args.local { "&local=true" } else { "" };
    match &args.command {
        DbctlCommand::Members => {
            let members: MembersResponse =
                within(limit, "dbctl members", client.get("/members")).await?;
            print!("{}", members_table(&members.members));
        }
        DbctlCommand::Leader => {
            let members: MembersResponse =
                within(limit, "dbctl leader", client.get("/members")).await?;
            match members.members.iter().find(|m| m.leader) {
                Some(leader) => println!("{}", leader.name),
                None => bail!("the datastore has no leader (quorum lost?): check hakube status"),
            }
        }
        DbctlCommand::Get { key, revision } => {
            let revision = revision
                .map(|r| format!("&revision={r}"))
                .unwrap_or_default();
            let path = format!("/kv/get?key={}{revision}{local}", encode_query(key));
            let answer: KvGetResponse = within(limit, "dbctl get", client.get(&path)).await?;
            match answer.kv {
                Some(kv) => println!("{}", kv.value),
                None => {
                    return Err(Failure {
                        code: 1,
                        message: Some(format!("key not found: {key}")),
                    }
                    .into());
                }
            }
        }
        DbctlCommand::Put { key, value } => {
            let request = KvPutRequest {
                key: key.clone(),
                value: value.clone(),
            };
            let _: KvWriteResponse =
                within(limit, "dbctl put", client.post("/kv/put", &request)).await?;
        }
        DbctlCommand::Del { key } => {
            let request = KvDeleteRequest { key: key.clone() };
            let _: KvWriteResponse =
                within(limit, "dbctl del", client.post("/kv/delete", &request)).await?;
        }
        DbctlCommand::List {
            prefix,
            values,
            limit: max,
        } => {
            let max = max.map(|n| format!("&limit={n}")).unwrap_or_default();
            let path = format!("/kv/list?prefix={}{max}{local}", encode_query(prefix));
            let answer: KvListResponse = within(limit, "dbctl list", client.get(&path)).await?;
            let mut out = String::new();
            for kv in &answer.items {
                out.push_str(&kv.key);
                if *values {
                    out.push(' ');
                    out.push_str(&kv.value);
                }
                out.push('\n');
            }
            print!("{out}");
        }
        DbctlCommand::Watch { prefix, revision } => {
            let revision = revision
                .map(|r| format!("&revision={r}"))
                .unwrap_or_default();
            let path = format!("/kv/watch?prefix={}{revision}", encode_query(prefix));
            watch(&client, &path, args.timeout.map(Duration::from_secs)).await?;
        }
        DbctlCommand::Backup { file } => {
            let path = std::path::absolute(file)
                .with_context(|| format!("backup file {}", file.display()))?;
            let request = BackupRequest {
                path: path.to_string_lossy().into_owned(),
            };
            let done: Done =
                within(limit, "dbctl backup", client.post("/backup", &request)).await?;
            if !done.message.is_empty() {
                println!("{}", done.message);
            }
        }
        DbctlCommand::Restore { file } => {
            if let Some(pid) = crate::process::live_daemon(data_dir) {
                anyhow::bail!(
                    "the daemon of {} is running (pid {pid}): stop it first (hakube stop --data-dir {})",
                    data_dir.display(),
                    data_dir.display()
                );
            }
            println!(
                "{}",
                hakube_cluster::restore::restore_offline(data_dir, file)?
            );
        }
        DbctlCommand::Bench(bench) => return super::bench::run(data_dir, bench, limit).await,
    }
    Ok(())
}

/// Prints each event as it comes; with `duration`, stops after it (exit 0), else runs until the
/// daemon closes the stream.
async fn watch(client: &AdminClient, path: &str, duration: Option<Duration>) -> Result<()> {
    use std::io::Write as _;
    let stream = client.stream_lines(path, |line| {
        let event: KvEvent =
            serde_json::from_str(line).with_context(|| format!("bad watch event: {line}"))?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", event_line(&event))?;
        stdout.flush()?;
        Ok(())
    });
    match duration {
        Some(duration) => match tokio::time::timeout(duration, stream).await {
            Ok(result) => result,
            Err(_) => Ok(()),
        },
        None => stream.await,
    }
}

/// `PUT KEY VALUE` or `DELETE KEY`.
pub fn event_line(event: &KvEvent) -> String {
    if event.kind.eq_ignore_ascii_case("DELETE") {
        format!("DELETE {}", event.kv.key)
    } else {
        format!("PUT {} {}", event.kv.key, event.kv.value)
    }
}

pub fn members_table(members: &[MemberJson]) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "NAME".into(),
        "PEER-ADDRESS".into(),
        "ROLE".into(),
        "LEADER".into(),
        "REACHABLE".into(),
    ]];
    for m in members {
        let role = serde_json::to_value(m.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        rows.push([
            m.id.to_string(),
            m.name.clone(),
            m.peer_address.clone(),
            role,
            if m.leader { "yes".into() } else { "no".into() },
            if m.reachable {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_cluster::admin_api::{DatastoreRole, KeyValueJson};

    fn kv(key: &str, value: &str) -> KeyValueJson {
        KeyValueJson {
            key: key.into(),
            value: value.into(),
            create_revision: 1,
            mod_revision: 2,
            version: 1,
        }
    }

    #[test]
    fn watch_events_print_as_lines() {
        let put = KvEvent {
            kind: "PUT".into(),
            kv: kv("/a", "1"),
        };
        let del = KvEvent {
            kind: "DELETE".into(),
            kv: kv("/a", ""),
        };
        assert_eq!(event_line(&put), "PUT /a 1");
        assert_eq!(event_line(&del), "DELETE /a");
    }

    #[test]
    fn members_table_lists_roles() {
        let members = vec![MemberJson {
            id: 7,
            name: "node1".into(),
            peer_address: "127.0.0.11:19001".into(),
            role: DatastoreRole::Voter,
            leader: true,
            reachable: true,
        }];
        let text = members_table(&members);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID  NAME   PEER-ADDRESS      ROLE   LEADER  REACHABLE"
        );
        assert_eq!(lines[1], "7   node1  127.0.0.11:19001  voter  yes     yes");
    }
}
