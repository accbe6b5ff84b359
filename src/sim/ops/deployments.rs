//! ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::{Ctx, failure, page, required, string, strings};
use crate::sim::error::ApiError;
use crate::sim::state::{Region, Service, ServiceDeploymentRecord, Task};

fn brief(service: &Service, record: &ServiceDeploymentRecord) -> Json {
    json!({
        "serviceDeploymentArn": record.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "startedAt": record.started_at,
        "createdAt": record.created_at,
        "finishedAt": record.finished_at,
        "targetServiceRevisionArn": record.target_revision,
        "status": record.status,
        "statusReason": record.status_reason,
    })
}

/// A `ServiceRevisionSummary`: the tasks of the deployment of that revision, and for
/// BLUE_GREEN, LINEAR and CANARY the traffic it gets.
fn revision(
    service: &Service,
    record: &ServiceDeploymentRecord,
    tasks: &HashMap<String, Task>,
    arn: &str,
) -> Json {
    let deployment = service.deployments.iter().find(|d| d.revision_arn == arn);
    let (running, pending) = deployment.map_or((0, 0), |d| service.counts(tasks, Some(&d.id)));
    let mut out = json!({
        "arn": arn,
        "requestedTaskCount": deployment.map_or(0, |d| d.desired_count),
        "runningTaskCount": running,
        "pendingTaskCount": pending,
    });
    if record.lifecycle_stage.is_some() {
        // The target's share; the one source it replaces has the rest.
        let target = service
            .deployments
            .iter()
            .find(|d| d.revision_arn == record.target_revision);
        let (production, test) = match target {
            Some(d) => (d.production_weight, d.test_weight),
            None if record.status == "SUCCESSFUL" => (100.0, 100.0),
            None => (0.0, 0.0),
        };
        let weights = if arn == record.target_revision {
            Some((production, test))
        } else {
            (record.source_revisions.len() == 1).then_some((100.0 - production, 100.0 - test))
        };
        if let Some((production, test)) = weights {
            out["requestedProductionTrafficWeight"] = json!(production);
            out["requestedTestTrafficWeight"] = json!(test);
        }
    }
    out
}

fn full(
    service: &Service,
    record: &ServiceDeploymentRecord,
    tasks: &HashMap<String, Task>,
) -> Json {
    let breaker_status = match (record.circuit_breaker_enabled, record.status) {
        (false, _) => "DISABLED",
        (true, "PENDING" | "IN_PROGRESS") => "MONITORING",
        (true, "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED")
            if record.failure_count >= record.threshold =>
        {
            "TRIGGERED"
        }
        (true, _) => "MONITORING_COMPLETE",
    };
    let mut out = brief(service, record);
    let fields = out.as_object_mut().expect("an object");
    fields.remove("targetServiceRevisionArn");
    fields.extend([
        ("updatedAt".into(), json!(record.updated_at)),
        ("stoppedAt".into(), json!(record.stopped_at)),
        (
            "targetServiceRevision".into(),
            revision(service, record, tasks, &record.target_revision),
        ),
        (
            "sourceServiceRevisions".into(),
            Json::Array(
                record
                    .source_revisions
                    .iter()
                    .map(|r| revision(service, record, tasks, r))
                    .collect(),
            ),
        ),
        ("deploymentConfiguration".into(), record.deployment_configuration.clone()),
        (
            "deploymentCircuitBreaker".into(),
            json!({"status": breaker_status, "failureCount": record.failure_count, "threshold": record.threshold}),
        ),
        ("lifecycleStage".into(), json!(record.lifecycle_stage.map(|s| s.name()))),
    ]);
    if let Some(rollback) = &record.rollback {
        fields.insert("rollback".into(), rollback.clone());
    }
    fields.retain(|_, v| !v.is_null());
    out
}

/// The service a deployment ARN belongs to: `…:service-deployment/cluster/service/id`.
fn service_of<'a>(
    region: &'a Region,
    deployment_arn: &str,
) -> Option<(&'a Service, &'a ServiceDeploymentRecord)> {
    let (prefix, _) = deployment_arn.rsplit_once('/')?;
    let service_arn = prefix.replace(":service-deployment/", ":service/");
    let service = region.services.get(&service_arn)?;
    let record = service
        .service_deployments
        .iter()
        .find(|r| r.arn == deployment_arn)?;
    Some((service, record))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let cluster = ctx
        .region
        .active_cluster(string(request, "cluster"))
        .ok_or_else(ApiError::cluster_not_found)?
        .name
        .clone();
    let reference = required(request, "service")?;
    let arn = if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        ctx.region.arn(&format!("service/{cluster}/{reference}"))
    };
    let service = ctx
        .region
        .services
        .get(&arn)
        .ok_or_else(ApiError::service_not_found)?;
    let statuses = strings(request, "status");
    let briefs: Vec<Json> = service
        .service_deployments
        .iter()
        .rev()
        .filter(|r| statuses.is_empty() || statuses.contains(&r.status))
        .map(|r| brief(service, r))
        .map(|mut b| {
            b.as_object_mut()
                .expect("an object")
                .retain(|_, v| !v.is_null());
            b
        })
        .collect();
    let (items, next) = page(&briefs, request, 20)?;
    Ok(json!({"serviceDeployments": items, "nextToken": next}))
}

pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arns = strings(request, "serviceDeploymentArns");
    if arns.is_empty() || arns.len() > 20 {
        return Err(ApiError::invalid_parameter(
            "serviceDeploymentArns must have 1 to 20 items.",
        ));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in arns {
        match service_of(ctx.region, arn) {
            Some((service, record)) => found.push(full(service, record, &ctx.region.tasks)),
            None => failures.push(failure(arn, "MISSING")),
        }
    }
    Ok(json!({"serviceDeployments": found, "failures": failures}))
}

/// Asks for a PENDING or IN_PROGRESS service deployment to stop (ROLLBACK_REQUESTED or
/// STOP_REQUESTED); the scheduler carries it out at its next pass.
pub fn stop(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = required(request, "serviceDeploymentArn")?.to_string();
    let stop_type = match string(request, "stopType").unwrap_or("ROLLBACK") {
        "ROLLBACK" => "ROLLBACK",
        "ABORT" => "ABORT",
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid stopType {other}."
            )));
        }
    };
    let (service, record) = service_of(ctx.region, &arn).ok_or_else(|| {
        ApiError::other(
            "ServiceDeploymentNotFoundException",
            "The service deployment does not exist.",
        )
    })?;
    let in_flight = matches!(record.status, "PENDING" | "IN_PROGRESS")
        && service
            .deployments
            .first()
            .is_some_and(|d| d.service_deployment == arn);
    if !in_flight {
        return Err(ApiError::other(
            "ConflictException",
            "The service deployment is not in progress.",
        ));
    }
    let service_arn = service.arn.clone();
    let now = ctx.now;
    let service = ctx.region.service_mut(&service_arn).expect("found above");
    let record = service
        .service_deployments
        .iter_mut()
        .find(|r| r.arn == arn)
        .expect("found above");
    record.stop_request = Some(stop_type);
    record.status = if stop_type == "ROLLBACK" {
        "ROLLBACK_REQUESTED"
    } else {
        "STOP_REQUESTED"
    };
    record.updated_at = now;
    ctx.region.moving_services.insert(service_arn);
    Ok(json!({"serviceDeploymentArn": arn}))
}
