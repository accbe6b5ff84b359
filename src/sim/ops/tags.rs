//! TagResource, UntagResource, ListTagsForResource on clusters, capacity providers, task
//! definitions, services and tasks.

use serde_json::{Value as Json, json};

use super::capacity_providers;
use super::{Ctx, merge_tags, required, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::state::Region;

fn tags_of<'a>(region: &'a mut Region, arn: &str, now: f64) -> Result<&'a mut Vec<Json>, ApiError> {
    if !arn.starts_with("arn:aws:ecs:") {
        return Err(ApiError::invalid_parameter("The ARN provided is invalid."));
    }
    let not_found = || {
        ApiError::other(
            "ResourceNotFoundException",
            "The specified resource could not be found.",
        )
    };
    if arn.contains(":cluster/") {
        let name = Region::cluster_name(Some(arn)).to_string();
        return region
            .clusters
            .get_mut(&name)
            .map(|c| &mut c.tags)
            .ok_or_else(not_found);
    }
    if arn.contains(":capacity-provider/") {
        return capacity_providers::tags_of(region, arn, now).ok_or_else(not_found);
    }
    if arn.contains(":task-definition/") {
        return region
            .families
            .values_mut()
            .flatten()
            .find(|td| td.arn == arn && !td.deleted)
            .map(|td| &mut td.tags)
            .ok_or_else(not_found);
    }
    if arn.contains(":service/") {
        return region
            .service_mut(arn)
            .map(|s| &mut s.tags)
            .ok_or_else(ApiError::service_not_found);
    }
    if arn.contains(":task/") {
        return region
            .tasks
            .get_mut(arn)
            .map(|t| &mut t.tags)
            .ok_or_else(not_found);
    }
    Err(ApiError::invalid_parameter("The ARN provided is invalid."))
}

pub fn tag(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = required(request, "resourceArn")?;
    let new = tags(request)?;
    let existing = tags_of(ctx.region, arn, ctx.now)?;
    merge_tags(existing, new);
    if existing.len() > 50 {
        return Err(ApiError::invalid_parameter(
            "A resource can have at most 50 tags.",
        ));
    }
    Ok(json!({}))
}

pub fn untag(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = required(request, "resourceArn")?;
    let keys = strings(request, "tagKeys");
    let existing = tags_of(ctx.region, arn, ctx.now)?;
    existing.retain(|t| !keys.iter().any(|k| t.get("key") == Some(&json!(k))));
    Ok(json!({}))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arn = required(request, "resourceArn")?;
    Ok(json!({"tags": tags_of(ctx.region, arn, ctx.now)?.clone()}))
}
