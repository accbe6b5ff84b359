//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): of several
//! replicas only the leader reconciles and writes; a standby takes over within the lease's
//! duration when the leader dies, and a leader that stops releases the lease at once.

use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// Who this replica is (the pod name and a random suffix).
    pub identity: String,
    /// How long a lease holds without renewal.
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("leader election on Lease {namespace}/{name}: {source}")]
pub struct LeaseError {
    namespace: String,
    name: String,
    #[source]
    source: LeaseManagerError,
}

/// This replica's part in the election.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// This pod's name (`HOSTNAME` in Kubernetes), with a random suffix so that two processes
/// on one host are told apart.
pub fn identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ecs-gitops".into());
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{host}-{:08x}", random as u32)
}

impl Leadership {
    /// Joins the election (creating the Lease if it is not there).
    pub async fn join(
        client: kube::Client,
        config: &LeaseConfig,
    ) -> Result<Leadership, LeaseError> {
        let error = |source| LeaseError {
            namespace: config.namespace.clone(),
            name: config.name.clone(),
            source,
        };
        let duration = config.duration.as_secs().max(2);
        // Renewed a third of the duration before it runs out.
        let grace = (duration / 3).max(1);
        let manager = LeaseManagerBuilder::new(client, &config.name)
            .with_namespace(&config.namespace)
            .with_identity(&config.identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .map_err(error)?;
        let (leading, task) = manager.watch().await;
        Ok(Leadership { leading, task })
    }

    /// Waits until this replica leads (false: the election ended).
    pub async fn acquired(&mut self) -> bool {
        self.leading.wait_for(|leading| *leading).await.is_ok()
    }

    /// Waits until this replica no longer leads.
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }

    /// Leaves the election, releasing the lease if held, so a standby takes over at once.
    pub async fn release(self) {
        drop(self.leading);
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the leader election task failed"),
            Err(_) => tracing::warn!("releasing the leader lease took too long"),
        }
    }
}
