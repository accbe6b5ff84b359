//! Task definitions: families of immutable revisions, with the defaults ECS adds when it
//! registers one. This table is the simulator's own reading of ECS (from the Smithy model,
//! ECS's docs and describe output), kept apart from the controller's normalization on
//! purpose: each checks the other.

use serde_json::{Map, Value as Json, json};

use super::{Ctx, failure, page, required, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::state::{Region, TaskDefinition};

/// Task-level members RegisterTaskDefinition takes (the rest of the request is refused).
const INPUT: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "tags",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
];

pub fn register(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let Some(input) = request.as_object() else {
        return Err(ApiError::serialization("Expected a JSON object."));
    };
    if let Some(unknown) = input.keys().find(|k| !INPUT.contains(&k.as_str())) {
        return Err(ApiError::serialization(format!(
            "Unknown member {unknown}."
        )));
    }
    let family = required(request, "family")?.to_string();
    if family.len() > 255
        || !family
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::client_exception(
            "Family contains invalid characters: up to 255 letters, numbers, hyphens and underscores.",
        ));
    }
    let mut body: Map<String, Json> = input.clone();
    body.remove("tags");
    normalize_size(&mut body, "cpu", 1024.0, &["vcpu"])?;
    normalize_size(&mut body, "memory", 1024.0, &["gb", "gib"])?;
    add_container_defaults(&mut body)?;
    check_fargate(&body)?;
    check_container_memory(&body)?;
    for key in ["volumes", "placementConstraints"] {
        body.entry(key).or_insert_with(|| json!([]));
    }
    let compat = strings(request, "requiresCompatibilities");
    body.insert(
        "compatibilities".into(),
        json!(compatibilities(&body, &compat)),
    );
    body.insert(
        "requiresAttributes".into(),
        json!(required_attributes(&body)),
    );
    let revisions = ctx.region.families.entry(family.clone()).or_default();
    let revision = revisions.len() as u32 + 1;
    let arn = ctx
        .region
        .arn(&format!("task-definition/{family}:{revision}"));
    body.insert("taskDefinitionArn".into(), json!(arn));
    body.insert("revision".into(), json!(revision));
    body.insert("registeredAt".into(), json!(ctx.now));
    body.insert(
        "registeredBy".into(),
        json!(format!(
            "arn:aws:iam::{}:user/simulator",
            ctx.region.account
        )),
    );
    let definition = TaskDefinition {
        arn,
        family: family.clone(),
        status: "ACTIVE".into(),
        body,
        tags: tags(request)?,
        deleted: false,
    };
    let out = json!({"taskDefinition": definition.render(), "tags": definition.tags});
    ctx.region
        .families
        .get_mut(&family)
        .expect("inserted")
        .push(definition);
    Ok(out)
}

/// "1 vCPU" → "1024", "0.5 GB" → "512": ECS stores task sizes as integers in strings.
fn normalize_size(
    body: &mut Map<String, Json>,
    key: &str,
    per_unit: f64,
    units: &[&str],
) -> Result<(), ApiError> {
    let Some(value) = body.get(key) else {
        return Ok(());
    };
    let text = match value {
        Json::String(s) => s.trim().to_lowercase(),
        Json::Number(n) => n.to_string(),
        _ => return Err(ApiError::serialization(format!("{key} must be a string."))),
    };
    if text.is_empty() {
        body.remove(key);
        return Ok(());
    }
    let parsed = match text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => units
            .iter()
            .find_map(|u| text.strip_suffix(u))
            .and_then(|n| {
                let n: f64 = n.trim().parse().ok()?;
                let scaled = n * per_unit;
                (n > 0.0 && scaled.fract() == 0.0).then_some(scaled as u64)
            }),
    };
    let Some(parsed) = parsed else {
        return Err(ApiError::client_exception(format!(
            "Invalid '{key}' setting for task."
        )));
    };
    body.insert(key.into(), json!(parsed.to_string()));
    Ok(())
}

fn network_mode(body: &Map<String, Json>) -> &str {
    body.get("networkMode")
        .and_then(Json::as_str)
        .unwrap_or("bridge")
}

fn add_container_defaults(body: &mut Map<String, Json>) -> Result<(), ApiError> {
    let same_host_port = matches!(network_mode(body), "awsvpc" | "host");
    let Some(Json::Array(containers)) = body.get_mut("containerDefinitions") else {
        return Err(ApiError::client_exception(
            "Container list cannot be empty.",
        ));
    };
    if containers.is_empty() {
        return Err(ApiError::client_exception(
            "Container list cannot be empty.",
        ));
    }
    let mut names = Vec::new();
    for container in containers.iter_mut() {
        let Some(c) = container.as_object_mut() else {
            return Err(ApiError::serialization(
                "A container definition must be an object.",
            ));
        };
        let name = c
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            return Err(ApiError::client_exception(
                "Container.name should not be null or empty.",
            ));
        }
        if c.get("image")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            return Err(ApiError::client_exception(
                "Container.image should not be null or empty.",
            ));
        }
        if names.contains(&name) {
            return Err(ApiError::client_exception(format!(
                "Duplicate container name: {name}."
            )));
        }
        names.push(name);
        c.entry("essential").or_insert(json!(true));
        c.entry("cpu").or_insert(json!(0));
        for key in [
            "portMappings",
            "environment",
            "mountPoints",
            "volumesFrom",
            "systemControls",
        ] {
            c.entry(key).or_insert_with(|| json!([]));
        }
        for mapping in c
            .get_mut("portMappings")
            .and_then(Json::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(m) = mapping.as_object_mut() else {
                continue;
            };
            m.entry("protocol").or_insert(json!("tcp"));
            if same_host_port && let Some(port) = m.get("containerPort").cloned() {
                m.entry("hostPort").or_insert(port);
            }
        }
    }
    if !containers.iter().any(|c| c["essential"] == json!(true)) {
        return Err(ApiError::client_exception(
            "Task definition must have at least one essential container.",
        ));
    }
    Ok(())
}

/// Fargate's task sizes (CPU units → memory MiB range and step).
fn fargate_memory_allowed(cpu: u64, memory: u64) -> bool {
    let (low, high, step) = match cpu {
        256 => return [512, 1024, 2048].contains(&memory),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return false,
    };
    (low..=high).contains(&memory) && (memory - low).is_multiple_of(step)
}

fn check_fargate(body: &Map<String, Json>) -> Result<(), ApiError> {
    let fargate = body
        .get("requiresCompatibilities")
        .and_then(Json::as_array)
        .is_some_and(|c| c.iter().any(|v| v == "FARGATE"));
    if !fargate {
        return Ok(());
    }
    if network_mode(body) != "awsvpc" {
        return Err(ApiError::client_exception(
            "Fargate only supports network mode 'awsvpc'.",
        ));
    }
    let size = |key: &str| {
        body.get(key)
            .and_then(Json::as_str)
            .and_then(|s| s.parse::<u64>().ok())
    };
    match (size("cpu"), size("memory")) {
        (Some(cpu), Some(memory)) if fargate_memory_allowed(cpu, memory) => Ok(()),
        (Some(cpu), Some(memory)) => Err(ApiError::client_exception(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory."
        ))),
        _ => Err(ApiError::client_exception(
            "Fargate requires that 'cpu' be defined at the task level.",
        )),
    }
}

/// Tasks on EC2 or external instances need each container's memory when the task has
/// none; without requiresCompatibilities a task definition is EC2-compatible.
fn check_container_memory(body: &Map<String, Json>) -> Result<(), ApiError> {
    let requested: Vec<&str> = body
        .get("requiresCompatibilities")
        .and_then(Json::as_array)
        .map(|c| c.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let on_instances =
        requested.is_empty() || requested.contains(&"EC2") || requested.contains(&"EXTERNAL");
    if !on_instances || body.contains_key("memory") {
        return Ok(());
    }
    let without = body
        .get("containerDefinitions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("memory").is_none() && c.get("memoryReservation").is_none());
    match without {
        Some(container) => Err(ApiError::client_exception(format!(
            "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
            container["name"].as_str().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

fn compatibilities(body: &Map<String, Json>, requested: &[&str]) -> Vec<&'static str> {
    let mut out = vec!["EC2"];
    if network_mode(body) == "awsvpc" || requested.contains(&"FARGATE") {
        out.push("FARGATE");
    }
    if requested.contains(&"EXTERNAL") || network_mode(body) != "awsvpc" {
        out.insert(0, "EXTERNAL");
    }
    out
}

fn required_attributes(body: &Map<String, Json>) -> Vec<Json> {
    let mut names = vec!["com.amazonaws.ecs.capability.docker-remote-api.1.18"];
    if network_mode(body) == "awsvpc" {
        names.push("ecs.capability.task-eni");
    }
    if body.contains_key("taskRoleArn") {
        names.push("com.amazonaws.ecs.capability.task-iam-role");
    }
    names.into_iter().map(|n| json!({"name": n})).collect()
}

/// A revision by ARN, `family:revision`, or family (its latest ACTIVE revision); deleted
/// revisions are gone.
pub fn find<'a>(region: &'a Region, reference: &str) -> Option<&'a TaskDefinition> {
    let name = reference
        .rsplit_once(":task-definition/")
        .map_or(reference, |(_, n)| n);
    match name.rsplit_once(':') {
        Some((family, revision)) => {
            let revision: usize = revision.parse().ok()?;
            region
                .families
                .get(family)?
                .get(revision.checked_sub(1)?)
                .filter(|td| !td.deleted)
        }
        None => region
            .families
            .get(name)?
            .iter()
            .rev()
            .find(|td| td.status == "ACTIVE"),
    }
}

fn find_mut<'a>(region: &'a mut Region, reference: &str) -> Option<&'a mut TaskDefinition> {
    let arn = find(region, reference)?.arn.clone();
    region
        .families
        .values_mut()
        .flatten()
        .find(|td| td.arn == arn)
}

fn unable_to_describe() -> ApiError {
    ApiError::client_exception("Unable to describe task definition.")
}

pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let reference = required(request, "taskDefinition")?;
    let td = find(ctx.region, reference).ok_or_else(unable_to_describe)?;
    let mut out = json!({"taskDefinition": td.render()});
    if strings(request, "include").contains(&"TAGS") {
        out["tags"] = Json::Array(td.tags.clone());
    }
    Ok(out)
}

fn status_filter(request: &Json) -> Result<&str, ApiError> {
    match string(request, "status").unwrap_or("ACTIVE") {
        status @ ("ACTIVE" | "INACTIVE" | "DELETE_IN_PROGRESS") => Ok(status),
        other => Err(ApiError::invalid_parameter(format!(
            "Invalid status {other}."
        ))),
    }
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let status = status_filter(request)?;
    let prefix = string(request, "familyPrefix");
    let mut arns: Vec<String> = ctx
        .region
        .families
        .iter()
        .filter(|(family, _)| prefix.is_none_or(|p| family.starts_with(p)))
        .flat_map(|(_, revisions)| revisions.iter())
        .filter(|td| td.status == status && !td.deleted)
        .map(|td| td.arn.clone())
        .collect();
    if string(request, "sort") == Some("DESC") {
        arns.reverse();
    }
    let (items, next) = page(&arns, request, 100)?;
    Ok(json!({"taskDefinitionArns": items, "nextToken": next}))
}

/// Families with a revision that is not deleted: by default all of them, ACTIVE those with an
/// ACTIVE revision, INACTIVE those without.
pub fn list_families(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let status = string(request, "status").unwrap_or("ALL");
    let prefix = string(request, "familyPrefix");
    let families: Vec<String> = ctx
        .region
        .families
        .iter()
        .filter(|(family, _)| prefix.is_none_or(|p| family.starts_with(p)))
        .filter(|(_, revisions)| {
            let active = revisions.iter().any(|td| td.status == "ACTIVE");
            let known = revisions.iter().any(|td| !td.deleted);
            match status {
                "ACTIVE" => active,
                "INACTIVE" => known && !active,
                _ => known,
            }
        })
        .map(|(family, _)| family.clone())
        .collect();
    let (items, next) = page(&families, request, 100)?;
    Ok(json!({"families": items, "nextToken": next}))
}

pub fn deregister(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let reference = required(request, "taskDefinition")?;
    if !reference.contains(':') {
        return Err(ApiError::client_exception(
            "The specified task definition identifier is invalid. Specify a valid revision.",
        ));
    }
    let now = ctx.now;
    let td = find_mut(ctx.region, reference).ok_or_else(unable_to_describe)?;
    if td.status == "ACTIVE" {
        td.status = "INACTIVE".into();
        td.body.insert("deregisteredAt".into(), json!(now));
    }
    Ok(json!({"taskDefinition": td.render()}))
}

/// INACTIVE revisions go DELETE_IN_PROGRESS; they are deleted for good once no service
/// deployment and no task that is not STOPPED uses them (`rollout::reap_task_definitions`).
/// The failure reasons are moto's, which match those ECS users report.
pub fn delete(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let references = strings(request, "taskDefinitions");
    if references.is_empty() {
        return Err(ApiError::invalid_parameter(
            "size of TaskDefinition references list must be greater than 0",
        ));
    }
    if references.len() > 10 {
        return Err(ApiError::invalid_parameter(
            "Size of TaskDefinition references list cannot exceed 10",
        ));
    }
    let now = ctx.now;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        let name = reference
            .rsplit_once(":task-definition/")
            .map_or(reference, |(_, n)| n);
        let arn = ctx.region.arn(&format!("task-definition/{name}"));
        if !name.contains(':') {
            failures.push(failure(
                &arn,
                "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.",
            ));
            continue;
        }
        match find_mut(ctx.region, reference) {
            Some(td) if td.status == "ACTIVE" => failures.push(failure(
                &td.arn,
                "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
            )),
            Some(td) => {
                td.status = "DELETE_IN_PROGRESS".into();
                td.body.entry("deleteRequestedAt").or_insert(json!(now));
                deleted.push(td.render());
                let arn = td.arn.clone();
                ctx.region.deleting.insert(arn);
            }
            None => failures.push(failure(
                &arn,
                "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
            )),
        }
    }
    Ok(json!({"taskDefinitions": deleted, "failures": failures}))
}
