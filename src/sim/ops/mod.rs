//! The ECS operations the simulator serves, by `X-Amz-Target` name.

mod capacity_providers;
mod clusters;
mod deployments;
mod services;
mod tags;
mod task_definitions;
mod tasks;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value as Json;

pub use task_definitions::find as find_task_definition;

use super::error::ApiError;
use super::state::{Ids, Region};

/// What one call works on.
pub struct Ctx<'a> {
    pub region: &'a mut Region,
    pub ids: &'a mut Ids,
    /// Simulated time of the call.
    pub now: f64,
}

/// The response body of `operation`.
pub fn call(operation: &str, ctx: &mut Ctx, request: &Json) -> Result<String, ApiError> {
    if operation == "DescribeServices" {
        return services::describe(ctx, request);
    }
    let mut response = match operation {
        "CreateCluster" => clusters::create(ctx, request),
        "DescribeClusters" => clusters::describe(ctx, request),
        "ListClusters" => clusters::list(ctx, request),
        "DeleteCluster" => clusters::delete(ctx, request),
        "UpdateCluster" => clusters::update(ctx, request),
        "PutClusterCapacityProviders" => clusters::put_capacity_providers(ctx, request),
        "CreateCapacityProvider" => capacity_providers::create(ctx, request),
        "DescribeCapacityProviders" => capacity_providers::describe(ctx, request),
        "UpdateCapacityProvider" => capacity_providers::update(ctx, request),
        "DeleteCapacityProvider" => capacity_providers::delete(ctx, request),
        "RegisterTaskDefinition" => task_definitions::register(ctx, request),
        "DescribeTaskDefinition" => task_definitions::describe(ctx, request),
        "ListTaskDefinitions" => task_definitions::list(ctx, request),
        "ListTaskDefinitionFamilies" => task_definitions::list_families(ctx, request),
        "DeregisterTaskDefinition" => task_definitions::deregister(ctx, request),
        "DeleteTaskDefinitions" => task_definitions::delete(ctx, request),
        "CreateService" => services::create(ctx, request),
        "UpdateService" => services::update(ctx, request),
        "ListServices" => services::list(ctx, request),
        "DeleteService" => services::delete(ctx, request),
        "ListServiceDeployments" => deployments::list(ctx, request),
        "DescribeServiceDeployments" => deployments::describe(ctx, request),
        "StopServiceDeployment" => deployments::stop(ctx, request),
        "RunTask" => tasks::run(ctx, request),
        "StopTask" => tasks::stop(ctx, request),
        "ListTasks" => tasks::list(ctx, request),
        "DescribeTasks" => tasks::describe(ctx, request),
        "TagResource" => tags::tag(ctx, request),
        "UntagResource" => tags::untag(ctx, request),
        "ListTagsForResource" => tags::list(ctx, request),
        other => Err(ApiError::unsupported(other)),
    }?;
    // ECS leaves absent members out (the last page has no `nextToken`), never `null`.
    if let Some(fields) = response.as_object_mut() {
        fields.retain(|_, value| !value.is_null());
    }
    Ok(response.to_string())
}

/// A string member; empty strings count as absent, as ECS treats them.
pub fn string<'a>(request: &'a Json, key: &str) -> Option<&'a str> {
    request
        .get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

pub fn required<'a>(request: &'a Json, key: &str) -> Result<&'a str, ApiError> {
    string(request, key)
        .ok_or_else(|| ApiError::invalid_parameter(format!("{key} can not be blank.")))
}

pub fn strings<'a>(request: &'a Json, key: &str) -> Vec<&'a str> {
    request
        .get(key)
        .and_then(Json::as_array)
        .map(|items| items.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

pub fn int(request: &Json, key: &str) -> Option<i64> {
    request.get(key).and_then(Json::as_i64)
}

/// One page of `items` after `nextToken`, and the token of the next page.
pub fn page<T: Clone>(
    items: &[T],
    request: &Json,
    default_max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match int(request, "maxResults") {
        None => default_max,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "maxResults must be between 1 and 100.",
            ));
        }
    };
    let start = match string(request, "nextToken") {
        None => 0,
        Some(token) => token
            .strip_prefix("sim-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::invalid_parameter("Invalid nextToken."))?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| format!("sim-{end}"));
    Ok((items[start..end].to_vec(), next))
}

/// Tags in ECS's shape, checked as ECS checks them.
pub fn tags(request: &Json) -> Result<Vec<Json>, ApiError> {
    let Some(tags) = request.get("tags").and_then(Json::as_array) else {
        return Ok(Vec::new());
    };
    if tags.len() > 50 {
        return Err(ApiError::invalid_parameter(
            "A resource can have at most 50 tags.",
        ));
    }
    for tag in tags {
        let key = tag.get("key").and_then(Json::as_str).unwrap_or_default();
        if key.is_empty() || key.len() > 128 {
            return Err(ApiError::invalid_parameter(
                "Tag keys must be 1 to 128 characters.",
            ));
        }
    }
    Ok(tags.clone())
}

/// Merges `new` into `tags`, replacing values of existing keys.
pub fn merge_tags(tags: &mut Vec<Json>, new: Vec<Json>) {
    for tag in new {
        let key = tag.get("key").cloned();
        tags.retain(|t| t.get("key") != key.as_ref());
        tags.push(tag);
    }
}

/// What makes two requests with one `clientToken` the same request: all but the token.
pub fn request_hash(request: &Json) -> u64 {
    let mut request = request.clone();
    if let Some(fields) = request.as_object_mut() {
        fields.remove("clientToken");
    }
    let mut hasher = DefaultHasher::new();
    request.to_string().hash(&mut hasher);
    hasher.finish()
}

pub fn failure(arn: &str, reason: &str) -> Json {
    serde_json::json!({"arn": arn, "reason": reason})
}
