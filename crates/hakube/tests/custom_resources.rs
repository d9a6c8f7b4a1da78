//! Custom resources driven by the real kubectl: a definition's objects served, defaulted and
//! validated from its schema, and definitions with several versions (served in upstream's
//! priority, stored as the storage version, deprecated versions warned about, and the
//! storage-version migration through `status.storedVersions`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::kubectl::{Kubectl, contains, names};
use common::{Cluster, wait_until};

const CRONTAB_DEFINITION: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Last Run
      type: string
      priority: 1
      jsonPath: .status.lastRun
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

#[test]
fn custom_resources_are_served_from_their_definitions() {
    let cluster = Cluster::up("127.21.59", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.37");
    contains(&kubectl.apply(&["apply"], CRONTAB_DEFINITION), "created");
    contains(&kubectl.ok(&["get", "crd"]), "crontabs.stable.example.com");
    let cron = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: \"0 3 * * *\"\n";
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .apply(&["apply"], cron)
        .contains("nightly")));
    assert_eq!(names(&kubectl.ok(&["get", "ct"])), ["nightly"]);
    // Defaults from the schema; the status subresource; validation; strict fields.
    assert_eq!(
        kubectl.ok(&[
            "get",
            "crontab",
            "nightly",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );
    kubectl.ok(&[
        "patch",
        "ct",
        "nightly",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"lastRun":"today"}}"#,
    ]);
    assert_eq!(
        kubectl.ok(&["get", "ct", "nightly", "-o", "jsonpath={.status.lastRun}"]),
        "today"
    );
    let invalid = kubectl.fails(&[
        "patch",
        "ct",
        "nightly",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":30}}"#,
    ]);
    contains(
        &invalid,
        "spec.replicas in body should be less than or equal to 10",
    );
    let unknown = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: odd\nspec:\n  cronSpec: \"0 3 * * *\"\n  bogus: 1\n";
    let path = kubectl.cache.path().join("odd.yaml");
    std::fs::write(&path, unknown).unwrap();
    contains(
        &kubectl.fails(&["create", "-f", path.to_str().unwrap()]),
        "unknown field \"spec.bogus\"",
    );
    contains(&kubectl.ok(&["explain", "crontab.spec"]), "cronSpec");
    // The definition's printer columns (priority 1 only with -o wide) and scale subresource.
    let table = kubectl.ok(&["get", "ct"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SPEC", "REPLICAS"],
        "{table}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["nightly", "0", "3", "*", "*", "*", "1"],
        "{table}"
    );
    contains(&kubectl.ok(&["get", "ct", "-o", "wide"]), "today");
    contains(
        &kubectl.ok(&["scale", "ct", "nightly", "--replicas=4"]),
        "crontab.stable.example.com/nightly scaled",
    );
    assert_eq!(
        kubectl.ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    contains(
        &kubectl.fails(&["scale", "ct", "nightly", "--replicas=30"]),
        "spec.replicas in body should be less than or equal to 10",
    );
    // Deleting the definition takes its objects with it.
    kubectl.ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--timeout=60s",
    ]);
    assert!(wait_until(Duration::from_secs(20), || !kubectl
        .run(&["get", "crd", "crontabs.stable.example.com"])
        .ok()));
    contains(
        &kubectl.fails(&[
            "get",
            "--raw",
            "/apis/stable.example.com/v1/namespaces/default/crontabs",
        ]),
        "NotFound",
    );
}

/// A Widget definition with the given versions: (name, served, storage, deprecated).
fn widget_definition(versions: &[(&str, bool, bool, bool)]) -> String {
    let mut text = String::from(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.multi.example.com\nspec:\n  group: multi.example.com\n  scope: Namespaced\n  names:\n    plural: widgets\n    singular: widget\n    kind: Widget\n  versions:\n",
    );
    for (name, served, storage, deprecated) in versions {
        text.push_str(&format!(
            "  - name: {name}\n    served: {served}\n    storage: {storage}\n    deprecated: {deprecated}\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size:\n                type: integer\n"
        ));
    }
    text
}

#[test]
fn custom_resources_with_several_versions() {
    let cluster = Cluster::up("127.21.68", 3, &[]);
    let kubectl = Kubectl::new(&cluster, "1.37");
    kubectl.apply(
        &["apply"],
        &widget_definition(&[("v1beta1", true, true, false)]),
    );
    let widget = "apiVersion: multi.example.com/v1beta1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 1\n";
    let widget_path = kubectl.cache.path().join("w1.yaml");
    std::fs::write(&widget_path, widget).unwrap();
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .run(&["apply", "-f", widget_path.to_str().unwrap()])
        .ok()));
    // v1 becomes the storage version; v1beta1 stays served, deprecated.
    kubectl.apply(
        &["apply"],
        &widget_definition(&[("v1beta1", true, false, true), ("v1", true, true, false)]),
    );
    let crd = ["get", "crd", "widgets.multi.example.com", "-o"];
    assert_eq!(
        kubectl.ok(&[&crd[..], &["jsonpath={.status.storedVersions}"]].concat()),
        r#"["v1beta1","v1"]"#
    );
    // Discovery prefers v1 (`api-resources` refreshes kubectl's discovery cache); each
    // version presents the same object under its apiVersion.
    assert!(wait_until(Duration::from_secs(20), || kubectl
        .run(&["get", "--raw", "/apis/multi.example.com"])
        .stdout
        .contains(
            r#""preferredVersion":{"groupVersion":"multi.example.com/v1""#
        )));
    kubectl.ok(&["api-resources", "--api-group=multi.example.com"]);
    assert_eq!(
        kubectl.ok(&["get", "widget", "w1", "-o", "jsonpath={.apiVersion}"]),
        "multi.example.com/v1"
    );
    let old = kubectl.run(&[
        "get",
        "widgets.v1beta1.multi.example.com",
        "w1",
        "-o",
        "jsonpath={.apiVersion} {.spec.size}",
    ]);
    assert_eq!(old.stdout, "multi.example.com/v1beta1 1", "{}", old.stderr);
    contains(
        &old.stderr,
        "Warning: multi.example.com/v1beta1 Widget is deprecated",
    );
    // A refusal through a deprecated version warns too.
    let missing = kubectl.run(&["get", "widgets.v1beta1.multi.example.com", "nowhere"]);
    assert!(!missing.ok(), "{}", missing.stdout);
    contains(
        &missing.stderr,
        "Warning: multi.example.com/v1beta1 Widget is deprecated",
    );
    // Writes through the old version work, and are stored as v1.
    kubectl.ok(&[
        "patch",
        "widgets.v1beta1.multi.example.com",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":3}}"#,
    ]);
    assert_eq!(
        kubectl.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]),
        "3"
    );
    let stored = cluster.on(
        1,
        &[
            "dbctl",
            "get",
            "/registry/multi.example.com/widgets/default/w1",
        ],
    );
    contains(&stored.stdout, "\"apiVersion\":\"multi.example.com/v1\"");
    // A version objects may still be stored as cannot leave the definition...
    let path = kubectl.cache.path().join("v1-only.yaml");
    std::fs::write(&path, widget_definition(&[("v1", true, true, false)])).unwrap();
    contains(
        &kubectl.fails(&["apply", "-f", path.to_str().unwrap()]),
        "status.storedVersions[0]: Invalid value: \"v1beta1\": must appear in spec.versions",
    );
    // ...until the migration says no object is stored as it any more.
    kubectl.ok(&[
        "patch",
        "crd",
        "widgets.multi.example.com",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"storedVersions":["v1"]}}"#,
    ]);
    kubectl.ok(&["apply", "-f", path.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(20), || !kubectl
        .run(&[
            "get",
            "--raw",
            "/apis/multi.example.com/v1beta1/namespaces/default/widgets/w1"
        ])
        .ok()));
    assert_eq!(
        kubectl.ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.apiVersion} {.spec.size}"
        ]),
        "multi.example.com/v1 3"
    );
}
