//! Observing ECS for a desired state, as cheaply as ECS allows.

use std::collections::BTreeMap;

use super::{ReconcileError, Reconciler};
use crate::api::AccountRegion;
use crate::diff::plan::{Desired, Observed, ServiceKey, TaskDefinitionSource};
use crate::ecs::{Ecs, EcsError, ObservedService, ObservedTaskDefinition, Ownership, tags};

fn observe_error(what: impl Into<String>) -> impl FnOnce(EcsError) -> ReconcileError {
    let what = what.into();
    move |source| ReconcileError::Observe { what, source }
}

impl<E: Ecs + 'static> Reconciler<E> {
    /// What ECS has of `desired`: clusters (a hundred per DescribeClusters), services (ten
    /// per DescribeServices), the revisions that must be read, the newest revision of each
    /// standalone family, and, when pruning, the owned services of the source's clusters.
    pub async fn observe(
        &self,
        desired: &Desired,
        prune: bool,
    ) -> Result<Observed, ReconcileError> {
        let mut observed = Observed::default();
        self.observe_capacity_providers(desired, prune, &mut observed)
            .await?;
        self.observe_clusters(desired, &mut observed).await?;
        self.observe_services(desired, &mut observed).await?;
        let rolling = observed
            .services
            .iter_mut()
            .map(|(key, service)| (&key.region, service));
        describe_native_rollouts(&*self.ecs, rolling, false)
            .await
            .map_err(observe_error("service deployments"))?;
        self.observe_live_task_definitions(desired, &mut observed)
            .await?;
        self.observe_families(desired, &mut observed).await?;
        if prune {
            self.observe_owned(desired, &mut observed).await?;
        }
        Ok(observed)
    }

    /// Every desired capacity provider (a hundred per call); when pruning, every one of the
    /// source's regions, for this owner's inventory.
    async fn observe_capacity_providers(
        &self,
        desired: &Desired,
        prune: bool,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut by_region: BTreeMap<&AccountRegion, Vec<String>> = BTreeMap::new();
        for provider in &desired.capacity_providers {
            by_region
                .entry(&provider.region)
                .or_default()
                .push(provider.name.clone());
        }
        for (region, names) in &by_region {
            for chunk in names.chunks(100) {
                let found = self
                    .ecs
                    .describe_capacity_providers(region, chunk)
                    .await
                    .map_err(observe_error(format!("capacity providers in {region}")))?;
                for provider in found.into_iter().filter(|p| p.usable()) {
                    observed
                        .capacity_providers
                        .insert(((*region).clone(), provider.name.clone()), provider);
                }
            }
        }
        if !prune {
            return Ok(());
        }
        let regions: std::collections::BTreeSet<&AccountRegion> = desired
            .clusters
            .iter()
            .map(|c| &c.region)
            .chain(desired.services.iter().map(|s| &s.key.region))
            .chain(by_region.keys().copied())
            .collect();
        for region in regions {
            let all = self
                .ecs
                .describe_capacity_providers(region, &[])
                .await
                .map_err(observe_error(format!("capacity providers in {region}")))?;
            observed.owned_capacity_providers.extend(
                all.into_iter()
                    .filter(|p| Ownership::of(&p.tags, &desired.owner) == Ownership::Ours)
                    .map(|p| (region.clone(), p)),
            );
        }
        Ok(())
    }

    /// Every desired cluster, read again each time: its settings are compared too.
    async fn observe_clusters(
        &self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut by_region: BTreeMap<&AccountRegion, Vec<String>> = BTreeMap::new();
        for cluster in &desired.clusters {
            by_region
                .entry(&cluster.region)
                .or_default()
                .push(cluster.name.clone());
        }
        for (region, names) in by_region {
            for chunk in names.chunks(100) {
                let found = self
                    .ecs
                    .describe_clusters(region, chunk)
                    .await
                    .map_err(observe_error(format!("clusters in {region}")))?;
                for cluster in found.into_iter().filter(|c| c.status == "ACTIVE") {
                    observed
                        .clusters
                        .insert((region.clone(), cluster.name.clone()), cluster);
                }
            }
        }
        Ok(())
    }

    async fn observe_services(
        &self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut by_cluster: BTreeMap<(AccountRegion, String), Vec<String>> = BTreeMap::new();
        for service in &desired.services {
            by_cluster
                .entry((service.key.region.clone(), service.key.cluster.clone()))
                .or_default()
                .push(service.key.name.clone());
        }
        for ((region, cluster), names) in by_cluster {
            for chunk in names.chunks(10) {
                match self.describe_services(&region, &cluster, chunk).await {
                    Ok(found) => {
                        for service in found {
                            let key = ServiceKey {
                                region: region.clone(),
                                cluster: cluster.clone(),
                                name: service.name.clone(),
                            };
                            observed.services.insert(key, service);
                        }
                    }
                    // Not created yet: its services are all to create.
                    Err(e) if e.code() == "ClusterNotFoundException" => break,
                    Err(e) => {
                        return Err(observe_error(format!(
                            "services of cluster {cluster} in {region}"
                        ))(e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Live revisions are read only where the service's tags do not already prove them, or
    /// where ignored container fields must be taken from them; each ARN once.
    async fn observe_live_task_definitions(
        &self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        for service in &desired.services {
            let TaskDefinitionSource::Managed { hash, .. } = &service.task_definition else {
                continue;
            };
            let Some(live) = observed.services.get(&service.key) else {
                continue;
            };
            if live.status == "INACTIVE" || live.task_definition.is_empty() {
                continue;
            }
            if proven(live, hash) && !service.ignore.iter().any(|i| i.is_container()) {
                continue;
            }
            let arn = live.task_definition.clone();
            let described = match self.cached_revision(&arn) {
                Some(cached) => cached,
                None => {
                    let described = self
                        .ecs
                        .describe_task_definition(&service.key.region, &arn)
                        .await
                        .map_err(observe_error(format!("task definition {arn}")))?;
                    self.remember_revision(described.clone());
                    described
                }
            };
            observed.task_definitions.insert(arn, described);
        }
        Ok(())
    }

    /// Standalone families: their newest ACTIVE revision, read each time, so that one
    /// registered behind the controller's back shows as drift.
    async fn observe_families(
        &self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        for td in &desired.task_definitions {
            match self
                .ecs
                .describe_task_definition(&td.region, &td.family)
                .await
            {
                Ok(latest) => {
                    observed
                        .families
                        .insert((td.region.clone(), td.family.clone()), latest);
                }
                // No such family yet.
                Err(e) if e.code() == "ClientException" => {}
                Err(e) => {
                    return Err(observe_error(format!(
                        "task definition family {}",
                        td.family
                    ))(e));
                }
            }
        }
        Ok(())
    }

    async fn observe_owned(
        &self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut clusters: Vec<(AccountRegion, String)> = desired
            .services
            .iter()
            .map(|s| (s.key.region.clone(), s.key.cluster.clone()))
            .chain(
                desired
                    .clusters
                    .iter()
                    .map(|c| (c.region.clone(), c.name.clone())),
            )
            .collect();
        clusters.sort();
        clusters.dedup();
        for (region, cluster) in clusters {
            let arns = match self.ecs.list_services(&region, &cluster).await {
                Ok(arns) => arns,
                Err(e) if e.code() == "ClusterNotFoundException" => continue,
                Err(e) => return Err(observe_error(format!("services of cluster {cluster}"))(e)),
            };
            let unseen: Vec<String> = arns
                .iter()
                .filter_map(|arn| arn.rsplit('/').next())
                .filter(|name| {
                    let key = ServiceKey {
                        region: region.clone(),
                        cluster: cluster.clone(),
                        name: name.to_string(),
                    };
                    !observed.services.contains_key(&key)
                })
                .map(str::to_string)
                .collect();
            for chunk in unseen.chunks(10) {
                let found = self
                    .ecs
                    .describe_services(&region, &cluster, chunk)
                    .await
                    .map_err(observe_error(format!("services of cluster {cluster}")))?;
                let ours = found
                    .into_iter()
                    .filter(|s| s.ownership(&desired.owner) == Ownership::Ours);
                for service in ours {
                    let key = ServiceKey {
                        region: region.clone(),
                        cluster: cluster.clone(),
                        name: service.name.clone(),
                    };
                    observed.owned.push((key, service));
                }
            }
        }
        Ok(())
    }

    /// A revision described before (revisions never change).
    pub(super) fn cached_revision(&self, arn: &str) -> Option<ObservedTaskDefinition> {
        let cache = self
            .task_definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.get(arn).cloned()
    }

    pub(super) fn remember_revision(&self, revision: ObservedTaskDefinition) {
        let mut cache = self
            .task_definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.insert(revision.arn.clone(), revision);
    }
}

/// Describes the current service deployment of each service that rolls out with a native
/// strategy (BLUE_GREEN, LINEAR, CANARY) and is rolling out now: its status and lifecycle
/// stage are what ECS reports those rollouts by. Twenty per call; nothing when none rolls.
/// `followed` services are described even when ECS is done with them (a rollout being
/// followed ends there).
pub(super) async fn describe_native_rollouts<'a, E: Ecs>(
    ecs: &E,
    services: impl Iterator<Item = (&'a AccountRegion, &'a mut ObservedService)>,
    followed: bool,
) -> Result<(), EcsError> {
    let mut by_region: BTreeMap<&AccountRegion, Vec<&mut ObservedService>> = BTreeMap::new();
    for (region, service) in services {
        let rolling = service
            .deployments
            .iter()
            .any(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"));
        if (rolling || followed)
            && service.native_strategy().is_some()
            && service.current_service_deployment.is_some()
        {
            by_region.entry(region).or_default().push(service);
        }
    }
    for (region, mut services) in by_region {
        for chunk in services.chunks_mut(20) {
            let arns: Vec<String> = chunk
                .iter()
                .filter_map(|s| s.current_service_deployment.clone())
                .collect();
            let described = ecs.describe_service_deployments(region, &arns).await?;
            for service in chunk.iter_mut() {
                service.service_deployment = described
                    .iter()
                    .find(|d| Some(&d.arn) == service.current_service_deployment.as_ref())
                    .cloned();
            }
        }
    }
    Ok(())
}

/// The service's tags say it runs the revision the controller deployed, at `hash`.
fn proven(live: &ObservedService, hash: &str) -> bool {
    let deployed = live
        .tags
        .get(tags::TASK_DEFINITION)
        .is_some_and(|td| live.task_definition.ends_with(&format!("/{td}")));
    deployed && live.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(hash)
}
