//! BLUE_GREEN, LINEAR and CANARY deployments: the new revision scales up beside the old one,
//! traffic moves to it through ECS's lifecycle stages, it bakes, then the old one is cleaned
//! up and the load balancers' production and alternate target groups trade places. A
//! rollback hands the traffic back to the old revision, which never stopped.
//!
//! ```text
//! [RECONCILE_SERVICE] → PRE_SCALE_UP → SCALE_UP (until the new tasks are healthy)
//!   → POST_SCALE_UP → TEST_TRAFFIC_SHIFT → POST_TEST_TRAFFIC_SHIFT
//!   → PRODUCTION_TRAFFIC_SHIFT (all at once | linear steps | canary, then the rest)
//!   → POST_PRODUCTION_TRAFFIC_SHIFT → BAKE_TIME (bakeTimeInMinutes) → CLEAN_UP
//! ```
//!
//! Lifecycle hooks are kept and shown as given, never invoked: each stage a hook could hold
//! up takes `STAGE_SECONDS`.

use serde_json::{Map, Value as Json};

use super::state::{Deployment, Region, Service, Stage, Strategy};

/// How long a stage that waits on nothing but ECS (a hook, a listener update) takes.
pub const STAGE_SECONDS: f64 = 1.0;

/// Moves the primary deployment through its stages as far as time and its tasks allow, and
/// shows the stage on its service deployment.
pub fn advance(region: &mut Region, now: f64, arn: &str) {
    let service = &region.services[arn];
    let primary = &service.deployments[0];
    if primary.stage.is_none() || primary.rollout_state != "IN_PROGRESS" || primary.halted {
        return;
    }
    let (running, _) = service.counts(&region.tasks, Some(&primary.id));
    let healthy = service
        .tasks
        .iter()
        .filter_map(|t| region.tasks.get(t))
        .filter(|t| t.started_by == primary.id && t.is_healthy())
        .count() as i32;
    let scaled_up = running == primary.desired_count && healthy == primary.desired_count;
    let service = region.service_mut(arn).expect("present");
    let primary = &mut service.deployments[0];
    let before = primary.stage;
    while let Some(stage) = primary.stage {
        let done = match stage {
            Stage::ScaleUp => scaled_up,
            Stage::CleanUp => false,
            _ if now < primary.stage_until => false,
            Stage::ProductionTrafficShift if primary.production_weight < 100.0 => {
                shift_step(primary, now);
                false
            }
            _ => true,
        };
        if !done {
            break;
        }
        enter(primary, stage.next(), now);
    }
    let (stage, sd) = (primary.stage, primary.service_deployment.clone());
    if stage == before {
        return;
    }
    if let Some(record) = service
        .service_deployments
        .iter_mut()
        .find(|r| r.arn == sd && r.status == "IN_PROGRESS")
    {
        record.lifecycle_stage = stage;
        record.updated_at = now;
    }
}

fn enter(deployment: &mut Deployment, stage: Stage, now: f64) {
    deployment.stage = Some(stage);
    deployment.updated_at = now;
    let wait = match stage {
        Stage::BakeTime => deployment.bake_seconds,
        Stage::ProductionTrafficShift => {
            let (first, wait) = match deployment.strategy {
                Strategy::Linear {
                    step_percent,
                    step_bake_seconds,
                } => (step_percent, step_bake_seconds),
                Strategy::Canary {
                    percent,
                    bake_seconds,
                } => (percent, bake_seconds),
                Strategy::BlueGreen | Strategy::Rolling => (100.0, STAGE_SECONDS),
            };
            deployment.production_weight = first.min(100.0);
            if first >= 100.0 { STAGE_SECONDS } else { wait }
        }
        _ => STAGE_SECONDS,
    };
    if stage == Stage::PostTestTrafficShift {
        deployment.test_weight = 100.0;
    }
    deployment.stage_until = now + wait;
}

/// The next step of a production traffic shift: LINEAR's next step, or the rest after
/// CANARY's canary. The step bake time is not waited after reaching 100 %.
fn shift_step(deployment: &mut Deployment, now: f64) {
    let (weight, wait) = match deployment.strategy {
        Strategy::Linear {
            step_percent,
            step_bake_seconds,
        } => (
            deployment.production_weight + step_percent,
            step_bake_seconds,
        ),
        _ => (100.0, STAGE_SECONDS),
    };
    deployment.production_weight = weight.min(100.0);
    deployment.updated_at = now;
    deployment.stage_until = now + if weight >= 100.0 { STAGE_SECONDS } else { wait };
}

/// After a successful deployment the new revision serves from what was the alternate
/// target group: ECS shows the pair swapped in `loadBalancers[].advancedConfiguration`.
pub fn swap_target_groups(config: &mut Map<String, Json>) {
    let Some(Json::Array(load_balancers)) = config.get_mut("loadBalancers") else {
        return;
    };
    for lb in load_balancers.iter_mut().filter_map(Json::as_object_mut) {
        let production = lb.get("targetGroupArn").cloned();
        let Some(advanced) = lb
            .get_mut("advancedConfiguration")
            .and_then(Json::as_object_mut)
        else {
            continue;
        };
        let (Some(alternate), Some(production)) =
            (advanced.get("alternateTargetGroupArn").cloned(), production)
        else {
            continue;
        };
        advanced.insert("alternateTargetGroupArn".into(), production);
        lb.insert("targetGroupArn".into(), alternate);
    }
}

/// Rolls back by handing the traffic to the deployment `completed_id` again: it becomes
/// PRIMARY, joins the service deployment `sd` that is being rolled back, and the scheduler
/// stops the new revision's tasks. False when that deployment is gone.
pub fn hand_back(
    service: &mut Service,
    completed_id: &str,
    sd: &str,
    now: f64,
    reason: String,
) -> bool {
    let Some(index) = service
        .deployments
        .iter()
        .position(|d| d.id == completed_id)
        .filter(|i| *i > 0)
    else {
        return false;
    };
    let mut old = service.deployments.remove(index);
    for other in &mut service.deployments {
        other.status = "ACTIVE";
        other.production_weight = 0.0;
        other.test_weight = 0.0;
    }
    old.status = "PRIMARY";
    old.rollout_state = "IN_PROGRESS";
    old.rollout_state_reason = reason;
    old.service_deployment = sd.to_string();
    old.desired_count = service.desired_count;
    old.halted = false;
    old.stage = Some(Stage::CleanUp);
    old.updated_at = now;
    service.task_definition = old.task_definition.clone();
    service.deployments.insert(0, old);
    service.steady = false;
    true
}
