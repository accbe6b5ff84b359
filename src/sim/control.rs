//! What tests and benchmarks control and read: call statistics and injected faults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// Calls per operation and outcome (`ok` or the error code) since start or reset.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn record(&mut self, operation: &str, outcome: &str) {
        *self
            .calls
            .entry(operation.to_string())
            .or_default()
            .entry(outcome.to_string())
            .or_default() += 1;
    }
}

/// A fault to inject, as posted to `/_sim/faults`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// Operations it applies to; empty means all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Fraction of calls answered with a 500 ServerException.
    #[serde(default)]
    pub error_rate: f64,
    /// The next N calls fail (with `error`, default ServerException).
    #[serde(default)]
    pub fail_next: u32,
    /// Error code for `failNext`: `ServerException` (500) or `ThrottlingException` (400).
    #[serde(default)]
    pub error: Option<String>,
    /// Fraction of calls answered with ThrottlingException: a throttling storm.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Added latency per call.
    #[serde(default)]
    pub latency_ms: u64,
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

    /// The latency to add and the error to answer, if any, for one call.
    pub fn apply(&mut self, operation: &str) -> (u64, Option<ApiError>) {
        let mut latency = 0;
        let mut error = None;
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !rule.operations.is_empty() && !rule.operations.iter().any(|o| o == operation) {
                continue;
            }
            latency += rule.latency_ms;
            let (error_rate, throttle_rate) = (rule.error_rate, rule.throttle_rate);
            if error.is_some() {
                continue;
            }
            let injected = match self.rules[i].error.as_deref() {
                Some("ThrottlingException") => ApiError::throttling(),
                Some("AccessDeniedException") => {
                    ApiError::other("AccessDeniedException", "Injected fault.")
                }
                _ => ApiError::server("Injected fault."),
            };
            if self.rules[i].fail_next > 0 {
                self.rules[i].fail_next -= 1;
                error = Some(injected);
            } else if error_rate > 0.0 && self.roll() < error_rate {
                error = Some(injected);
            } else if throttle_rate > 0.0 && self.roll() < throttle_rate {
                error = Some(ApiError::throttling());
            }
        }
        (latency, error)
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
        assert!(faults.apply("DescribeServices").1.is_none());
        assert_eq!(faults.apply("UpdateService").1.unwrap().status, 500);
        assert_eq!(faults.apply("UpdateService").1.unwrap().status, 500);
        assert!(faults.apply("UpdateService").1.is_none());
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
        let results: Vec<_> = (0..1000).map(|_| faults.apply("ListServices")).collect();
        let throttled = results
            .iter()
            .filter(|(_, e)| e.as_ref().is_some_and(|e| e.code == "ThrottlingException"))
            .count();
        assert!((400..600).contains(&throttled), "{throttled}");
        assert!(results.iter().all(|(latency, _)| *latency == 3));
    }
}
