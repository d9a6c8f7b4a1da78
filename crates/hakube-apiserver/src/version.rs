//! `/version`: the Kubernetes version hakube implements. kubectl's dispatcher picks the kubectl
//! binary from `minor`, so this decides which kubectl talks to the cluster.

use serde_json::{Value, json};

pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "37";
pub const KUBERNETES_GIT_VERSION: &str = "v1.37.0";

pub fn info() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": KUBERNETES_GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-26T00:00:00Z",
        "goVersion": concat!("hakube-", env!("CARGO_PKG_VERSION")),
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}
