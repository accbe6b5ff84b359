//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster, UpdateCluster,
//! PutClusterCapacityProviders.

use serde_json::{Map, Value as Json, json};

use super::capacity_providers::{check_cluster_request, check_removal, scoped_to};
use super::{Ctx, failure, page, string, strings, tags};
use crate::sim::error::ApiError;
use crate::sim::state::{Cluster, Region};

const CONFIG_KEYS: &[&str] = &[
    "settings",
    "configuration",
    "capacityProviders",
    "defaultCapacityProviderStrategy",
    "serviceConnectDefaults",
];

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn create(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let name = string(request, "clusterName")
        .unwrap_or("default")
        .to_string();
    if !valid_name(&name) {
        return Err(ApiError::invalid_parameter(
            "Cluster name can only contain letters, numbers, hyphens and underscores, up to 255.",
        ));
    }
    if let Some(existing) = ctx
        .region
        .clusters
        .get(&name)
        .filter(|c| c.status == "ACTIVE")
    {
        // ECS answers a repeated CreateCluster with the existing cluster.
        return Ok(json!({"cluster": render(ctx.region, existing, true)}));
    }
    check_cluster_request(ctx.region, &name, request, ctx.now)?;
    let mut config = Map::new();
    for key in CONFIG_KEYS {
        if let Some(value) = request.get(*key) {
            config.insert(key.to_string(), value.clone());
        }
    }
    config
        .entry("settings")
        .or_insert_with(|| json!([{"name": "containerInsights", "value": "disabled"}]));
    config
        .entry("capacityProviders")
        .or_insert_with(|| json!([]));
    config
        .entry("defaultCapacityProviderStrategy")
        .or_insert_with(|| json!([]));
    let cluster = Cluster {
        arn: ctx.region.arn(&format!("cluster/{name}")),
        name: name.clone(),
        status: "ACTIVE".into(),
        config,
        tags: tags(request)?,
    };
    let out = render(ctx.region, &cluster, true);
    ctx.region.clusters.insert(name, cluster);
    Ok(json!({"cluster": out}))
}

fn render(region: &Region, cluster: &Cluster, with_tags: bool) -> Json {
    let services = region
        .services
        .values()
        .filter(|s| s.cluster_arn == cluster.arn && s.status == "ACTIVE")
        .count();
    let (mut running, mut pending) = (0, 0);
    for task in region
        .tasks
        .values()
        .filter(|t| t.cluster_arn == cluster.arn && t.is_live())
    {
        match task.last_status {
            "RUNNING" => running += 1,
            "PROVISIONING" | "PENDING" => pending += 1,
            _ => {}
        }
    }
    let mut out = cluster.config.clone();
    out.extend([
        ("clusterArn".into(), json!(cluster.arn)),
        ("clusterName".into(), json!(cluster.name)),
        ("status".into(), json!(cluster.status)),
        ("registeredContainerInstancesCount".into(), json!(0)),
        ("runningTasksCount".into(), json!(running)),
        ("pendingTasksCount".into(), json!(pending)),
        ("activeServicesCount".into(), json!(services)),
        ("statistics".into(), json!([])),
    ]);
    if with_tags {
        out.insert("tags".into(), Json::Array(cluster.tags.clone()));
    }
    Json::Object(out)
}

pub fn describe(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let mut names = strings(request, "clusters");
    if names.is_empty() {
        names.push("default");
    }
    if names.len() > 100 {
        return Err(ApiError::invalid_parameter(
            "clusters can have at most 100 items.",
        ));
    }
    let with_tags = strings(request, "include").contains(&"TAGS");
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for reference in names {
        match ctx
            .region
            .clusters
            .get(Region::cluster_name(Some(reference)))
        {
            Some(cluster) => clusters.push(render(ctx.region, cluster, with_tags)),
            None => failures.push(failure(
                &ctx.region.arn(&format!(
                    "cluster/{}",
                    Region::cluster_name(Some(reference))
                )),
                "MISSING",
            )),
        }
    }
    Ok(json!({"clusters": clusters, "failures": failures}))
}

pub fn list(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let arns: Vec<String> = ctx
        .region
        .clusters
        .values()
        .filter(|c| c.status == "ACTIVE")
        .map(|c| c.arn.clone())
        .collect();
    let (items, next) = page(&arns, request, 100)?;
    Ok(json!({"clusterArns": items, "nextToken": next}))
}

pub fn delete(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    let name = Region::cluster_name(string(request, "cluster")).to_string();
    let cluster = ctx
        .region
        .active_cluster(Some(&name))
        .ok_or_else(ApiError::cluster_not_found)?;
    let arn = cluster.arn.clone();
    if ctx
        .region
        .services
        .values()
        .any(|s| s.cluster_arn == arn && s.status != "INACTIVE")
    {
        return Err(ApiError::other(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    if ctx
        .region
        .tasks
        .values()
        .any(|t| t.cluster_arn == arn && t.is_live())
    {
        return Err(ApiError::other(
            "ClusterContainsTasksException",
            "The Cluster cannot be deleted while Tasks are active.",
        ));
    }
    if scoped_to(ctx.region, &name, ctx.now) {
        return Err(ApiError::client_exception(
            "The Cluster cannot be deleted while Cluster Scoped Capacity Providers are attached to the cluster.",
        ));
    }
    let mut cluster = ctx.region.clusters.remove(&name).expect("found above");
    cluster.status = "INACTIVE".into();
    Ok(json!({"cluster": render(ctx.region, &cluster, false)}))
}

pub fn update(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    modify(
        ctx,
        request,
        &["settings", "configuration", "serviceConnectDefaults"],
    )
}

pub fn put_capacity_providers(ctx: &mut Ctx, request: &Json) -> Result<Json, ApiError> {
    for key in ["capacityProviders", "defaultCapacityProviderStrategy"] {
        if request.get(key).is_none() {
            return Err(ApiError::invalid_parameter(format!(
                "{key} can not be null."
            )));
        }
    }
    let name = Region::cluster_name(string(request, "cluster")).to_string();
    let cluster = ctx
        .region
        .active_cluster(Some(&name))
        .ok_or_else(ApiError::cluster_not_found)?;
    check_removal(ctx.region, cluster, request)?;
    check_cluster_request(ctx.region, &name, request, ctx.now)?;
    modify(
        ctx,
        request,
        &["capacityProviders", "defaultCapacityProviderStrategy"],
    )
}

fn modify(ctx: &mut Ctx, request: &Json, keys: &[&str]) -> Result<Json, ApiError> {
    let name = Region::cluster_name(string(request, "cluster")).to_string();
    ctx.region
        .active_cluster(Some(&name))
        .ok_or_else(ApiError::cluster_not_found)?;
    let cluster = ctx.region.clusters.get_mut(&name).expect("found above");
    for key in keys {
        if let Some(value) = request.get(*key) {
            cluster.config.insert(key.to_string(), value.clone());
        }
    }
    let cluster = cluster.clone();
    Ok(json!({"cluster": render(ctx.region, &cluster, false)}))
}
