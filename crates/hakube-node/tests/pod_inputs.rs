//! What a pod is given reaches its containers: init containers run first and in order, env from
//! values, ConfigMaps, Secrets and pod fields, and emptyDir, configMap, secret and projected
//! service account token volumes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, phase, sync_until};
use hakube_kinds::k8s_openapi::ByteString;
use hakube_kinds::k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapKeySelector, ConfigMapVolumeSource, Container, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ObjectFieldSelector, ProjectedVolumeSource, Secret, SecretKeySelector,
    SecretVolumeSource, ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use hakube_node::resolved_pod::ResolvedPod;
use std::time::Duration;

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

fn env_from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(source),
    }
}

fn resolved_pod() -> ResolvedPod {
    let mut pod = busybox_pod("inputs", "uid-inputs", "sleep 3600", "Always");
    let spec = pod.spec.as_mut().unwrap();
    spec.init_containers = Some(vec![Container {
        name: "prepare".to_owned(),
        image: Some(common::BUSYBOX_IMAGE.to_owned()),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo prepared > /scratch/init.txt".into(),
        ]),
        volume_mounts: Some(vec![mount("scratch", "/scratch")]),
        ..Container::default()
    }]);
    let main = &mut spec.containers[0];
    main.env = Some(vec![
        EnvVar {
            name: "PLAIN".into(),
            value: Some("plain-value".into()),
            value_from: None,
        },
        env_from(
            "FROM_CONFIG_MAP",
            EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: "settings".into(),
                    key: "color".into(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            },
        ),
        env_from(
            "FROM_SECRET",
            EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: "credentials".into(),
                    key: "password".into(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            },
        ),
        env_from(
            "POD_IP",
            EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "status.podIP".into(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            },
        ),
    ]);
    main.volume_mounts = Some(vec![
        mount("scratch", "/scratch"),
        mount("settings", "/etc/settings"),
        mount("credentials", "/etc/credentials"),
        mount("token", "/var/run/secrets/kubernetes.io/serviceaccount"),
    ]);
    spec.volumes = Some(vec![
        Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: "settings".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "settings".into(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "credentials".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some("credentials".into()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "token".into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        path: "token".into(),
                        ..ServiceAccountTokenProjection::default()
                    }),
                    ..VolumeProjection::default()
                }]),
                ..ProjectedVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]);
    let mut resolved = ResolvedPod::new(pod);
    let settings = ConfigMap {
        data: Some([("color".into(), "blue".into())].into()),
        ..ConfigMap::default()
    };
    resolved.config_maps.insert("settings".into(), settings);
    let credentials = Secret {
        data: Some([("password".into(), ByteString(b"s3cret".to_vec()))].into()),
        ..Secret::default()
    };
    resolved.secrets.insert("credentials".into(), credentials);
    resolved.service_account_token = Some("token-value".into());
    resolved
}

#[tokio::test]
async fn init_containers_env_and_volumes_reach_the_container() {
    let node = common::TestNode::start("hkn-t-in", "10.1.248.0/24").await;
    node.import_busybox().await;
    let mut agent = agent_for(&node);
    let desired = [resolved_pod()];
    let report = sync_until(
        &mut agent,
        &desired,
        "uid-inputs",
        Duration::from_secs(30),
        |report| phase(report) == "Running",
    )
    .await;
    let init = &report.status.init_container_statuses.as_ref().unwrap()[0];
    let terminated = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (0, Some("Completed"))
    );
    let pod_ip = report.status.pod_ip.clone().unwrap();

    let script = "echo $PLAIN $FROM_CONFIG_MAP $FROM_SECRET $POD_IP; cat /scratch/init.txt /etc/settings/color \
                  /etc/credentials/password; echo; cat /var/run/secrets/kubernetes.io/serviceaccount/token";
    let command = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let output = agent
        .exec_sync("uid-inputs", "main", command, 5)
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        stdout,
        format!("plain-value blue s3cret {pod_ip}\nprepared\nblues3cret\ntoken-value")
    );

    // Usage for the metrics API: the running container shows memory in use and CPU spent.
    let usage = hakube_node::container_usage::container_usage(&node.client())
        .await
        .unwrap();
    let main = usage
        .iter()
        .find(|usage| usage.pod_uid == "uid-inputs" && usage.container_name == "main")
        .unwrap();
    assert!(main.memory_working_set_bytes > 0, "{main:?}");
    assert_eq!(
        (main.namespace.as_str(), main.pod_name.as_str()),
        ("default", "inputs")
    );
    node.cleanup().await;
}
