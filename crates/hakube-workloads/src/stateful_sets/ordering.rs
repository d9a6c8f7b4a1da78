//! The order in which a StatefulSet moves, as upstream's updateStatefulSet: first the
//! ordinals it should have (recreating finished pods, creating missing ones with their
//! claims), then the condemned ordinals beyond the replica count (highest first), then the
//! rolling update. OrderedReady (monotonic) stops at the first step that has to wait, so
//! ordinal N is created only once 0..N-1 are Running and Ready and scale-down removes one
//! pod at a time; Parallel takes every step it can in the same round.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

use super::PodRef;
use super::claims::Member;
use super::health::{
    is_finished, is_healthy, is_running_and_available, is_running_and_ready, is_terminating,
};
use super::revisions::Revisions;
use super::rolling;
use crate::pod_states;

/// The set's members laid out by ordinal.
pub struct Sequence<'a> {
    /// The ordinals the set should have, in order, with their pod when it exists.
    pub replicas: Vec<(i32, Option<&'a Pod>)>,
    /// Members beyond the replica count, highest ordinal first.
    pub condemned: Vec<(i32, &'a Pod)>,
}

impl<'a> Sequence<'a> {
    pub fn new(stateful_set: &StatefulSet, members: &[Member<'a>]) -> Self {
        let start = first_ordinal(stateful_set);
        let count = stateful_set.spec.replicas.unwrap_or(1).max(0);
        let end = start.saturating_add(count);
        let by_ordinal: BTreeMap<i32, &Pod> = members
            .iter()
            .map(|member| (member.ordinal, member.pod))
            .collect();
        let replicas = (start..end)
            .map(|ordinal| (ordinal, by_ordinal.get(&ordinal).copied()))
            .collect();
        let mut condemned: Vec<(i32, &Pod)> = members
            .iter()
            .filter(|member| member.ordinal < start || member.ordinal >= end)
            .map(|member| (member.ordinal, member.pod))
            .collect();
        condemned.sort_by_key(|(ordinal, _)| std::cmp::Reverse(*ordinal));
        Self {
            replicas,
            condemned,
        }
    }

    /// The lowest ordinal the set should have that is not healthy (a missing one counts),
    /// else the lowest unhealthy condemned one: the only condemned pod that may be deleted
    /// while unhealthy under OrderedReady.
    fn first_unhealthy(&self) -> Option<i32> {
        let replica = self
            .replicas
            .iter()
            .find(|(_, pod)| !pod.is_some_and(is_healthy))
            .map(|(ordinal, _)| *ordinal);
        // Condemned pods are kept highest first: look from the other end.
        let condemned = || {
            let mut ascending = self.condemned.iter().rev();
            let unhealthy = ascending.find(|(_, pod)| !is_healthy(pod));
            unhealthy.map(|(ordinal, _)| *ordinal)
        };
        replica.or_else(condemned)
    }
}

/// spec.ordinals.start, 0 by default.
pub(super) fn first_ordinal(stateful_set: &StatefulSet) -> i32 {
    let ordinals = stateful_set.spec.ordinals.as_ref();
    ordinals
        .and_then(|ordinals| ordinals.start)
        .unwrap_or(0)
        .max(0)
}

/// What this round does.
#[derive(Default)]
pub struct Actions {
    /// Ordinals to create pods for, in order.
    pub create: Vec<i32>,
    /// Ordinals whose claims must exist: the ones created, and pending pods (upstream
    /// recreates a claim deleted under a pod that cannot start without it).
    pub needs_claims: Vec<i32>,
    pub delete: Vec<PodRef>,
}

#[derive(PartialEq, Eq)]
enum Step {
    Continue,
    /// Wait: under OrderedReady nothing after this step happens this round.
    Stop,
}

struct Context<'a> {
    monotonic: bool,
    min_ready_seconds: i32,
    now: Timestamp,
    actions: &'a mut Actions,
}

pub fn run(
    stateful_set: &StatefulSet,
    sequence: &Sequence<'_>,
    revisions: &Revisions,
    now: Timestamp,
) -> Actions {
    let spec = &stateful_set.spec;
    let mut actions = Actions::default();
    let mut context = Context {
        monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        now,
        actions: &mut actions,
    };
    let replicas = &sequence.replicas;
    if run_for_all(replicas, context.monotonic, |slot| {
        process_replica(&mut context, *slot)
    }) {
        return actions;
    }
    let first_unhealthy = sequence.first_unhealthy();
    if run_for_all(&sequence.condemned, context.monotonic, |member| {
        process_condemned(&mut context, *member, first_unhealthy)
    }) {
        return actions;
    }
    let strategy = spec.update_strategy.as_ref();
    let kind = strategy.and_then(|strategy| strategy.type_.as_deref());
    if kind == Some("OnDelete") {
        // Pods move to the new revision only when someone deletes them.
        return actions;
    }
    let updates = rolling::pods_to_update(stateful_set, replicas, revisions, now);
    actions.delete.extend(updates);
    actions
}

/// Upstream's runForAll: in order until the first Stop when monotonic, otherwise every item;
/// whether to end the round there.
fn run_for_all<T>(items: &[T], monotonic: bool, mut step: impl FnMut(&T) -> Step) -> bool {
    let mut stopped = false;
    for item in items {
        stopped |= step(item) == Step::Stop;
        if stopped && monotonic {
            break;
        }
    }
    stopped
}

fn process_replica(context: &mut Context<'_>, (ordinal, pod): (i32, Option<&Pod>)) -> Step {
    let Some(pod) = pod else {
        context.actions.create.push(ordinal);
        context.actions.needs_claims.push(ordinal);
        return stop_if(context.monotonic);
    };
    if is_finished(pod) {
        // Recreated once it is gone from the store.
        if !is_terminating(pod) {
            context.actions.delete.push(pod_ref(pod));
        }
        return Step::Stop;
    }
    if pod_states::phase(pod) == "Pending" {
        context.actions.needs_claims.push(ordinal);
    }
    let waiting = is_terminating(pod)
        || !is_running_and_ready(pod)
        || !is_running_and_available(pod, context.min_ready_seconds, context.now);
    stop_if(waiting && context.monotonic)
}

fn process_condemned(
    context: &mut Context<'_>,
    (ordinal, pod): (i32, &Pod),
    first_unhealthy: Option<i32>,
) -> Step {
    if is_terminating(pod) {
        return stop_if(context.monotonic);
    }
    // Under OrderedReady an unhealthy condemned pod waits, unless it is the first unhealthy
    // pod of the set (deleting it cannot make things worse).
    let available = is_running_and_available(pod, context.min_ready_seconds, context.now);
    let unhealthy = !is_running_and_ready(pod) || !available;
    if unhealthy && context.monotonic && first_unhealthy != Some(ordinal) {
        return Step::Stop;
    }
    context.actions.delete.push(pod_ref(pod));
    stop_if(context.monotonic)
}

fn stop_if(condition: bool) -> Step {
    if condition {
        Step::Stop
    } else {
        Step::Continue
    }
}

pub fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}
