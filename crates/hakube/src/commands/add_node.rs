//! `hakube add-node`: asks the daemon for a join token and prints the `hakube join` commands for
//! it, MicroK8s-style (pretty), one per line (short), the bare token, or the raw answer.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hakube_cluster::admin_api::{AddNodeRequest, AddNodeResponse};

use crate::admin_client::{AdminClient, within};
use crate::cli::{AddNodeArgs, AddNodeFormat};

pub async fn run(data_dir: &Path, args: &AddNodeArgs) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let request = AddNodeRequest {
        token_ttl_seconds: args.token_ttl,
        token: args.token.clone(),
        worker: args.worker,
    };
    let response: AddNodeResponse = within(
        Duration::from_secs(30),
        "add-node",
        client.post("/add-node", &request),
    )
    .await?;
    print!("{}", render(&response, args.format)?);
    Ok(())
}

/// `hakube join JOIN_STRING`, with ` --worker` for worker tokens.
pub fn join_command(join_string: &str, worker: bool) -> String {
    if worker {
        format!("hakube join {join_string} --worker")
    } else {
        format!("hakube join {join_string}")
    }
}

pub fn render(response: &AddNodeResponse, format: AddNodeFormat) -> Result<String> {
    Ok(match format {
        AddNodeFormat::Pretty => render_pretty(response),
        AddNodeFormat::Short => render_short(response),
        AddNodeFormat::Token => format!("{}\n", response.token),
        AddNodeFormat::Json => {
            serde_json::to_string_pretty(response).context("encoding the answer")? + "\n"
        }
        AddNodeFormat::Yaml => serde_saphyr::to_string(response).context("encoding the answer")?,
    })
}

pub fn render_short(response: &AddNodeResponse) -> String {
    let mut out = String::new();
    for join_string in &response.join_strings {
        out.push_str(&join_command(join_string, response.worker));
        out.push('\n');
    }
    out
}

pub fn render_pretty(response: &AddNodeResponse) -> String {
    let mut out = String::new();
    let Some((main, others)) = response.join_strings.split_first() else {
        return "The daemon returned no address to join through.\n".into();
    };
    out.push_str("From the node you wish to join to this cluster, run the following:\n");
    let _ = writeln!(out, "{}", join_command(main, response.worker));
    if !response.worker {
        out.push('\n');
        out.push_str("Use the '--worker' flag to join a node as a worker not running the control plane, eg:\n");
        let _ = writeln!(out, "{}", join_command(main, true));
    }
    if !others.is_empty() {
        out.push('\n');
        out.push_str(
            "If the node you are adding is not reachable through the default interface you can use one of the following:\n",
        );
        for join_string in others {
            let _ = writeln!(out, "{}", join_command(join_string, response.worker));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(worker: bool, addresses: &[&str]) -> AddNodeResponse {
        AddNodeResponse {
            token: "TOKEN".into(),
            fingerprint: "FP".into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            port: 25000,
            worker,
            expires_unix_ms: None,
            join_strings: addresses
                .iter()
                .map(|a| format!("{a}:25000/TOKEN/FP"))
                .collect(),
        }
    }

    #[test]
    fn short_lists_every_address_main_first() {
        let r = response(false, &["127.0.0.11", "10.0.0.5"]);
        assert_eq!(
            render_short(&r),
            "hakube join 127.0.0.11:25000/TOKEN/FP\nhakube join 10.0.0.5:25000/TOKEN/FP\n"
        );
        let w = response(true, &["127.0.0.11"]);
        assert_eq!(
            render_short(&w),
            "hakube join 127.0.0.11:25000/TOKEN/FP --worker\n"
        );
    }

    #[test]
    fn pretty_is_like_microk8s() {
        let r = response(false, &["127.0.0.11", "10.0.0.5"]);
        assert_eq!(
            render_pretty(&r),
            "From the node you wish to join to this cluster, run the following:\n\
             hakube join 127.0.0.11:25000/TOKEN/FP\n\
             \n\
             Use the '--worker' flag to join a node as a worker not running the control plane, eg:\n\
             hakube join 127.0.0.11:25000/TOKEN/FP --worker\n\
             \n\
             If the node you are adding is not reachable through the default interface you can use one of the following:\n\
             hakube join 10.0.0.5:25000/TOKEN/FP\n"
        );
    }

    #[test]
    fn pretty_worker_token_prints_worker_lines_only() {
        let w = response(true, &["127.0.0.11"]);
        assert_eq!(
            render_pretty(&w),
            "From the node you wish to join to this cluster, run the following:\n\
             hakube join 127.0.0.11:25000/TOKEN/FP --worker\n"
        );
    }

    #[test]
    fn token_format_prints_the_token() {
        let r = response(false, &["127.0.0.11"]);
        assert_eq!(
            render(&r, AddNodeFormat::Token).unwrap_or_else(|e| panic!("{e}")),
            "TOKEN\n"
        );
    }
}
