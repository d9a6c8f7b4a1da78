//! Membership commands run on the node they concern: `hakube join`, `hakube leave` and
//! `hakube remove-node`. The daemon does the work; these print its progress and messages.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use hakube_cluster::admin_api::{Done, JoinRequest, JoinResponse, RemoveNodeRequest};

use crate::admin_client::{AdminClient, within};
use crate::cli::{JoinArgs, RemoveNodeArgs};

/// A join can take up to about a minute (datastore catch-up, certificates); allow well beyond.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(180);
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn join(data_dir: &Path, args: &JoinArgs) -> Result<()> {
    let request = JoinRequest {
        join_string: args.join_string.clone(),
        worker: args.worker,
        skip_verify: args.skip_verify,
        allow_clock_skew: args.allow_clock_skew,
        allow_version_skew: args.allow_version_skew,
    };
    for line in join_with(&AdminClient::new(data_dir), &request)
        .await?
        .progress
    {
        println!("{line}");
    }
    Ok(())
}

/// `POST /join` with the join timeout.
pub async fn join_with(client: &AdminClient, request: &JoinRequest) -> Result<JoinResponse> {
    within(JOIN_TIMEOUT, "join", client.post("/join", request)).await
}

pub async fn leave(data_dir: &Path) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let done: Done = within(MEMBERSHIP_TIMEOUT, "leave", client.post_empty("/leave")).await?;
    print_message(&done);
    Ok(())
}

pub async fn remove_node(data_dir: &Path, args: &RemoveNodeArgs) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let request = RemoveNodeRequest {
        node: args.node.clone(),
        force: args.force,
    };
    let done: Done = within(
        MEMBERSHIP_TIMEOUT,
        "remove-node",
        client.post("/remove-node", &request),
    )
    .await?;
    print_message(&done);
    Ok(())
}

fn print_message(done: &Done) {
    if !done.message.is_empty() {
        println!("{}", done.message);
    }
}
