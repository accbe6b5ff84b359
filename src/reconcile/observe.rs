//! Observing ECS for a desired state, as cheaply as ECS allows.

use std::collections::BTreeMap;

use super::{ReconcileError, Reconciler};
use crate::diff::plan::{Desired, Observed, ServiceKey, TaskDefinitionSource};
use crate::ecs::{Ecs, EcsError, ObservedService, Ownership, tags};

fn observe_error(what: impl Into<String>) -> impl FnOnce(EcsError) -> ReconcileError {
    let what = what.into();
    move |source| ReconcileError::Observe { what, source }
}

impl<E: Ecs> Reconciler<E> {
    /// What ECS has of `desired`: clusters, services (ten per DescribeServices), the revisions
    /// that must be read, and, when pruning, the owned services of the source's clusters.
    pub async fn observe(
        &mut self,
        desired: &Desired,
        prune: bool,
    ) -> Result<Observed, ReconcileError> {
        let mut observed = Observed::default();
        self.observe_clusters(desired, &mut observed).await?;
        self.observe_services(desired, &mut observed).await?;
        self.observe_live_task_definitions(desired, &mut observed)
            .await?;
        self.observe_families(desired, &mut observed).await?;
        if prune {
            self.observe_owned(desired, &mut observed).await?;
        }
        Ok(observed)
    }

    async fn observe_clusters(
        &mut self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut unknown: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for cluster in &desired.clusters {
            let key = (cluster.region.clone(), cluster.name.clone());
            if self.stale_clusters.remove(&key) {
                self.clusters.remove(&key);
            }
            if !self.clusters.contains_key(&key) {
                unknown
                    .entry(cluster.region.clone())
                    .or_default()
                    .push(cluster.name.clone());
            }
        }
        for (region, names) in unknown {
            for chunk in names.chunks(100) {
                let found = self
                    .ecs
                    .describe_clusters(&region, chunk)
                    .await
                    .map_err(observe_error(format!("clusters in {region}")))?;
                for cluster in found.into_iter().filter(|c| c.status == "ACTIVE") {
                    self.clusters
                        .insert((region.clone(), cluster.name.clone()), cluster);
                }
            }
        }
        for cluster in &desired.clusters {
            let key = (cluster.region.clone(), cluster.name.clone());
            if let Some(found) = self.clusters.get(&key) {
                observed.clusters.insert(key, found.clone());
            }
        }
        Ok(())
    }

    async fn observe_services(
        &mut self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut by_cluster: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for service in &desired.services {
            by_cluster
                .entry((service.key.region.clone(), service.key.cluster.clone()))
                .or_default()
                .push(service.key.name.clone());
        }
        for ((region, cluster), names) in by_cluster {
            for chunk in names.chunks(10) {
                match self.ecs.describe_services(&region, &cluster, chunk).await {
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
                    Err(e) if e.code() == "ClusterNotFoundException" => {
                        self.stale_clusters
                            .insert((region.clone(), cluster.clone()));
                        break;
                    }
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
        &mut self,
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
            if !self.task_definitions.contains_key(&arn) {
                let described = self
                    .ecs
                    .describe_task_definition(&service.key.region, &arn)
                    .await
                    .map_err(observe_error(format!("task definition {arn}")))?;
                self.task_definitions.insert(arn.clone(), described);
            }
            observed
                .task_definitions
                .insert(arn.clone(), self.task_definitions[&arn].clone());
        }
        Ok(())
    }

    /// Standalone families: their latest revision, unless it is known to carry the hash.
    async fn observe_families(
        &mut self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        for td in &desired.task_definitions {
            let key = (td.region.clone(), td.family.clone());
            if let Some((hash, revision)) = self.families.get(&key)
                && *hash == td.hash
            {
                observed.families.insert(key, revision.clone());
                continue;
            }
            match self
                .ecs
                .describe_task_definition(&td.region, &td.family)
                .await
            {
                Ok(latest) => {
                    if latest.tags.get(tags::SPEC_HASH) == Some(&td.hash) {
                        self.families
                            .insert(key.clone(), (td.hash.clone(), latest.clone()));
                    }
                    observed.families.insert(key, latest);
                }
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
        &mut self,
        desired: &Desired,
        observed: &mut Observed,
    ) -> Result<(), ReconcileError> {
        let mut clusters: Vec<(String, String)> = desired
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

    /// Remembers a standalone family's revision at a hash (after registering or finding it).
    pub(super) fn remember_family(
        &mut self,
        region: &str,
        hash: &str,
        revision: crate::ecs::ObservedTaskDefinition,
    ) {
        self.families.insert(
            (region.to_string(), revision.family.clone()),
            (hash.to_string(), revision),
        );
    }

    pub(super) fn cached_revision(&self, arn: &str) -> Option<&crate::ecs::ObservedTaskDefinition> {
        self.task_definitions.get(arn)
    }

    pub(super) fn remember_cluster(&mut self, region: &str, cluster: crate::ecs::ObservedCluster) {
        self.clusters
            .insert((region.to_string(), cluster.name.clone()), cluster);
    }
}

/// The service's tags say it runs the revision the controller deployed, at `hash`.
fn proven(live: &ObservedService, hash: &str) -> bool {
    let deployed = live
        .tags
        .get(tags::TASK_DEFINITION)
        .is_some_and(|td| live.task_definition.ends_with(&format!("/{td}")));
    deployed && live.tags.get(tags::SPEC_HASH).map(String::as_str) == Some(hash)
}
