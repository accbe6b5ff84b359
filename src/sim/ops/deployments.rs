//! ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment.

use serde_json::{Value as Json, json};

use super::{Ctx, failure, page, required, string, strings};
use crate::sim::error::ApiError;
use crate::sim::rollout::fail_deployment;
use crate::sim::state::{Region, Service, ServiceDeploymentRecord};

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

fn full(service: &Service, record: &ServiceDeploymentRecord) -> Json {
    let revision = |arn: &str| {
        let deployment = service.deployments.iter().find(|d| d.revision_arn == arn);
        json!({
            "arn": arn,
            "requestedTaskCount": deployment.map_or(0, |d| d.desired_count),
        })
    };
    let breaker_status = match (record.circuit_breaker_enabled, record.status) {
        (false, _) => "DISABLED",
        (true, "IN_PROGRESS") => "MONITORING",
        (true, "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED") => "TRIGGERED",
        (true, _) => "MONITORING_COMPLETE",
    };
    let mut out = brief(service, record);
    let fields = out.as_object_mut().expect("an object");
    fields.remove("targetServiceRevisionArn");
    fields.extend([
        ("updatedAt".into(), json!(record.updated_at)),
        ("targetServiceRevision".into(), revision(&record.target_revision)),
        (
            "sourceServiceRevisions".into(),
            Json::Array(record.source_revisions.iter().map(|r| revision(r)).collect()),
        ),
        ("deploymentConfiguration".into(), record.deployment_configuration.clone()),
        (
            "deploymentCircuitBreaker".into(),
            json!({"status": breaker_status, "failureCount": record.failure_count, "threshold": record.threshold}),
        ),
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
            Some((service, record)) => found.push(full(service, record)),
            None => failures.push(failure(arn, "MISSING")),
        }
    }
    Ok(json!({"serviceDeployments": found, "failures": failures}))
}

pub fn stop(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = required(request, "serviceDeploymentArn")?.to_string();
    let (service, record) = service_of(ctx.region, &arn).ok_or_else(|| {
        ApiError::other(
            "ServiceDeploymentNotFoundException",
            "The service deployment does not exist.",
        )
    })?;
    let in_progress = record.status == "IN_PROGRESS"
        && service
            .deployments
            .first()
            .is_some_and(|d| d.service_deployment == arn);
    if !in_progress {
        return Err(ApiError::other(
            "ConflictException",
            "The service deployment is not in progress.",
        ));
    }
    let service_arn = service.arn.clone();
    match string(request, "stopType").unwrap_or("ROLLBACK") {
        "ROLLBACK" => fail_deployment(
            ctx.region,
            ctx.ids,
            ctx.now,
            &service_arn,
            "Service deployment rolled back because of a stop request.",
            true,
        ),
        "ABORT" => fail_deployment(
            ctx.region,
            ctx.ids,
            ctx.now,
            &service_arn,
            "Service deployment stopped because of a stop request.",
            false,
        ),
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid stopType {other}."
            )));
        }
    }
    ctx.region.moving_services.insert(service_arn);
    Ok(json!({"serviceDeploymentArn": arn}))
}
