//! What an operator does by hand beside the controller: `ecs-gitops rollout stop`.

use std::path::PathBuf;

use crate::cli::EcsArgs;
use crate::commands::{ConnectError, accounts_ok, connect, load, owner_of};
use crate::diff::plan::Desired;
use crate::ecs::{Ecs, EcsError, Ownership};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("the manifests are invalid (see above): nothing was done")]
    Invalid,
    #[error("no EcsService \"{wanted}\" in these manifests; they define: {known}")]
    NotFound { wanted: String, known: String },
    #[error("service {0} does not exist in ECS")]
    NoService(String),
    #[error("service {arn} is {ownership}: only its owner's rollouts are stopped here")]
    NotOwned { arn: String, ownership: String },
    #[error(
        "service {0} has no rollout in progress (its newest service deployment is done or missing)"
    )]
    NoRollout(String),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Ecs(#[from] EcsError),
}

/// Stops the service's rollout in progress, rolling back; says what was stopped.
pub async fn rollout_stop(
    object: &str,
    paths: &[PathBuf],
    args: &EcsArgs,
    max_file_size: u64,
) -> Result<String, OperatorError> {
    let mut parsed = load(paths, max_file_size).ok_or(OperatorError::Invalid)?;
    let (ecs, _simulator) = connect(args).await?;
    if !accounts_ok(&mut parsed, &ecs) {
        return Err(OperatorError::Invalid);
    }
    let owner = owner_of(args, paths);
    let desired = Desired::from_manifests(&parsed.manifests, ecs.default_region(), owner.clone());
    let wanted = object.strip_prefix("EcsService/").unwrap_or(object);
    let Some(service) = desired.services.iter().find(|s| s.object.name == wanted) else {
        let known: Vec<String> = desired
            .services
            .iter()
            .map(|s| s.object.to_string())
            .collect();
        return Err(OperatorError::NotFound {
            wanted: object.to_string(),
            known: if known.is_empty() {
                "no EcsService".into()
            } else {
                known.join(", ")
            },
        });
    };
    let key = &service.key;
    let live = ecs
        .describe_services(&key.region, &key.cluster, std::slice::from_ref(&key.name))
        .await?
        .pop()
        .filter(|s| s.status != "INACTIVE")
        .ok_or_else(|| OperatorError::NoService(format!("{}/{}", key.cluster, key.name)))?;
    match live.ownership(&owner) {
        Ownership::Ours | Ownership::Legacy => {}
        other => {
            return Err(OperatorError::NotOwned {
                arn: live.arn.clone(),
                ownership: match other {
                    Ownership::Theirs(them) => format!("owned by {them}"),
                    _ => "not managed by ecs-gitops".into(),
                },
            });
        }
    }
    let arn = live
        .current_service_deployment
        .clone()
        .ok_or_else(|| OperatorError::NoRollout(live.arn.clone()))?;
    let deployment = ecs
        .describe_service_deployments(&key.region, std::slice::from_ref(&arn))
        .await?
        .pop();
    if deployment.is_none_or(|d| !matches!(d.status.as_str(), "PENDING" | "IN_PROGRESS")) {
        return Err(OperatorError::NoRollout(live.arn));
    }
    ecs.stop_service_deployment(&key.region, &arn).await?;
    Ok(format!(
        "{}: asked ECS to stop service deployment {arn} and roll back to the last good revision; the controller leaves this spec quarantined until the manifest changes",
        service.object
    ))
}
