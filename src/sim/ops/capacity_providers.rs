//! CreateCapacityProvider, DescribeCapacityProviders, UpdateCapacityProvider,
//! DeleteCapacityProvider, and the rules that tie capacity providers to clusters, services and
//! tasks: a strategy may only name providers associated with its cluster.
//!
//! Errors use ECS's words where they are published (the constants below, as ECS's users quote
//! them); for the other cases ECS's wording is not known and the messages are ours.

use serde_json::{Map, Value as Json, json};

use super::{Ctx, failure, int, page, required, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::state::{Capacity, CapacityProvider, Cluster, Phase, Region};

/// Available to every account; associated with a cluster, never created or deleted.
const BUILT_IN: &[&str] = &["FARGATE", "FARGATE_SPOT"];

const ALREADY_EXISTS: &str = "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.";
const DOES_NOT_EXIST: &str =
    "The specified capacity provider does not exist. Specify a valid name or ARN and try again.";
const GROUP_IN_USE: &str = "The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a unique Auto Scaling group ARN and try again.";
const NOT_FOUND: &str = "The specified capacity provider was not found. Specify a valid capacity provider and try again.";
const NOT_ASSOCIATED: &str = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";
const IN_USE: &str = "The specified capacity provider is in use and cannot be removed.";
const MANAGED_INSTANCES_NOT_PUT: &str =
    "Cannot associate Managed Instances capacity provider to clusters using this API.";
/// Ours, as are the messages written where they are used.
const ON_ANOTHER_CLUSTER: &str = "The specified capacity provider is already associated with another cluster. A capacity provider can be associated with one cluster only.";

/// ECS's defaults for the members of `managedScaling` left out.
fn managed_scaling_defaults() -> Json {
    json!({
        "status": "DISABLED",
        "targetCapacity": 100,
        "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 10000,
        "instanceWarmupPeriod": 300,
    })
}

/// The name in a capacity provider ARN, or the name itself.
fn name_of(reference: &str) -> &str {
    reference
        .rsplit_once(":capacity-provider/")
        .map_or(reference, |(_, name)| name)
}

/// The stored provider a name or ARN refers to, while ECS still describes it.
fn position(region: &Region, reference: &str, now: f64) -> Option<usize> {
    let name = name_of(reference);
    region
        .capacity_providers
        .iter()
        .position(|p| p.name == name && p.phase(now) != Phase::Gone)
}

fn find<'a>(region: &'a Region, reference: &str, now: f64) -> Option<&'a CapacityProvider> {
    position(region, reference, now).map(|i| &region.capacity_providers[i])
}

/// A Managed Instances provider is only found through the cluster it serves.
fn in_scope(provider: &CapacityProvider, cluster: Option<&str>) -> bool {
    provider
        .scoped_cluster()
        .is_none_or(|scope| cluster.map(|c| Region::cluster_name(Some(c))) == Some(scope))
}

/// The provider an Update or Delete names, within the cluster the request names.
fn position_in_scope(ctx: &Ctx, request: &Json, key: &str) -> Result<usize, ApiError> {
    let reference = required(request, key)?;
    if BUILT_IN.contains(&name_of(reference)) {
        return Err(ApiError::client_exception(
            "The FARGATE and FARGATE_SPOT capacity providers are reserved and can't be changed or deleted.",
        ));
    }
    position(ctx.region, reference, ctx.now)
        .filter(|&i| {
            in_scope(
                &ctx.region.capacity_providers[i],
                string(request, "cluster"),
            )
        })
        .ok_or_else(|| ApiError::client_exception(DOES_NOT_EXIST))
}

/// Up to 255 letters, digits, hyphens and underscores, not starting with "aws", "ecs" or
/// "fargate". The prefixes are refused in any case, so no name can pass for a built-in one.
fn check_name(name: &str) -> Result<(), ApiError> {
    let lower = name.to_ascii_lowercase();
    let valid = name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !["aws", "ecs", "fargate"]
            .iter()
            .any(|prefix| lower.starts_with(prefix));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_parameter(
            "The capacity provider name can have up to 255 letters, numbers, hyphens and underscores, and can't be prefixed with \"aws\", \"ecs\" or \"fargate\".",
        ))
    }
}

fn object<'a>(request: &'a Json, key: &str) -> Option<&'a Map<String, Json>> {
    request.get(key).and_then(Json::as_object)
}

fn check_enum(config: &Map<String, Json>, key: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match config.get(key).and_then(Json::as_str) {
        Some(value) if !allowed.contains(&value) => Err(ApiError::invalid_parameter(format!(
            "{key} must be one of {}.",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// `managedScaling` with `given` laid over `current` (or ECS's defaults), in the model's ranges.
fn managed_scaling(given: Option<&Json>, current: Option<&Json>) -> Result<Json, ApiError> {
    let mut out = current.cloned().unwrap_or_else(managed_scaling_defaults);
    if let (Some(Json::Object(given)), Some(fields)) = (given, out.as_object_mut()) {
        for (key, value) in given {
            fields.insert(key.clone(), value.clone());
        }
    }
    let fields = out.as_object().expect("an object");
    check_enum(fields, "status", &["ENABLED", "DISABLED"])?;
    for (key, low, high) in [
        ("targetCapacity", 1, 100),
        ("minimumScalingStepSize", 1, 10000),
        ("maximumScalingStepSize", 1, 10000),
        ("instanceWarmupPeriod", 0, 10000),
    ] {
        if int(&out, key).is_none_or(|n| !(low..=high).contains(&n)) {
            return Err(ApiError::invalid_parameter(format!(
                "{key} must be between {low} and {high}."
            )));
        }
    }
    Ok(out)
}

/// The Auto Scaling group a name or ARN stands for: ARNs end in `autoScalingGroupName/NAME`.
fn group_name(reference: &str) -> &str {
    reference
        .rsplit_once("autoScalingGroupName/")
        .map_or(reference, |(_, name)| name)
}

fn group_taken(region: &Region, group: &str, now: f64) -> bool {
    region
        .capacity_providers
        .iter()
        .filter(|p| matches!(p.phase(now), Phase::Active | Phase::Deleting))
        .any(|p| match &p.capacity {
            Capacity::AutoScalingGroup(config) => config
                .get("autoScalingGroupArn")
                .and_then(Json::as_str)
                .is_some_and(|arn| group_name(arn) == group),
            Capacity::ManagedInstances { .. } => false,
        })
}

fn check_switches(config: &Map<String, Json>) -> Result<(), ApiError> {
    check_enum(
        config,
        "managedTerminationProtection",
        &["ENABLED", "DISABLED"],
    )?;
    check_enum(config, "managedDraining", &["ENABLED", "DISABLED"])
}

/// `autoScalingGroupProvider` as ECS stores it: defaults filled in, the group not shared.
fn auto_scaling_group(ctx: &Ctx, given: &Json) -> Result<Capacity, ApiError> {
    let arn = required(given, "autoScalingGroupArn")?;
    if group_taken(ctx.region, group_name(arn), ctx.now) {
        return Err(ApiError::client_exception(GROUP_IN_USE));
    }
    let mut config = Map::new();
    config.insert("autoScalingGroupArn".into(), json!(arn));
    config.insert(
        "managedScaling".into(),
        managed_scaling(given.get("managedScaling"), None)?,
    );
    for (key, default) in [
        ("managedTerminationProtection", "DISABLED"),
        ("managedDraining", "ENABLED"),
    ] {
        let value = given.get(key).cloned().unwrap_or_else(|| json!(default));
        config.insert(key.into(), value);
    }
    check_switches(&config)?;
    Ok(Capacity::AutoScalingGroup(config))
}

fn check_launch_template(template: Option<&Json>) -> Result<(), ApiError> {
    let template = template
        .filter(|t| t.is_object())
        .ok_or_else(|| ApiError::invalid_parameter("instanceLaunchTemplate can not be blank."))?;
    required(template, "ec2InstanceProfileArn")?;
    if object(template, "networkConfiguration").is_none() {
        return Err(ApiError::invalid_parameter(
            "networkConfiguration can not be blank.",
        ));
    }
    Ok(())
}

/// `managedInstancesProvider`: it needs the cluster it will serve (the model: "This is required
/// for Managed instances").
fn managed_instances(ctx: &Ctx, request: &Json, given: &Json) -> Result<Capacity, ApiError> {
    let cluster = string(request, "cluster").ok_or_else(|| {
        ApiError::invalid_parameter(
            "cluster is required for a Managed Instances capacity provider.",
        )
    })?;
    let cluster = ctx
        .region
        .active_cluster(Some(cluster))
        .ok_or_else(ApiError::cluster_not_found)?
        .name
        .clone();
    required(given, "infrastructureRoleArn")?;
    check_launch_template(given.get("instanceLaunchTemplate"))?;
    let mut config = given.as_object().cloned().unwrap_or_default();
    if let Some(Json::Object(template)) = config.get_mut("instanceLaunchTemplate") {
        template
            .entry("capacityOptionType")
            .or_insert(json!("ON_DEMAND"));
    }
    Ok(Capacity::ManagedInstances { config, cluster })
}

fn capacity_of(ctx: &Ctx, request: &Json) -> Result<Capacity, ApiError> {
    let auto_scaling = request
        .get("autoScalingGroupProvider")
        .filter(|v| v.is_object());
    let managed = request
        .get("managedInstancesProvider")
        .filter(|v| v.is_object());
    match (auto_scaling, managed) {
        (Some(given), None) => auto_scaling_group(ctx, given),
        (None, Some(given)) => managed_instances(ctx, request, given),
        _ => Err(ApiError::invalid_parameter(
            "Specify exactly one of autoScalingGroupProvider and managedInstancesProvider.",
        )),
    }
}

/// The `CapacityProvider` shape; its status follows from when it was deleted.
fn render(provider: &CapacityProvider, now: f64, with_tags: bool) -> Json {
    let phase = provider.phase(now);
    let (key, config, kind) = match &provider.capacity {
        Capacity::AutoScalingGroup(config) => {
            ("autoScalingGroupProvider", config, "EC2_AUTOSCALING")
        }
        Capacity::ManagedInstances { config, .. } => {
            ("managedInstancesProvider", config, "MANAGED_INSTANCES")
        }
    };
    let status = match (phase, &provider.capacity) {
        (Phase::Deleted | Phase::Gone, _) => "INACTIVE",
        (Phase::Deleting, Capacity::ManagedInstances { .. }) => "DEPROVISIONING",
        _ => "ACTIVE",
    };
    let update_status = match phase {
        Phase::Active => provider.update_status,
        Phase::Deleting => Some("DELETE_IN_PROGRESS"),
        Phase::Deleted | Phase::Gone => Some("DELETE_COMPLETE"),
    };
    let mut out = json!({
        "capacityProviderArn": provider.arn,
        "name": provider.name,
        "status": status,
        "type": kind,
    });
    let optional = [
        (key, Some(Json::Object(config.clone()))),
        ("cluster", provider.scoped_cluster().map(Json::from)),
        ("updateStatus", update_status.map(Json::from)),
        (
            "updateStatusReason",
            provider.update_status_reason.clone().map(Json::from),
        ),
        (
            "tags",
            with_tags.then(|| Json::Array(provider.tags.clone())),
        ),
    ];
    let fields = out.as_object_mut().expect("an object");
    for (key, value) in optional {
        if let Some(value) = value {
            fields.insert(key.into(), value);
        }
    }
    out
}

fn render_built_in(region: &Region, name: &str, with_tags: bool) -> Json {
    let mut out = json!({
        "capacityProviderArn": region.arn(&format!("capacity-provider/{name}")),
        "name": name,
        "status": "ACTIVE",
        "type": name,
    });
    if with_tags {
        out["tags"] = json!([]);
    }
    out
}

pub fn create(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let name = required(request, "name")?.to_string();
    check_name(&name)?;
    if find(ctx.region, &name, ctx.now).is_some_and(|p| p.phase(ctx.now) != Phase::Deleted) {
        return Err(ApiError::client_exception(ALREADY_EXISTS));
    }
    let provider = CapacityProvider {
        arn: ctx.region.arn(&format!("capacity-provider/{name}")),
        capacity: capacity_of(ctx, request)?,
        name,
        update_status: None,
        update_status_reason: None,
        deleted_at: None,
        tags: tags(request)?,
    };
    let out = render(&provider, ctx.now, true);
    // A new provider of a deleted one's name takes its place.
    let now = ctx.now;
    ctx.region
        .capacity_providers
        .retain(|p| p.name != provider.name && p.phase(now) != Phase::Gone);
    ctx.region.capacity_providers.push(provider);
    Ok(json!({"capacityProvider": out}))
}

/// Every provider ECS describes in the region: the created ones, oldest first, then the
/// built-in ones.
fn all_names(region: &Region, now: f64) -> Vec<String> {
    region
        .capacity_providers
        .iter()
        .filter(|p| p.phase(now) != Phase::Gone)
        .map(|p| p.name.clone())
        .chain(BUILT_IN.iter().map(|name| name.to_string()))
        .collect()
}

pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let references = strings(request, "capacityProviders");
    if references.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "capacityProviders can have at most 100 items.",
        ));
    }
    if int(request, "maxResults").is_some_and(|n| !(1..=10).contains(&n)) {
        return Err(ApiError::invalid_parameter(
            "maxResults must be between 1 and 10.",
        ));
    }
    let with_tags = strings(request, "include").contains(&"TAGS");
    let associated_with = match string(request, "cluster") {
        Some(reference) => {
            let cluster = ctx
                .region
                .active_cluster(Some(reference))
                .ok_or_else(ApiError::cluster_not_found)?;
            Some(associated(ctx.region, cluster, ctx.now))
        }
        None => None,
    };
    let names: Vec<String> = if references.is_empty() {
        all_names(ctx.region, ctx.now)
    } else {
        references.iter().map(|r| name_of(r).to_string()).collect()
    };
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        if associated_with.as_ref().is_some_and(|a| !a.contains(&name)) {
            continue;
        }
        if BUILT_IN.contains(&name.as_str()) {
            found.push(render_built_in(ctx.region, &name, with_tags));
        } else if let Some(provider) = find(ctx.region, &name, ctx.now) {
            found.push(render(provider, ctx.now, with_tags));
        } else {
            let arn = ctx.region.arn(&format!("capacity-provider/{name}"));
            failures.push(failure(&arn, "MISSING"));
        }
    }
    let (items, next) = page(&found, request, 10)?;
    Ok(json!({"capacityProviders": items, "failures": failures, "nextToken": next}))
}

/// The new `autoScalingGroupProvider`: only what AutoScalingGroupProviderUpdate has changes.
fn updated_auto_scaling_group(
    config: &Map<String, Json>,
    given: &Json,
) -> Result<Map<String, Json>, ApiError> {
    let mut out = config.clone();
    if given.get("managedScaling").is_some() {
        let scaling = managed_scaling(given.get("managedScaling"), config.get("managedScaling"))?;
        out.insert("managedScaling".into(), scaling);
    }
    for key in ["managedTerminationProtection", "managedDraining"] {
        if let Some(value) = given.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    check_switches(&out)?;
    Ok(out)
}

/// The new `managedInstancesProvider`: the launch template's members are changed one by one,
/// so those UpdateManagedInstancesProviderConfiguration has not (capacityOptionType) stay.
fn updated_managed_instances(
    config: &Map<String, Json>,
    given: &Json,
) -> Result<Map<String, Json>, ApiError> {
    required(given, "infrastructureRoleArn")?;
    let template = object(given, "instanceLaunchTemplate")
        .ok_or_else(|| ApiError::invalid_parameter("instanceLaunchTemplate can not be blank."))?;
    let mut out = config.clone();
    for key in [
        "infrastructureRoleArn",
        "propagateTags",
        "infrastructureOptimization",
        "autoRepairConfiguration",
    ] {
        if let Some(value) = given.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(Json::Object(current)) = out.get_mut("instanceLaunchTemplate") {
        for (key, value) in template {
            current.insert(key.clone(), value.clone());
        }
    }
    Ok(out)
}

pub fn update(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let index = position_in_scope(ctx, request, "name")?;
    let provider = &ctx.region.capacity_providers[index];
    if provider.phase(ctx.now) != Phase::Active {
        return Err(ApiError::client_exception(DOES_NOT_EXIST));
    }
    let auto_scaling = request
        .get("autoScalingGroupProvider")
        .filter(|v| v.is_object());
    let managed = request
        .get("managedInstancesProvider")
        .filter(|v| v.is_object());
    let capacity = match (&provider.capacity, auto_scaling, managed) {
        (Capacity::AutoScalingGroup(config), Some(given), None) => {
            Capacity::AutoScalingGroup(updated_auto_scaling_group(config, given)?)
        }
        (Capacity::ManagedInstances { config, cluster }, None, Some(given)) => {
            Capacity::ManagedInstances {
                config: updated_managed_instances(config, given)?,
                cluster: cluster.clone(),
            }
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "Specify the settings of the capacity provider's own kind: autoScalingGroupProvider or managedInstancesProvider.",
            ));
        }
    };
    let provider = &mut ctx.region.capacity_providers[index];
    provider.capacity = capacity;
    provider.update_status = Some("UPDATE_COMPLETE");
    provider.update_status_reason = None;
    Ok(json!({"capacityProvider": render(provider, ctx.now, true)}))
}

/// The names of the providers in a strategy.
fn strategy_names(strategy: Option<&Json>) -> Vec<&str> {
    strategy
        .and_then(Json::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["capacityProvider"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The providers put on a cluster (CreateCluster, PutClusterCapacityProviders).
fn listed_on(cluster: &Cluster) -> Vec<&str> {
    cluster
        .config
        .get("capacityProviders")
        .and_then(Json::as_array)
        .map(|items| items.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

/// The ACTIVE Managed Instances providers created in the cluster `name`.
fn managed_instances_in(region: &Region, name: &str, now: f64) -> Vec<String> {
    region
        .capacity_providers
        .iter()
        .filter(|p| p.phase(now) == Phase::Active && p.scoped_cluster() == Some(name))
        .map(|p| p.name.clone())
        .collect()
}

/// Why ECS keeps a provider: the cluster it is associated with, or a service whose strategy
/// uses it. ECS answers such a deletion, but marks it DELETE_FAILED with the reason.
fn deletion_blocker(region: &Region, name: &str) -> Option<String> {
    let cluster = region
        .clusters
        .values()
        .find(|c| c.status == "ACTIVE" && listed_on(c).contains(&name));
    if let Some(cluster) = cluster {
        return Some(format!(
            "The capacity provider cannot be deleted because it is associated with cluster: {}. Remove the capacity provider from the cluster and try again.",
            cluster.name
        ));
    }
    let used = region.services.values().any(|s| {
        s.status != "INACTIVE"
            && strategy_names(s.config.get("capacityProviderStrategy")).contains(&name)
    });
    used.then(|| {
        "The capacity provider cannot be deleted because a service uses it in its capacity provider strategy. Update the service and try again.".to_string()
    })
}

pub fn delete(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let index = position_in_scope(ctx, request, "capacityProvider")?;
    let now = ctx.now;
    let phase = ctx.region.capacity_providers[index].phase(now);
    if phase == Phase::Deleted {
        return Err(ApiError::client_exception(DOES_NOT_EXIST));
    }
    // A second delete while one is in progress answers the same (the operation is idempotent).
    if phase == Phase::Active {
        let blocker = deletion_blocker(ctx.region, &ctx.region.capacity_providers[index].name);
        let provider = &mut ctx.region.capacity_providers[index];
        match blocker {
            Some(reason) => {
                provider.update_status = Some("DELETE_FAILED");
                provider.update_status_reason = Some(reason);
            }
            None => {
                provider.deleted_at = Some(now);
                provider.update_status_reason = None;
            }
        }
    }
    let provider = &ctx.region.capacity_providers[index];
    Ok(json!({"capacityProvider": render(provider, now, true)}))
}

/// The tags of a provider ECS still describes (TagResource and friends).
pub fn tags_of<'a>(region: &'a mut Region, arn: &str, now: f64) -> Option<&'a mut Vec<Json>> {
    let index = position(region, arn, now)?;
    Some(&mut region.capacity_providers[index].tags)
}

/// The names a cluster's strategies may use: the providers put on it, and the Managed Instances
/// providers created in it.
pub fn associated(region: &Region, cluster: &Cluster, now: f64) -> Vec<String> {
    listed_on(cluster)
        .into_iter()
        .map(str::to_string)
        .chain(managed_instances_in(region, &cluster.name, now))
        .collect()
}

/// Refuses a strategy that names a provider not associated with its cluster.
pub fn check_strategy(associated: &[String], strategy: Option<&Json>) -> Result<(), ApiError> {
    let stray = strategy_names(strategy)
        .into_iter()
        .any(|name| !associated.iter().any(|a| a == name));
    if stray {
        return Err(ApiError::invalid_parameter(NOT_ASSOCIATED));
    }
    Ok(())
}

/// A provider CreateCluster or PutClusterCapacityProviders may put on the cluster `name`: one
/// that exists, is not Managed Instances, and is on no other cluster.
fn check_associable(region: &Region, name: &str, provider: &str, now: f64) -> Result<(), ApiError> {
    if BUILT_IN.contains(&provider) {
        return Ok(());
    }
    let found = find(region, provider, now)
        .filter(|p| p.name == provider && p.phase(now) == Phase::Active)
        .ok_or_else(|| ApiError::invalid_parameter(NOT_FOUND))?;
    if found.scoped_cluster().is_some() {
        return Err(ApiError::invalid_parameter(MANAGED_INSTANCES_NOT_PUT));
    }
    let elsewhere = region
        .clusters
        .values()
        .any(|c| c.name != name && c.status == "ACTIVE" && listed_on(c).contains(&provider));
    if elsewhere {
        return Err(ApiError::invalid_parameter(ON_ANOTHER_CLUSTER));
    }
    Ok(())
}

/// Checks the `capacityProviders` and `defaultCapacityProviderStrategy` of CreateCluster or
/// PutClusterCapacityProviders for the cluster `name`.
pub fn check_cluster_request(
    region: &Region,
    name: &str,
    request: &Json,
    now: f64,
) -> Result<(), ApiError> {
    let listed = strings(request, "capacityProviders");
    for provider in &listed {
        check_associable(region, name, provider, now)?;
    }
    let mut usable: Vec<String> = listed.iter().map(|p| p.to_string()).collect();
    usable.extend(managed_instances_in(region, name, now));
    check_strategy(&usable, request.get("defaultCapacityProviderStrategy"))
}

/// Whether a service or a running task of the cluster uses the provider.
fn in_use(region: &Region, cluster: &Cluster, name: &str) -> bool {
    let by_service = region.services.values().any(|s| {
        s.cluster_arn == cluster.arn
            && s.status != "INACTIVE"
            && strategy_names(s.config.get("capacityProviderStrategy")).contains(&name)
    });
    by_service
        || region.tasks.values().any(|t| {
            t.cluster_arn == cluster.arn
                && t.is_live()
                && t.capacity_provider.as_deref() == Some(name)
        })
}

/// Refuses to take a provider off the cluster while its services or tasks use it.
pub fn check_removal(region: &Region, cluster: &Cluster, request: &Json) -> Result<(), ApiError> {
    let kept = strings(request, "capacityProviders");
    let removed_in_use = listed_on(cluster)
        .into_iter()
        .filter(|name| !kept.contains(name))
        .any(|name| in_use(region, cluster, name));
    if removed_in_use {
        return Err(ApiError::other("ResourceInUseException", IN_USE));
    }
    Ok(())
}

/// Whether Managed Instances providers created in the cluster are still there (DeleteCluster).
pub fn scoped_to(region: &Region, cluster: &str, now: f64) -> bool {
    region.capacity_providers.iter().any(|p| {
        p.scoped_cluster() == Some(cluster)
            && matches!(p.phase(now), Phase::Active | Phase::Deleting)
    })
}
