//! The spec hash: a short digest of a canonical task definition, stored as the tag
//! `ecs-gitops.dev/spec-hash` on each revision the controller registers.

use sha2::{Digest, Sha256};

use super::normalize;
use crate::api::TaskDefinitionInput;

/// 32 hex digits of SHA-256 over the normalization version and the canonical JSON.
pub fn task_definition(td: &TaskDefinitionInput) -> String {
    let canonical = normalize::task_definition(td);
    let mut hasher = Sha256::new();
    hasher.update(format!("v{}:", normalize::VERSION));
    hasher.update(canonical.to_string());
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_content_equal_hash() {
        let a: TaskDefinitionInput = serde_json::from_value(serde_json::json!({
            "family": "f", "cpu": "1 vCPU", "containerDefinitions": [{"name": "a", "image": "i", "essential": true}]
        }))
        .unwrap();
        let b: TaskDefinitionInput = serde_json::from_value(serde_json::json!({
            "family": "f", "cpu": "1024", "containerDefinitions": [{"name": "a", "image": "i"}]
        }))
        .unwrap();
        assert_eq!(task_definition(&a), task_definition(&b));
        assert_eq!(task_definition(&a).len(), 32);
        let mut c = b.clone();
        c.container_definitions[0].image = Some("j".into());
        assert_ne!(task_definition(&b), task_definition(&c));
    }
}
