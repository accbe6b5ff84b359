//! Coalesces the DescribeServices calls of concurrent reconciles. In CRD mode each object is
//! reconciled on its own, but ECS takes ten services per call: the calls that arrive for one
//! cluster within a short window share one DescribeServices, so a resync of N services costs
//! ⌈N/10⌉ calls per cluster, as a Git-mode sweep does.
//!
//! ```text
//! reconcile A ─┐                      ┌─► A's services
//! reconcile B ─┼─► open batch (≤ 10) ─┼─► B's services      one DescribeServices
//! reconcile C ─┘     window elapses   └─► C's services
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::api::AccountRegion;
use crate::ecs::{Ecs, EcsError, ObservedService};

/// ECS's limit of services per DescribeServices.
const PER_CALL: usize = 10;

type Answer = Result<Vec<ObservedService>, EcsError>;

#[derive(Default)]
struct Batch {
    names: Vec<String>,
    waiters: Vec<(Vec<String>, oneshot::Sender<Answer>)>,
}

type Open = Arc<Mutex<Batch>>;

pub struct Batcher {
    window: Duration,
    /// The batch still taking names, per (account and region, cluster).
    open: Arc<Mutex<HashMap<(AccountRegion, String), Open>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Batcher {
    pub fn new(window: Duration) -> Batcher {
        Batcher {
            window,
            open: Arc::default(),
        }
    }

    /// The services of `names` (at most ten), described together with other callers'.
    pub async fn describe<E: Ecs + 'static>(
        &self,
        ecs: &Arc<E>,
        region: &AccountRegion,
        cluster: &str,
        names: &[String],
    ) -> Answer {
        let key = (region.clone(), cluster.to_string());
        let (answer, started) = self.join(&key, names);
        if let Some(batch) = started {
            // The flush runs on its own task: a caller that gives up strands no other.
            let (ecs, open, window) = (ecs.clone(), self.open.clone(), self.window);
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                {
                    let mut open = lock(&open);
                    if open.get(&key).is_some_and(|b| Arc::ptr_eq(b, &batch)) {
                        open.remove(&key);
                    }
                }
                flush(&*ecs, &key, &batch).await;
            });
        }
        answer
            .await
            .unwrap_or_else(|_| Err(EcsError::empty_answer("DescribeServices", "services")))
    }

    /// Adds `names` to the open batch (or a new one, returned when this caller started it).
    fn join(
        &self,
        key: &(AccountRegion, String),
        names: &[String],
    ) -> (oneshot::Receiver<Answer>, Option<Open>) {
        let mut open = lock(&self.open);
        let current = open
            .get(key)
            .filter(|b| lock(b).names.len() + names.len() <= PER_CALL)
            .cloned();
        let (batch, started) = match current {
            Some(batch) => (batch, false),
            None => {
                let batch = Open::default();
                open.insert(key.clone(), batch.clone());
                (batch, true)
            }
        };
        let (tx, rx) = oneshot::channel();
        let mut inner = lock(&batch);
        for name in names {
            if !inner.names.contains(name) {
                inner.names.push(name.clone());
            }
        }
        inner.waiters.push((names.to_vec(), tx));
        // Full: the next caller opens a new one.
        if inner.names.len() >= PER_CALL {
            open.remove(key);
        }
        drop(inner);
        (rx, started.then_some(batch))
    }
}

/// One DescribeServices for the batch, each caller answered with its own services.
async fn flush<E: Ecs>(ecs: &E, key: &(AccountRegion, String), batch: &Open) {
    let Batch { names, waiters } = std::mem::take(&mut *lock(batch));
    if waiters.is_empty() {
        return;
    }
    let result = ecs.describe_services(&key.0, &key.1, &names).await;
    for (wanted, tx) in waiters {
        let answer = match &result {
            Ok(found) => Ok(found
                .iter()
                .filter(|s| wanted.contains(&s.name))
                .cloned()
                .collect()),
            Err(e) => Err(e.replicate()),
        };
        let _ = tx.send(answer);
    }
}
