//! RunTask, StopTask, ListTasks, DescribeTasks.

use serde_json::{Value as Json, json};

use super::capacity_providers::{associated, check_strategy};
use super::task_definitions::find as find_task_definition;
use super::{Ctx, failure, int, merge_tags, page, request_hash, required, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::rollout::{Launch, launch_task, stop_task};
use crate::sim::state::{Placement, Region};

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

/// Checks RunTask's `overrides` against the task definition's containers.
fn check_overrides(request: &Json, containers: &[Json]) -> Result<(), ApiError> {
    let Some(overrides) = request.get("overrides").filter(|o| !o.is_null()) else {
        return Ok(());
    };
    if overrides.to_string().len() > 8192 {
        return Err(ApiError::invalid_parameter(
            "Container Overrides length must be at most 8192",
        ));
    }
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let given = overrides
        .get("containerOverrides")
        .and_then(Json::as_array)
        .map_or(&[][..], Vec::as_slice);
    for name in given.iter().map(|o| o["name"].as_str().unwrap_or_default()) {
        if !names.contains(&name) {
            return Err(ApiError::invalid_parameter(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    Ok(())
}

fn check_client_token(token: &str) -> Result<(), ApiError> {
    if token.len() > 64 || !token.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(ApiError::invalid_parameter(
            "clientToken can have at most 64 characters, each in the range 33-126.",
        ));
    }
    Ok(())
}

fn check_started_by(started_by: &str) -> Result<(), ApiError> {
    let valid = started_by.len() <= 128
        && started_by
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '_'));
    if !valid {
        return Err(ApiError::invalid_parameter(
            "startedBy can have up to 128 letters, numbers, hyphens, forward slashes and underscores.",
        ));
    }
    Ok(())
}

pub fn run(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = ctx
        .region
        .active_cluster(string(request, "cluster"))
        .ok_or_else(ApiError::cluster_not_found)?
        .clone();
    let token = string(request, "clientToken");
    if let Some(token) = token {
        check_client_token(token)?;
        if let Some((hash, arns)) = ctx.region.run_task_tokens.get(token) {
            if *hash != request_hash(request) {
                return Err(ApiError::conflict(
                    "The clientToken was already used by a RunTask request with other parameters.",
                    arns.clone(),
                ));
            }
            let tasks: Vec<Json> = arns
                .iter()
                .filter_map(|arn| ctx.region.tasks.get(arn))
                .map(|t| t.render(true))
                .collect();
            return Ok(json!({"tasks": tasks, "failures": []}));
        }
    }
    let reference = required(request, "taskDefinition")?;
    let td = find_task_definition(ctx.region, reference)
        .ok_or_else(|| ApiError::client_exception("TaskDefinition not found."))?;
    if td.status != "ACTIVE" {
        return Err(ApiError::invalid_parameter("TaskDefinition is inactive"));
    }
    let (td_arn, family) = (td.arn.clone(), td.family.clone());
    let awsvpc = td.body.get("networkMode") == Some(&json!("awsvpc"));
    check_overrides(request, td.containers())?;
    let td_tags = td.tags.clone();
    let count = int(request, "count").unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::invalid_parameter(
            "count must be between 1 and 10.",
        ));
    }
    if awsvpc && request.get("networkConfiguration").is_none() {
        return Err(ApiError::invalid_parameter(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    let launch_type = string(request, "launchType");
    let strategy = request
        .get("capacityProviderStrategy")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    if launch_type.is_some() && strategy.is_some() {
        return Err(ApiError::invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported.",
        ));
    }
    check_strategy(&associated(ctx.region, &cluster, ctx.now), strategy)?;
    let cluster_strategy = cluster
        .config
        .get("defaultCapacityProviderStrategy")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    let placement = Placement::of(
        launch_type,
        strategy.or(if launch_type.is_none() {
            cluster_strategy
        } else {
            None
        }),
        string(request, "platformVersion"),
    );
    let group = string(request, "group").map_or_else(|| format!("family:{family}"), str::to_string);
    let started_by = string(request, "startedBy").unwrap_or_default().to_string();
    check_started_by(&started_by)?;
    let mut task_tags = tags(request)?;
    if string(request, "propagateTags") == Some("TASK_DEFINITION") {
        let mut merged = td_tags;
        merge_tags(&mut merged, task_tags);
        task_tags = merged;
    }
    let mut tasks = Vec::new();
    let mut arns = Vec::new();
    for _ in 0..count {
        let launch = Launch {
            group: group.clone(),
            started_by: started_by.clone(),
            service: None,
            placement: placement.clone(),
            overrides: request.get("overrides").filter(|o| !o.is_null()).cloned(),
        };
        let arn = launch_task(ctx.region, ctx.ids, ctx.now, &cluster.arn, &td_arn, launch)
            .expect("the task definition exists");
        let task = ctx.region.tasks.get_mut(&arn).expect("launched");
        task.tags = task_tags.clone();
        tasks.push(task.render(true));
        arns.push(arn);
    }
    if let Some(token) = token {
        ctx.region
            .run_task_tokens
            .insert(token.to_string(), (request_hash(request), arns));
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
    Ok(json!({"task": ctx.region.tasks[&arn].render(true)}))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = cluster_arn(ctx, request)?;
    let desired = string(request, "desiredStatus").unwrap_or("RUNNING");
    if !["RUNNING", "PENDING", "STOPPED"].contains(&desired) {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid desiredStatus {desired}."
        )));
    }
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
        // ECS never sets a desired status of PENDING: that filter finds nothing.
        .filter(|t| t.desired_status == desired)
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
    let with_tags = strings(request, "include").contains(&"TAGS");
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        let arn = task_arn(ctx.region, &cluster, reference);
        match ctx.region.tasks.get(&arn) {
            Some(task) => tasks.push(task.render(with_tags)),
            None => failures.push(failure(&arn, "MISSING")),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}
