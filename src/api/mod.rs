//! The schema: the `EcsCapacityProvider`, `EcsCluster`, `EcsTaskDefinition` and `EcsService`
//! kinds, shared by Git
//! manifests and Kubernetes objects, with their loading and validation rules.
//! Pure: no IO, no AWS calls, no Kubernetes client.
//!
//! ```text
//! text ──yaml──► Node tree ──check (JSON schema of the types)──► typed objects ──rules──► diagnostics
//! ```

pub mod accounts;
mod check;
pub mod crd;
pub mod diagnostic;
#[rustfmt::skip]
mod ecs;
mod key;
mod kinds;
pub mod manifest;
mod policy;
pub mod rules;
pub mod secret;
pub mod status;
pub mod units;
pub mod yaml;

pub use accounts::{AccountRegion, Accounts};
pub use diagnostic::{Diagnostic, Severity};
pub use ecs::*;
pub use key::{Kind, ObjectKey};
pub use kinds::*;
pub use manifest::{Manifest, Object, Parsed, parse_file};
pub use policy::{IgnoredField, parse_duration};
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// Task-level `cpu` or `memory`: ECS takes a number ("256") or a unit string ("0.25 vCPU",
/// "1 GB"); YAML users also write a bare integer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskSize(pub String);

impl<'de> Deserialize<'de> for TaskSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Int(n) => TaskSize(n.to_string()),
            Raw::Str(s) => TaskSize(s),
        })
    }
}

impl JsonSchema for TaskSize {
    fn schema_name() -> Cow<'static, str> {
        "TaskSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        })
    }
}

/// Free-form JSON (Smithy `document`), kept as is by the API server.
pub(crate) fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"x-kubernetes-preserve-unknown-fields": true})
}
