//! ECS's request throttling: a token bucket per account, region and category of actions,
//! with the rates of "Request throttling for the Amazon ECS API". The clock's speed factor
//! scales the refill rate, so a fast simulation throttles as ECS would in its own time.

use std::collections::HashMap;
use std::time::Instant;

/// (category, burst, sustained per second) of an operation.
pub fn category(operation: &str) -> (&'static str, f64, f64) {
    match operation {
        "DescribeServices" | "ListServices" => ("services-read", 100.0, 20.0),
        "CreateService" | "UpdateService" | "DeleteService" => ("services-write", 50.0, 5.0),
        "RegisterTaskDefinition" | "DeregisterTaskDefinition" => {
            ("task-definitions-write", 20.0, 1.0)
        }
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            ("task-definitions-read", 50.0, 20.0)
        }
        "DeleteTaskDefinitions" => ("task-definitions-delete", 5.0, 1.0),
        "DescribeServiceDeployments" | "ListServiceDeployments" => {
            ("service-deployments", 50.0, 20.0)
        }
        "DescribeServiceRevisions" => ("service-revisions", 50.0, 20.0),
        "DescribeTasks" | "ListTasks" => ("tasks-read", 100.0, 20.0),
        "RunTask" | "StopTask" => ("tasks-write", 100.0, 40.0),
        "DescribeClusters" | "ListClusters" => ("clusters-read", 50.0, 20.0),
        "CreateCluster"
        | "DeleteCluster"
        | "UpdateCluster"
        | "PutClusterCapacityProviders"
        | "UpdateClusterSettings" => ("clusters-write", 20.0, 1.0),
        "TagResource" | "UntagResource" => ("tags-write", 20.0, 10.0),
        "ListTagsForResource" => ("tags-read", 50.0, 20.0),
        _ => ("other", 20.0, 20.0),
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of every account and region.
pub struct Throttle {
    enabled: bool,
    speed: f64,
    buckets: HashMap<(String, String, &'static str), Bucket>,
}

impl Throttle {
    pub fn new(enabled: bool, speed: f64) -> Throttle {
        Throttle {
            enabled,
            speed,
            buckets: HashMap::new(),
        }
    }

    pub fn reset(&mut self) {
        self.buckets.clear();
    }

    /// Takes a token for `operation` in an account's region; `false` when the bucket is empty.
    pub fn admit(&mut self, account: &str, region: &str, operation: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let (name, burst, rate) = category(operation);
        let now = Instant::now();
        let bucket = self
            .buckets
            .entry((account.to_string(), region.to_string(), name))
            .or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rate * self.speed;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_refuses() {
        let mut throttle = Throttle::new(true, 1.0);
        let admitted = (0..30)
            .filter(|_| throttle.admit("a", "us-east-1", "RegisterTaskDefinition"))
            .count();
        assert_eq!(admitted, 20);
        // Another region has its own bucket, another account too; another category too.
        assert!(throttle.admit("a", "eu-west-1", "RegisterTaskDefinition"));
        assert!(throttle.admit("b", "us-east-1", "RegisterTaskDefinition"));
        assert!(throttle.admit("a", "us-east-1", "DescribeServices"));
        // Actions of one category share it.
        assert!(!throttle.admit("a", "us-east-1", "DeregisterTaskDefinition"));
    }

    #[test]
    fn delete_task_definitions_has_its_own_small_bucket() {
        let mut throttle = Throttle::new(true, 1.0);
        let admitted = (0..10)
            .filter(|_| throttle.admit("a", "r", "DeleteTaskDefinitions"))
            .count();
        assert_eq!(admitted, 5, "burst 5");
        assert!(throttle.admit("a", "r", "DeregisterTaskDefinition"));
        assert_eq!(category("DeleteTaskDefinitions").2, 1.0, "1 per second");
    }

    #[test]
    fn refill_follows_the_rate_times_the_speed() {
        let mut throttle = Throttle::new(true, 1000.0);
        for _ in 0..20 {
            assert!(throttle.admit("a", "r", "RegisterTaskDefinition"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        // 1 token/s × 1000 × 5 ms = 5 tokens.
        let admitted = (0..20)
            .filter(|_| throttle.admit("a", "r", "RegisterTaskDefinition"))
            .count();
        assert!((4..=8).contains(&admitted), "{admitted}");
    }

    #[test]
    fn disabled_admits_everything() {
        let mut throttle = Throttle::new(false, 1.0);
        assert!((0..1000).all(|_| throttle.admit("a", "r", "RegisterTaskDefinition")));
    }
}
