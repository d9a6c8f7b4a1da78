//! The per-node containerd configuration file (config version 2), with exactly the keys the
//! reference found necessary on this machine kind (shared/reference/containerd-cri.md §1.1).

use crate::node_paths::NodePaths;

/// Renders the TOML for one node. `sandbox_image` must already be imported into `k8s.io`,
/// since no registry is reachable to pull it.
pub fn render_containerd_config(
    paths: &NodePaths,
    sandbox_image: &str,
    stream_idle_timeout: std::time::Duration,
) -> String {
    // containerd reads a Go duration ("14400s").
    let stream_idle_timeout = format!("{}s", stream_idle_timeout.as_secs().max(1));
    let root = paths.containerd_root().display().to_string();
    let state = paths.containerd_state().display().to_string();
    let socket = paths.containerd_socket().display().to_string();
    let opt = paths.containerd_opt().display().to_string();
    let runc_root = paths.runc_root().display().to_string();
    let cni_config_dir = paths.cni_config_dir().display().to_string();
    let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
    format!(
        r#"version = 2
root = {root:?}
state = {state:?}
oom_score = 0
[grpc]
  address = {socket:?}
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = {opt:?}
  [{cri}]
    sandbox_image = {sandbox_image:?}
    netns_mounts_under_state_dir = true
    # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj would fail every sandbox.
    restrict_oom_score_adj = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    stream_idle_timeout = {stream_idle_timeout:?}
    enable_selinux = false
    max_container_log_line_size = 16384
    [{cri}.cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = {cni_config_dir:?}
      max_conf_num = 1
    [{cri}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [{cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [{cri}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = {runc_root:?}
"#
    )
}

/// Registry mirrors for plain-HTTP registries (`--insecure-registry HOST:PORT`): containerd
/// 1.6 then pulls `HOST:PORT/...` images over http.
pub fn render_insecure_registries(registries: &[String]) -> String {
    let mut text = String::new();
    for registry in registries {
        let endpoint = format!("http://{registry}");
        text.push_str(&format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.{registry:?}]\n  endpoint = [{endpoint:?}]\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_every_path_under_the_node_directory() {
        let text = render_containerd_config(
            &NodePaths::new("/tmp/hkn-1"),
            "hakube.local/pause:1",
            std::time::Duration::from_secs(90),
        );
        assert!(text.contains(r#"address = "/tmp/hkn-1/containerd.sock""#));
        assert!(text.contains(r#"Root = "/tmp/hkn-1/runc""#));
        assert!(text.contains(r#"path = "/tmp/hkn-1/opt""#));
        assert!(text.contains("restrict_oom_score_adj = true"));
        assert!(text.contains(r#"sandbox_image = "hakube.local/pause:1""#));
        assert!(text.contains(r#"stream_idle_timeout = "90s""#));
    }

    #[test]
    fn insecure_registries_become_http_mirrors() {
        let text = render_insecure_registries(&["127.0.0.1:5000".to_owned()]);
        assert_eq!(
            text,
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"127.0.0.1:5000\"]\n  \
             endpoint = [\"http://127.0.0.1:5000\"]\n"
        );
    }
}
