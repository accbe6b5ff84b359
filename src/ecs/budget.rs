//! The API budget: one token bucket per account+region and ECS throttling category, shared by
//! all concurrent work, so that the controller never trips ECS's throttling and slows down
//! gracefully when something else in the account spends the same buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::AccountRegion;

/// (category, burst, sustained per second) of an ECS action, as "Request throttling for the
/// Amazon ECS API" documents them.
pub fn category(operation: &str) -> (&'static str, f64, f64) {
    match operation {
        "DescribeServices" | "ListServices" => ("services-read", 100.0, 20.0),
        "CreateService" | "UpdateService" | "DeleteService" | "StopServiceDeployment" => {
            ("services-write", 50.0, 5.0)
        }
        "RegisterTaskDefinition" | "DeregisterTaskDefinition" => {
            ("task-definitions-write", 20.0, 1.0)
        }
        "DeleteTaskDefinitions" => ("task-definitions-delete", 5.0, 1.0),
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            ("task-definitions-read", 50.0, 20.0)
        }
        "DescribeTasks" | "ListTasks" => ("tasks-read", 100.0, 20.0),
        "RunTask" | "StopTask" => ("tasks-write", 100.0, 40.0),
        "DescribeServiceDeployments" | "ListServiceDeployments" => {
            ("service-deployments", 50.0, 20.0)
        }
        "DescribeClusters" | "ListClusters" => ("clusters-read", 50.0, 20.0),
        "CreateCluster" | "UpdateCluster" | "DeleteCluster" => ("clusters-write", 20.0, 1.0),
        "TagResource" | "UntagResource" => ("tags-write", 20.0, 10.0),
        _ => ("other", 20.0, 20.0),
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    burst: f64,
    /// Tokens per second, scaled.
    rate: f64,
}

impl Bucket {
    /// Its tokens at `now`: refilled at its rate, up to its burst.
    fn refill(&mut self, now: Instant) {
        self.tokens = (self.tokens + now.duration_since(self.updated).as_secs_f64() * self.rate)
            .min(self.burst);
        self.updated = now;
    }
}

/// How full one bucket is, for the status page.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketLevel {
    pub region: String,
    /// The throttling category (`services-read`, …).
    pub category: &'static str,
    pub burst: f64,
    /// Refill per second, as scaled.
    pub rate: f64,
    /// Spent and not yet refilled: `burst - tokens`.
    pub in_use: f64,
}

#[derive(Debug)]
pub struct Budget {
    /// Multiplies the refill rates (a simulator running faster than real time refills faster).
    scale: f64,
    buckets: Mutex<HashMap<(AccountRegion, &'static str), Bucket>>,
}

impl Budget {
    pub fn new(scale: f64) -> Budget {
        Budget {
            scale,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `operation` may be called in an account and region, and takes its token.
    pub async fn acquire(&self, at: &AccountRegion, operation: &str) {
        while let Some(wait) = self.try_take(at, operation) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token, or says how long until one is there.
    fn try_take(&self, at: &AccountRegion, operation: &str) -> Option<Duration> {
        let (name, burst, rate) = category(operation);
        let rate = rate * self.scale;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry((at.clone(), name)).or_insert(Bucket {
            tokens: burst,
            updated: now,
            burst,
            rate,
        });
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

impl Budget {
    /// Every bucket used so far, as full as it is now; the most spent first.
    pub fn levels(&self) -> Vec<BucketLevel> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut levels: Vec<BucketLevel> = buckets
            .iter_mut()
            .map(|((region, category), bucket)| {
                bucket.refill(now);
                BucketLevel {
                    region: region.to_string(),
                    category,
                    burst: bucket.burst,
                    rate: bucket.rate,
                    in_use: bucket.burst - bucket.tokens,
                }
            })
            .collect();
        levels.sort_by(|a, b| {
            (b.in_use / b.burst)
                .total_cmp(&(a.in_use / a.burst))
                .then_with(|| (&a.region, a.category).cmp(&(&b.region, b.category)))
        });
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(account: Option<&str>, region: &str) -> AccountRegion {
        AccountRegion::resolve(account, Some(region), region)
    }

    #[test]
    fn burst_then_the_sustained_rate() {
        let budget = Budget::new(1.0);
        let r = at(None, "r");
        for _ in 0..20 {
            assert!(budget.try_take(&r, "RegisterTaskDefinition").is_none());
        }
        let wait = budget.try_take(&r, "RegisterTaskDefinition").unwrap();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Categories, regions and accounts have their own buckets.
        assert!(budget.try_take(&r, "DescribeServices").is_none());
        assert!(
            budget
                .try_take(&at(None, "other"), "RegisterTaskDefinition")
                .is_none()
        );
        assert!(
            budget
                .try_take(&at(Some("prod"), "r"), "RegisterTaskDefinition")
                .is_none()
        );
    }

    #[test]
    fn levels_say_what_is_spent_per_bucket() {
        let budget = Budget::new(1.0);
        for _ in 0..10 {
            assert!(budget.try_take(&at(None, "r"), "CreateService").is_none());
        }
        assert!(
            budget
                .try_take(&at(None, "r"), "DescribeServices")
                .is_none()
        );
        let levels = budget.levels();
        let spent: Vec<(&str, f64, bool)> = levels
            .iter()
            .map(|l| (l.category, l.burst, (0.9..=10.0).contains(&l.in_use)))
            .collect();
        // 10 of 50 (refilling 5/s) before 1 of 100: the fuller bucket first.
        assert_eq!(
            spent,
            [
                ("services-write", 50.0, true),
                ("services-read", 100.0, true)
            ]
        );
    }

    #[tokio::test]
    async fn acquire_waits_for_a_token() {
        let budget = Budget::new(100.0);
        let r = at(None, "r");
        for _ in 0..20 {
            budget.acquire(&r, "RegisterTaskDefinition").await;
        }
        let start = Instant::now();
        budget.acquire(&r, "RegisterTaskDefinition").await;
        // 1/s × 100 → a token every 10 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(5),
            "{:?}",
            start.elapsed()
        );
    }
}
