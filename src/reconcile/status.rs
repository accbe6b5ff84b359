//! Status decisions, pure: from what the plan found, what executing it did and what ECS
//! shows, to each object's status — kstatus conditions with a reason and a message a person
//! can act on. Git mode serves it at `/api/status`; CRD mode writes it to `.status`.
//!
//! ```text
//! verdict ─┐
//! outcome ─┼─► decide ─► Decision{health, reason, message} ─► conditions (Ready, Reconciling, Stalled)
//! rollout ─┘
//! ```

use crate::api::status::{
    Condition, EcsCapacityProviderStatus, EcsClusterStatus, EcsServiceStatus,
    EcsTaskDefinitionStatus, KindStatus, PreDeployTaskStatus, Reason, RolloutStatus, condition,
};
use crate::api::{Kind, ObjectKey};
use crate::diff::changes::Change;
use crate::diff::observed::{ObservedService, tags};
use crate::diff::plan::{Block, Desired, Observed, Verdict};

use super::Outcome;

/// Where an object stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Changing, or waiting for something that will come by itself.
    Reconciling,
    /// Only a change to the source (or to ECS by a person) can help.
    Stalled,
    /// Suspended by its annotation.
    Paused,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub health: Health,
    pub reason: Reason,
    pub message: String,
}

impl Decision {
    pub fn new(health: Health, reason: Reason, message: impl Into<String>) -> Decision {
        Decision {
            health,
            reason,
            message: message.into(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.health == Health::Ready
    }

    /// kstatus conditions: `Ready`, plus `Reconciling` or `Stalled` when they hold. A
    /// condition whose status did not change keeps its `lastTransitionTime`.
    pub fn conditions(
        &self,
        previous: &[Condition],
        now: &str,
        generation: Option<i64>,
    ) -> Vec<Condition> {
        let condition = |type_: &str, status: bool| {
            let status = if status { "True" } else { "False" };
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .and_then(|c| c.last_transition_time.clone());
            Condition {
                type_: type_.into(),
                status: status.into(),
                reason: self.reason.as_str().into(),
                message: self.message.clone(),
                last_transition_time: Some(since.unwrap_or_else(|| now.to_string())),
                observed_generation: generation,
            }
        };
        let mut conditions = Vec::new();
        match self.health {
            Health::Reconciling => conditions.push(condition(condition::RECONCILING, true)),
            Health::Stalled => conditions.push(condition(condition::STALLED, true)),
            Health::Ready | Health::Paused => {}
        }
        conditions.push(condition(condition::READY, self.is_ready()));
        conditions
    }
}

/// What is known of one object after a sweep or a reconcile.
pub struct Seen<'a> {
    pub verdict: &'a Verdict,
    pub outcome: Option<&'a Outcome>,
    /// The service's primary deployment.
    pub rollout: Option<&'a RolloutStatus>,
    /// The fields that differ (masked when shown).
    pub changes: &'a [Change],
    /// The words of the failed rollout that quarantined the spec, when this process saw it.
    pub failure: Option<&'a str>,
    pub live: Option<&'a ObservedService>,
}

/// The decision for one object.
pub fn decide(seen: &Seen) -> Decision {
    let rolling = seen.rollout.is_some_and(|r| r.state == "IN_PROGRESS");
    match (seen.outcome, seen.verdict) {
        (Some(Outcome::Failed { message }), _) => Decision::new(
            Health::Stalled,
            Reason::RolloutFailed,
            format!("{message}{}", changed(seen.changes)),
        ),
        (_, Verdict::Blocked { by, reason }) => {
            let (health, why) = match by {
                Block::NotOwned => (Health::Stalled, Reason::NotOwned),
                Block::Suspended => (Health::Paused, Reason::Suspended),
                Block::Immutable | Block::Moved => (Health::Stalled, Reason::Blocked),
                Block::Deleting | Block::PrunePending => (Health::Reconciling, Reason::Blocked),
            };
            Decision::new(health, why, reason.clone())
        }
        (_, Verdict::Quarantined { hash }) => {
            let failure = seen.failure.map_or_else(
                || {
                    format!(
                        "{}{}",
                        earlier_failure(hash, seen.live),
                        changed(seen.changes)
                    )
                },
                str::to_string,
            );
            Decision::new(
                Health::Stalled,
                Reason::Quarantined,
                format!("quarantined until the manifest changes: {failure}"),
            )
        }
        (Some(Outcome::Progressing { message }), _) => {
            Decision::new(Health::Reconciling, Reason::Progressing, message.clone())
        }
        // Never Ready while the desired revision's deployment is still rolling out.
        (_, Verdict::InSync) | (Some(Outcome::Done { .. }), _) if rolling => {
            let message = seen.rollout.map_or_else(String::new, |r| {
                format!(
                    "rollout IN_PROGRESS: {}/{} running",
                    r.running_count, r.desired_count
                )
            });
            Decision::new(Health::Reconciling, Reason::Progressing, message)
        }
        (_, Verdict::InSync) | (Some(Outcome::Done { .. }), _) => {
            Decision::new(Health::Ready, Reason::ReconciliationSucceeded, "in sync")
        }
        _ => Decision::new(Health::Reconciling, Reason::Progressing, "changes pending"),
    }
}

/// The fields that changed, as `diff` shows them (masked), for a message: at most five.
pub fn changed(changes: &[Change]) -> String {
    const SHOWN: usize = 5;
    if changes.is_empty() {
        return String::new();
    }
    let mut lines: Vec<String> = changes.iter().take(SHOWN).map(Change::describe).collect();
    if changes.len() > SHOWN {
        lines.push(format!("and {} more", changes.len() - SHOWN));
    }
    format!("; changed: {}", lines.join(", "))
}

/// Why a spec is quarantined when this process did not see it fail (it was restarted):
/// ECS's own words from the service's events, and what runs now.
pub fn earlier_failure(hash: &str, live: Option<&ObservedService>) -> String {
    let mut message = format!("spec {hash} failed to roll out");
    if let Some(live) = live {
        if let Some(event) = live
            .events
            .iter()
            .find(|e| e.contains("failed") || e.contains("rolling back"))
        {
            message.push_str(&format!(" (ECS: {event})"));
        }
        message.push_str(&format!("; running {}", short(&live.task_definition)));
    }
    message
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The service's primary deployment, as status shows it.
pub fn rollout_of(live: &ObservedService) -> Option<RolloutStatus> {
    let primary = live.deployments.iter().find(|d| d.status == "PRIMARY")?;
    Some(RolloutStatus {
        deployment_id: Some(primary.id.clone()),
        state: primary
            .rollout_state
            .clone()
            .unwrap_or_else(|| "COMPLETED".into()),
        reason: primary.rollout_state_reason.clone(),
        desired_count: primary.desired_count,
        running_count: primary.running_count,
        pending_count: primary.pending_count,
        failed_tasks: primary.failed_tasks,
        strategy: live.native_strategy(),
        service_deployment_arn: live.service_deployment.as_ref().map(|d| d.arn.clone()),
        service_deployment_status: live.service_deployment.as_ref().map(|d| d.status.clone()),
        lifecycle_stage: live
            .service_deployment
            .as_ref()
            .and_then(|d| d.lifecycle_stage.clone()),
    })
}

/// What ECS shows of an object: where it lives, ARNs, the live revision, the rollout, the
/// quarantined hash (the conditions are added from the decision).
pub fn observed_status(object: &ObjectKey, desired: &Desired, observed: &Observed) -> KindStatus {
    let mut status = live_status(object, desired, observed);
    if let Some(place) = desired.place_of(object) {
        let common = status.common_mut();
        common.account = place.account.clone();
        common.region = Some(place.region.clone());
    }
    status
}

fn live_status(object: &ObjectKey, desired: &Desired, observed: &Observed) -> KindStatus {
    match object.kind {
        Kind::EcsCapacityProvider => {
            let mut status = EcsCapacityProviderStatus::default();
            if let Some(live) = desired
                .capacity_providers
                .iter()
                .find(|p| p.object == *object)
                .and_then(|p| {
                    observed
                        .capacity_providers
                        .get(&(p.region.clone(), p.name.clone()))
                })
            {
                status.capacity_provider_arn = Some(live.arn.clone());
                status.capacity_provider_status = Some(live.status.clone());
                status.update_status = live.update_status.clone();
                status.update_status_reason = live.update_status_reason.clone();
            }
            KindStatus::CapacityProvider(status)
        }
        Kind::EcsCluster => {
            let mut status = EcsClusterStatus::default();
            if let Some(live) = desired
                .clusters
                .iter()
                .find(|c| c.object == *object)
                .and_then(|c| observed.clusters.get(&(c.region.clone(), c.name.clone())))
            {
                status.cluster_arn = Some(live.arn.clone());
                status.cluster_status = Some(live.status.clone());
            }
            KindStatus::Cluster(status)
        }
        Kind::EcsTaskDefinition => {
            let mut status = EcsTaskDefinitionStatus::default();
            if let Some(td) = desired
                .task_definitions
                .iter()
                .find(|t| t.object == *object)
            {
                status.spec_hash = Some(td.hash.clone());
                if let Some(live) = observed
                    .families
                    .get(&(td.region.clone(), td.family.clone()))
                {
                    status.task_definition = Some(live.name());
                    status.task_definition_arn = Some(live.arn.clone());
                }
            }
            KindStatus::TaskDefinition(status)
        }
        Kind::EcsService => {
            let mut status = EcsServiceStatus::default();
            if let Some(service) = desired.services.iter().find(|s| s.object == *object) {
                status.spec_hash = Some(service.task_definition.key());
                if let Some(live) = observed.services.get(&service.key) {
                    status.service_arn = Some(live.arn.clone());
                    status.task_definition = Some(short(&live.task_definition).to_string());
                    status.task_definition_arn = Some(live.task_definition.clone());
                    status.rollout = rollout_of(live);
                    status.quarantined_spec_hash = live.tags.get(tags::FAILED_SPEC_HASH).cloned();
                }
            }
            KindStatus::Service(status)
        }
    }
}

/// The pre-deploy tasks a status shows: those this reconcile ran or found, else the ones an
/// earlier status showed for the same spec.
pub fn with_pre_deploy(
    status: &mut KindStatus,
    fresh: Option<&Vec<PreDeployTaskStatus>>,
    previous: Option<&KindStatus>,
) {
    let KindStatus::Service(service) = status else {
        return;
    };
    service.pre_deploy = match (fresh, previous) {
        (Some(tasks), _) => tasks.clone(),
        (None, Some(KindStatus::Service(before))) if before.spec_hash == service.spec_hash => {
            before.pre_deploy.clone()
        }
        _ => Vec::new(),
    };
}

/// Now, as Kubernetes writes times (RFC 3339, whole seconds).
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(state: &str) -> RolloutStatus {
        RolloutStatus {
            state: state.into(),
            desired_count: 2,
            running_count: 1,
            ..RolloutStatus::default()
        }
    }

    fn seen<'a>(verdict: &'a Verdict, outcome: Option<&'a Outcome>) -> Seen<'a> {
        Seen {
            verdict,
            outcome,
            rollout: None,
            changes: &[],
            failure: None,
            live: None,
        }
    }

    #[test]
    fn verdicts_and_outcomes_become_reasons() {
        let in_sync = Verdict::InSync;
        let ready = decide(&seen(&in_sync, None));
        assert_eq!(
            (ready.health, ready.reason),
            (Health::Ready, Reason::ReconciliationSucceeded)
        );

        let failed = Outcome::Failed {
            message: "rollout of web:2 FAILED".into(),
        };
        let stalled = decide(&seen(&in_sync, Some(&failed)));
        assert_eq!(
            (stalled.health, stalled.reason),
            (Health::Stalled, Reason::RolloutFailed)
        );

        for (by, health, reason) in [
            (Block::NotOwned, Health::Stalled, Reason::NotOwned),
            (Block::Suspended, Health::Paused, Reason::Suspended),
            (Block::Immutable, Health::Stalled, Reason::Blocked),
            (Block::Deleting, Health::Reconciling, Reason::Blocked),
        ] {
            let verdict = Verdict::Blocked {
                by,
                reason: "why".into(),
            };
            let decision = decide(&seen(&verdict, None));
            assert_eq!(
                (decision.health, decision.reason),
                (health, reason),
                "{by:?}"
            );
            assert_eq!(decision.message, "why");
        }

        let update = Verdict::Update {
            fields: vec!["desiredCount".into()],
        };
        assert_eq!(decide(&seen(&update, None)).reason, Reason::Progressing);
    }

    #[test]
    fn a_rolling_deployment_is_never_ready() {
        let in_sync = Verdict::InSync;
        let running = rollout("IN_PROGRESS");
        let decision = decide(&Seen {
            rollout: Some(&running),
            ..seen(&in_sync, None)
        });
        assert_eq!(decision.health, Health::Reconciling);
        assert_eq!(decision.message, "rollout IN_PROGRESS: 1/2 running");
        let done = rollout("COMPLETED");
        let decision = decide(&Seen {
            rollout: Some(&done),
            ..seen(&in_sync, None)
        });
        assert!(decision.is_ready());
    }

    #[test]
    fn a_quarantine_keeps_the_failure_it_saw_or_tells_it_from_ecs() {
        let verdict = Verdict::Quarantined {
            hash: "9655".into(),
        };
        let remembered = decide(&Seen {
            failure: Some("rollout of web:2 FAILED: circuit breaker"),
            ..seen(&verdict, None)
        });
        assert_eq!(
            remembered.message,
            "quarantined until the manifest changes: rollout of web:2 FAILED: circuit breaker"
        );
        let told = decide(&seen(&verdict, None));
        assert_eq!(
            told.message,
            "quarantined until the manifest changes: spec 9655 failed to roll out"
        );
        assert_eq!(told.reason, Reason::Quarantined);
    }

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let ready = Decision::new(Health::Ready, Reason::ReconciliationSucceeded, "in sync");
        let first = ready.conditions(&[], "2026-11-25T10:00:00Z", Some(3));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].type_, "Ready");
        assert_eq!(first[0].observed_generation, Some(3));
        let again = ready.conditions(&first, "2026-11-25T10:05:00Z", Some(4));
        assert_eq!(
            again[0].last_transition_time.as_deref(),
            Some("2026-11-25T10:00:00Z")
        );
        let failing = Decision::new(Health::Stalled, Reason::RolloutFailed, "boom");
        let changed = failing.conditions(&again, "2026-11-25T10:06:00Z", Some(5));
        let types: Vec<(&str, &str)> = changed
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(types, [("Stalled", "True"), ("Ready", "False")]);
        assert_eq!(
            changed[1].last_transition_time.as_deref(),
            Some("2026-11-25T10:06:00Z")
        );
    }

    /// After a restart the controller has not seen the failure: ECS's events say why.
    #[test]
    fn a_failure_seen_before_a_restart_is_told_from_ecs_events() {
        let live = ObservedService {
            arn: "arn:aws:ecs:us-east-1:0:service/c1/web".into(),
            name: "web".into(),
            cluster_arn: String::new(),
            status: "ACTIVE".into(),
            task_definition: "arn:aws:ecs:us-east-1:0:task-definition/web:1".into(),
            desired_count: 1,
            running_count: 1,
            pending_count: 0,
            spec: Default::default(),
            tags: Default::default(),
            deployments: Vec::new(),
            events: vec![
                "(service web) has reached a steady state.".into(),
                "(service web) (deployment ecs-svc/1) deployment failed: tasks failed to start."
                    .into(),
            ],
            current_service_deployment: None,
            service_deployment: None,
        };
        let change = Change {
            path: "taskDefinition.containerDefinitions[app].environment[API_TOKEN].value".into(),
            old: Some("t0k3n-old".into()),
            new: Some("t0k3n-new".into()),
        };
        let message = format!(
            "{}{}",
            earlier_failure("9655abc", Some(&live)),
            changed(std::slice::from_ref(&change))
        );
        assert_eq!(
            message,
            "spec 9655abc failed to roll out (ECS: (service web) (deployment ecs-svc/1) deployment failed: tasks failed to start.); running web:1; changed: taskDefinition.containerDefinitions[app].environment[API_TOKEN].value: \"***\" → \"***\""
        );
    }
}
