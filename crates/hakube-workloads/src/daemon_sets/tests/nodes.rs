//! Which nodes get a daemon pod, and what happens as nodes come, go and change.

use hakube_kinds::k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};

use super::world::{World, daemon_set, node, on, tainted};

#[test]
fn one_pod_goes_to_every_node_the_selector_and_the_taints_admit() {
    let mut agent = daemon_set("agent:1");
    let spec = agent.spec.template.spec.as_mut().unwrap();
    spec.node_selector = Some(crate::test_objects::labels(&[("disk", "ssd")]));
    let nodes = vec![
        node("plain", &[("disk", "ssd")]),
        node("spinning", &[("disk", "hdd")]),
        tainted(node("dedicated", &[("disk", "ssd")]), "gpu", "NoSchedule"),
        tainted(
            node("cordoned", &[("disk", "ssd")]),
            "node.kubernetes.io/unschedulable",
            "NoSchedule",
        ),
        tainted(
            node("failing", &[("disk", "ssd")]),
            "node.kubernetes.io/not-ready",
            "NoExecute",
        ),
        tainted(node("evicting", &[("disk", "ssd")]), "drain", "NoExecute"),
    ];
    let mut world = World::new(agent, nodes);
    world.settle(|_| {});
    assert_eq!(
        world.placements(),
        on(&[
            ("cordoned", "agent:1"),
            ("failing", "agent:1"),
            ("plain", "agent:1")
        ])
    );
}

#[test]
fn a_template_toleration_admits_a_tainted_node() {
    let mut agent = daemon_set("agent:1");
    let spec = agent.spec.template.spec.as_mut().unwrap();
    spec.tolerations = Some(vec![Toleration {
        key: Some("gpu".into()),
        operator: Some("Exists".into()),
        ..Toleration::default()
    }]);
    let nodes = vec![tainted(node("dedicated", &[]), "gpu", "NoSchedule")];
    let mut world = World::new(agent, nodes);
    world.settle(|_| {});
    assert_eq!(world.placements(), on(&[("dedicated", "agent:1")]));
}

#[test]
fn required_node_affinity_picks_the_nodes_and_is_replaced_by_the_node_name() {
    let mut agent = daemon_set("agent:1");
    let spec = agent.spec.template.spec.as_mut().unwrap();
    spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "zone".into(),
                        operator: "In".into(),
                        values: Some(vec!["a".into()]),
                    }]),
                    match_fields: None,
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    let nodes = vec![node("n1", &[("zone", "a")]), node("n2", &[("zone", "b")])];
    let plan = crate::daemon_sets::reconcile(&agent, &nodes, &[], crate::test_objects::at(0));
    assert_eq!(plan.create.len(), 1);
    let created = plan.create[0].spec.as_ref().unwrap();
    let required = created
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap();
    let terms = &required
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    assert_eq!(terms.len(), 1, "the template's term is replaced");
    let field = &terms[0].match_fields.as_ref().unwrap()[0];
    assert_eq!(
        (
            field.key.as_str(),
            field.operator.as_str(),
            field.values.clone()
        ),
        ("metadata.name", "In", Some(vec!["n1".to_string()]))
    );
    assert_eq!(created.node_name, None, "the scheduler binds it");
}

#[test]
fn nodes_added_get_a_pod_and_nodes_removed_or_no_longer_matching_lose_it() {
    let mut agent = daemon_set("agent:1");
    let spec = agent.spec.template.spec.as_mut().unwrap();
    spec.node_selector = Some(crate::test_objects::labels(&[("role", "worker")]));
    let worker = |name: &str| node(name, &[("role", "worker")]);
    let mut world = World::new(agent, vec![worker("n1"), worker("n2")]);
    world.settle(|_| {});
    world.nodes.push(worker("n3"));
    world.settle(|_| {});
    assert_eq!(
        world.placements(),
        on(&[("n1", "agent:1"), ("n2", "agent:1"), ("n3", "agent:1")])
    );
    world.nodes.remove(0);
    world.nodes[0].metadata.labels = None;
    let plan = world.round();
    assert_eq!(plan.delete.len(), 2, "n1 is gone and n2 no longer matches");
    world.settle(|_| {});
    assert_eq!(world.placements(), on(&[("n3", "agent:1")]));
}

#[test]
fn a_new_no_execute_taint_evicts_and_a_new_no_schedule_taint_does_not() {
    let mut world = World::new(
        daemon_set("agent:1"),
        vec![node("n1", &[]), node("n2", &[])],
    );
    world.settle(|_| {});
    world.nodes[0] = tainted(world.nodes[0].clone(), "maintenance", "NoSchedule");
    world.nodes[1] = tainted(world.nodes[1].clone(), "maintenance", "NoExecute");
    world.settle(|_| {});
    assert_eq!(world.placements(), on(&[("n1", "agent:1")]));
    let status = world.daemon_set.status.clone().unwrap();
    assert_eq!(
        (status.desired_number_scheduled, status.number_misscheduled),
        (0, 1),
        "a pod that may stay but would not be placed counts as misscheduled"
    );
}
