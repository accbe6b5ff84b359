//! RunTask, StopTask, ListTasks, DescribeTasks.

use serde_json::{Value as Json, json};

use super::task_definitions::find as find_task_definition;
use super::{Ctx, failure, int, page, required, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::rollout::{Origin, launch_task, stop_task};
use crate::sim::state::Region;

fn cluster_arn(ctx: &Ctx, request: &Json) -> Result<String, ApiError> {
    Ok(ctx
        .region
        .active_cluster(string(request, "cluster"))
        .ok_or_else(ApiError::cluster_not_found)?
        .arn
        .clone())
}

/// A task ARN from an ARN or an id.
fn task_arn(region: &Region, cluster_arn: &str, reference: &str) -> String {
    if reference.starts_with("arn:") {
        return reference.to_string();
    }
    let cluster = cluster_arn.rsplit('/').next().unwrap_or_default();
    region.arn(&format!("task/{cluster}/{reference}"))
}

pub fn run(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_arn(ctx, request)?;
    let reference = required(request, "taskDefinition")?;
    let td = find_task_definition(ctx.region, reference)
        .ok_or_else(|| ApiError::client_exception("TaskDefinition not found."))?;
    let (td_arn, family) = (td.arn.clone(), td.family.clone());
    let count = int(request, "count").unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::invalid_parameter(
            "count must be between 1 and 10.",
        ));
    }
    let group = string(request, "group").map_or_else(|| format!("family:{family}"), str::to_string);
    let started_by = string(request, "startedBy").unwrap_or_default().to_string();
    let task_tags = tags(request)?;
    let mut tasks = Vec::new();
    for _ in 0..count {
        let origin = Origin {
            group: group.clone(),
            started_by: started_by.clone(),
            service: None,
        };
        let arn = launch_task(ctx.region, ctx.ids, ctx.now, &cluster, &td_arn, origin)
            .expect("the task definition exists");
        let task = ctx.region.tasks.get_mut(&arn).expect("launched");
        task.tags = task_tags.clone();
        task.launch_type = string(request, "launchType").map(str::to_string);
        tasks.push(task.render());
    }
    Ok(json!({"tasks": tasks, "failures": []}))
}

pub fn stop(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_arn(ctx, request)?;
    let arn = task_arn(ctx.region, &cluster, required(request, "task")?);
    if !ctx.region.tasks.contains_key(&arn) {
        return Err(ApiError::invalid_parameter(
            "The referenced task was not found.",
        ));
    }
    let reason = string(request, "reason").unwrap_or("Task stopped by user");
    stop_task(ctx.region, ctx.now, &arn, reason, "UserInitiated");
    Ok(json!({"task": ctx.region.tasks[&arn].render()}))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_arn(ctx, request)?;
    let desired = string(request, "desiredStatus").unwrap_or("RUNNING");
    let family = string(request, "family");
    let started_by = string(request, "startedBy");
    let launch_type = string(request, "launchType");
    let service = string(request, "serviceName").map(|name| {
        let cluster_name = cluster.rsplit('/').next().unwrap_or_default();
        ctx.region.arn(&format!("service/{cluster_name}/{name}"))
    });
    let mut tasks: Vec<_> = ctx
        .region
        .tasks
        .values()
        .filter(|t| t.cluster_arn == cluster)
        .filter(|t| match desired {
            "STOPPED" => t.desired_status == "STOPPED",
            _ => t.desired_status == "RUNNING",
        })
        .filter(|t| family.is_none_or(|f| t.family == f))
        .filter(|t| started_by.is_none_or(|s| t.started_by == s))
        .filter(|t| launch_type.is_none_or(|l| t.launch_type.as_deref() == Some(l)))
        .filter(|t| {
            service
                .as_ref()
                .is_none_or(|s| t.service.as_ref() == Some(s))
        })
        .map(|t| (t.created_at, t.arn.clone()))
        .collect();
    tasks.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let arns: Vec<String> = tasks.into_iter().map(|(_, arn)| arn).collect();
    let (items, next) = page(&arns, request, 100)?;
    Ok(json!({"taskArns": items, "nextToken": next}))
}

pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_arn(ctx, request)?;
    let references = strings(request, "tasks");
    if references.is_empty() || references.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "tasks must have 1 to 100 items.",
        ));
    }
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        let arn = task_arn(ctx.region, &cluster, reference);
        match ctx.region.tasks.get(&arn) {
            Some(task) => tasks.push(task.render()),
            None => failures.push(failure(&arn, "MISSING")),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}
