//! What tests and benchmarks control and read: call statistics and injected faults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::DEFAULT_ACCOUNT as ACCOUNT;

/// Calls per operation and outcome (`ok` or the error code).
pub type Calls = BTreeMap<String, BTreeMap<String, u64>>;

/// Each account's calls since start or reset.
#[derive(Debug, Default)]
pub struct Stats {
    accounts: BTreeMap<String, Calls>,
}

impl Stats {
    pub fn record(&mut self, account: &str, operation: &str, outcome: &str) {
        *self
            .accounts
            .entry(account.to_string())
            .or_default()
            .entry(operation.to_string())
            .or_default()
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    /// One account's calls, or every account's added up.
    pub fn calls(&self, account: Option<&str>) -> Calls {
        let mut total = Calls::new();
        let chosen = self
            .accounts
            .iter()
            .filter(|(id, _)| account.is_none_or(|a| a == id.as_str()));
        for (_, calls) in chosen {
            for (operation, outcomes) in calls {
                for (outcome, count) in outcomes {
                    *total
                        .entry(operation.clone())
                        .or_default()
                        .entry(outcome.clone())
                        .or_default() += count;
                }
            }
        }
        total
    }
}

/// A fault to inject, as posted to `/_sim/faults`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// Operations it applies to; empty means all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// The account id whose calls it applies to; unset means every account's.
    #[serde(default)]
    pub account: Option<String>,
    /// Fraction of calls answered with a 500 ServerException.
    #[serde(default)]
    pub error_rate: f64,
    /// The next N calls fail (with `error`, default ServerException).
    #[serde(default)]
    pub fail_next: u32,
    /// Error code for `failNext` and `errorRate`: `ServerException` (500, the default),
    /// `ThrottlingException`, `AccessDeniedException`, `ExpiredTokenException`,
    /// `UnrecognizedClientException` or `InvalidSignatureException` (400).
    #[serde(default)]
    pub error: Option<String>,
    /// Fraction of calls answered with ThrottlingException: a throttling storm.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Added latency per call.
    #[serde(default)]
    pub latency_ms: u64,
    /// The injected 500s come after the call was carried out: an ambiguous failure, as when
    /// ECS commits a write and the answer is lost.
    #[serde(default)]
    pub after_commit: bool,
    /// Fraction of calls carried out whose connection is then dropped without an answer.
    #[serde(default)]
    pub drop_rate: f64,
    /// The rule applies to this many matching calls, then no more (unset: all).
    #[serde(default)]
    pub times: Option<u32>,
}

/// What an injected fault does to one call.
#[derive(Debug, Default)]
pub struct Injected {
    pub latency_ms: u64,
    /// Answer this instead of carrying the call out.
    pub error: Option<ApiError>,
    /// Carry the call out, then answer this error instead of the result.
    pub error_after: Option<ApiError>,
    /// Carry the call out, then drop the connection.
    pub drop_after: bool,
}

#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<Fault>,
    /// A small deterministic generator, so that rates are reproducible.
    seed: u64,
}

impl Faults {
    fn roll(&mut self) -> f64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What the faults do to one call in an account: latency, and an error before or after
    /// it is done.
    pub fn apply(&mut self, account: &str, operation: &str) -> Injected {
        let mut injected = Injected::default();
        for i in 0..self.rules.len() {
            let rule = &mut self.rules[i];
            if !rule.operations.is_empty() && !rule.operations.iter().any(|o| o == operation) {
                continue;
            }
            if rule.account.as_ref().is_some_and(|a| a != account) {
                continue;
            }
            match &mut rule.times {
                Some(0) => continue,
                Some(left) => *left -= 1,
                None => {}
            }
            injected.latency_ms += rule.latency_ms;
            let (error_rate, throttle_rate, drop_rate, after_commit) = (
                rule.error_rate,
                rule.throttle_rate,
                rule.drop_rate,
                rule.after_commit,
            );
            if injected.error.is_some() || injected.error_after.is_some() || injected.drop_after {
                continue;
            }
            let fault = injected_error(self.rules[i].error.as_deref(), operation);
            let mut error = None;
            if self.rules[i].fail_next > 0 {
                self.rules[i].fail_next -= 1;
                error = Some(fault);
            } else if error_rate > 0.0 && self.roll() < error_rate {
                error = Some(fault);
            } else if throttle_rate > 0.0 && self.roll() < throttle_rate {
                injected.error = Some(ApiError::throttling());
                continue;
            } else if drop_rate > 0.0 && self.roll() < drop_rate {
                injected.drop_after = true;
                continue;
            }
            if after_commit {
                injected.error_after = error;
            } else {
                injected.error = error;
            }
        }
        injected
    }
}

/// The error a fault answers, worded as ECS words it: throttling, the refusals of IAM and
/// of request signing, or (by default) a server error.
fn injected_error(code: Option<&str>, operation: &str) -> ApiError {
    match code {
        Some("ThrottlingException") => ApiError::throttling(),
        Some("AccessDeniedException") => ApiError::other(
            "AccessDeniedException",
            format!(
                "User: arn:aws:iam::{ACCOUNT}:user/sim is not authorized to perform: ecs:{operation} on resource: * because no identity-based policy allows the ecs:{operation} action"
            ),
        ),
        Some("ExpiredTokenException") => ApiError::other(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        Some("UnrecognizedClientException") => ApiError::other(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        Some("InvalidSignatureException") => ApiError::other(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
        _ => ApiError::server("Injected fault."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_fails_exactly_n_matching_calls() {
        let mut faults = Faults {
            rules: vec![Fault {
                operations: vec!["UpdateService".into()],
                fail_next: 2,
                ..Fault::default()
            }],
            ..Faults::default()
        };
        assert!(
            faults
                .apply("000000000000", "DescribeServices")
                .error
                .is_none()
        );
        assert_eq!(
            faults
                .apply("000000000000", "UpdateService")
                .error
                .unwrap()
                .status,
            500
        );
        assert_eq!(
            faults
                .apply("000000000000", "UpdateService")
                .error
                .unwrap()
                .status,
            500
        );
        assert!(
            faults
                .apply("000000000000", "UpdateService")
                .error
                .is_none()
        );
    }

    #[test]
    fn rates_are_roughly_kept() {
        let mut faults = Faults {
            rules: vec![Fault {
                throttle_rate: 0.5,
                latency_ms: 3,
                ..Fault::default()
            }],
            ..Faults::default()
        };
        let results: Vec<_> = (0..1000)
            .map(|_| faults.apply("000000000000", "ListServices"))
            .collect();
        let throttled = results
            .iter()
            .filter(|i| {
                i.error
                    .as_ref()
                    .is_some_and(|e| e.code == "ThrottlingException")
            })
            .count();
        assert!((400..600).contains(&throttled), "{throttled}");
        assert!(results.iter().all(|i| i.latency_ms == 3));
    }

    #[test]
    fn after_commit_faults_answer_after_the_call_and_drops_hang_up() {
        let mut faults = Faults {
            rules: vec![
                Fault {
                    operations: vec!["RegisterTaskDefinition".into()],
                    fail_next: 1,
                    after_commit: true,
                    ..Fault::default()
                },
                Fault {
                    operations: vec!["CreateService".into()],
                    drop_rate: 1.0,
                    ..Fault::default()
                },
            ],
            ..Faults::default()
        };
        let ambiguous = faults.apply("000000000000", "RegisterTaskDefinition");
        assert!(ambiguous.error.is_none(), "the call is carried out");
        assert_eq!(ambiguous.error_after.unwrap().status, 500);
        let dropped = faults.apply("000000000000", "CreateService");
        assert!(dropped.drop_after && dropped.error.is_none());
        assert!(
            !faults
                .apply("000000000000", "RegisterTaskDefinition")
                .drop_after
        );
    }

    #[test]
    fn a_rule_with_times_is_spent_after_that_many_calls() {
        let mut faults = Faults {
            rules: vec![Fault {
                operations: vec!["DescribeClusters".into()],
                latency_ms: 5,
                times: Some(2),
                ..Fault::default()
            }],
            ..Faults::default()
        };
        let latencies: Vec<u64> = (0..3)
            .map(|_| faults.apply("000000000000", "DescribeClusters").latency_ms)
            .collect();
        assert_eq!(latencies, [5, 5, 0]);
    }

    #[test]
    fn a_rule_for_one_account_spares_the_others_and_stats_are_kept_per_account() {
        let mut faults = Faults {
            rules: vec![Fault {
                account: Some("111111111111".into()),
                error: Some("ThrottlingException".into()),
                fail_next: 5,
                ..Fault::default()
            }],
            ..Faults::default()
        };
        assert!(
            faults
                .apply("222222222222", "CreateService")
                .error
                .is_none()
        );
        let throttled = faults.apply("111111111111", "CreateService").error.unwrap();
        assert_eq!(throttled.code, "ThrottlingException");
        let mut stats = Stats::default();
        stats.record("111111111111", "CreateService", "ThrottlingException");
        stats.record("222222222222", "CreateService", "ok");
        stats.record("222222222222", "CreateService", "ok");
        assert_eq!(stats.calls(Some("222222222222"))["CreateService"]["ok"], 2);
        assert!(
            !stats.calls(Some("222222222222"))["CreateService"].contains_key("ThrottlingException")
        );
        assert_eq!(stats.calls(None)["CreateService"].values().sum::<u64>(), 3);
    }
}
