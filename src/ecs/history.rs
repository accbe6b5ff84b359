//! What ECS last showed of each service — its deployments, its newest events and the stopped
//! tasks looked at — in ECS's own words and times, for the status page's rollout timeline.
//! The plan needs none of it; the page reads it live, also while a rollout is followed.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_ecs::types as sdk;
use serde::Serialize;

/// Service events kept per service (ECS returns up to 100, newest first).
const EVENTS_KEPT: usize = 20;
/// Stopped tasks kept per service.
const STOPPED_KEPT: usize = 10;

/// One service as ECS last described it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceHistory {
    pub deployments: Vec<DeploymentSeen>,
    /// Newest first.
    pub events: Vec<EventSeen>,
    /// Newest first.
    pub stopped_tasks: Vec<TaskSeen>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSeen {
    /// `ecs-svc/…`
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    /// `family:revision`.
    pub task_definition: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    /// Unix seconds, ECS's clock.
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventSeen {
    /// Unix seconds, ECS's clock.
    pub at: Option<f64>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSeen {
    /// The task's id (the last part of its ARN).
    pub task: String,
    /// The deployment that started it.
    pub deployment: String,
    /// ECS's `stoppedReason`, and the essential container's reason or exit code.
    pub reason: String,
    pub stopped_at: Option<f64>,
}

/// The services seen, by ARN.
#[derive(Debug, Default)]
pub struct History {
    services: Mutex<HashMap<String, ServiceHistory>>,
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn seconds(time: Option<&aws_smithy_types::DateTime>) -> Option<f64> {
    time.map(|t| t.as_secs_f64())
}

impl History {
    /// What was last seen of the service with this ARN.
    pub fn service(&self, arn: &str) -> Option<ServiceHistory> {
        self.lock().get(arn).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ServiceHistory>> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A service as a describe, create or update answered it.
    pub fn saw_service(&self, service: &sdk::Service) {
        let Some(arn) = service.service_arn() else {
            return;
        };
        let deployments = service
            .deployments()
            .iter()
            .map(|d| DeploymentSeen {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: short(d.task_definition().unwrap_or_default()).to_string(),
                rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                created_at: seconds(d.created_at()),
                updated_at: seconds(d.updated_at()),
            })
            .collect();
        let events = service
            .events()
            .iter()
            .take(EVENTS_KEPT)
            .map(|e| EventSeen {
                at: seconds(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        let mut services = self.lock();
        let seen = services.entry(arn.to_string()).or_default();
        seen.deployments = deployments;
        seen.events = events;
    }

    /// Stopped tasks a deployment started, as DescribeTasks answered: kept with the service
    /// whose deployment it is.
    pub fn saw_stopped_tasks(&self, deployment: &str, tasks: &[sdk::Task]) {
        let mut services = self.lock();
        let Some(seen) = services
            .values_mut()
            .find(|s| s.deployments.iter().any(|d| d.id == deployment))
        else {
            return;
        };
        for task in tasks {
            let id = short(task.task_arn().unwrap_or_default()).to_string();
            seen.stopped_tasks.retain(|t| t.task != id);
            seen.stopped_tasks.push(TaskSeen {
                task: id,
                deployment: deployment.to_string(),
                reason: stopped_reason(task),
                // A task asked to stop has no stoppedAt until its containers are gone.
                stopped_at: seconds(
                    task.stopped_at()
                        .or(task.stopping_at())
                        .or(task.created_at()),
                ),
            });
        }
        seen.stopped_tasks.sort_by(|a, b| {
            b.stopped_at
                .unwrap_or(0.0)
                .total_cmp(&a.stopped_at.unwrap_or(0.0))
        });
        seen.stopped_tasks.truncate(STOPPED_KEPT);
    }
}

/// Why a task stopped, in ECS's words: the task's reason, and its essential container's
/// own reason or exit code when it has one.
fn stopped_reason(task: &sdk::Task) -> String {
    let mut reason = task.stopped_reason().unwrap_or_default().to_string();
    let container = task
        .containers()
        .iter()
        .find(|c| c.reason().is_some() || c.exit_code().is_some());
    if let Some(container) = container {
        let name = container.name().unwrap_or("container");
        match (container.reason(), container.exit_code()) {
            (Some(why), _) => reason.push_str(&format!(" ({name}: {why})")),
            (None, Some(code)) => reason.push_str(&format!(" ({name} exited {code})")),
            (None, None) => {}
        }
    }
    reason
}
