//! What the generated conversions (`convert.rs`) stand on.

use aws_sdk_ecs::error::BuildError;
use aws_smithy_types::{Document, Number};

/// Ours → the SDK's.
pub trait ToSdk {
    type Sdk;
    fn to_sdk(&self) -> Result<Self::Sdk, BuildError>;
}

/// The SDK's → ours.
pub trait FromSdk<T>: Sized {
    fn from_sdk(value: &T) -> Result<Self, ConvertError>;
}

/// ECS answered something our types cannot hold (a value newer than our model).
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("ECS returned {value:?} for {shape}, which this version does not know")]
    Unknown { shape: &'static str, value: String },
    #[error("ECS's answer lacks the required field {0}")]
    Missing(&'static str),
}

impl ConvertError {
    pub fn unknown(shape: &'static str, value: &str) -> ConvertError {
        ConvertError::Unknown {
            shape,
            value: value.to_string(),
        }
    }

    pub fn missing(field: &'static str) -> ConvertError {
        ConvertError::Missing(field)
    }
}

pub fn opt<T, U>(
    value: &Option<T>,
    convert: impl Fn(&T) -> Result<U, BuildError>,
) -> Result<Option<U>, BuildError> {
    value.as_ref().map(convert).transpose()
}

pub fn to_document(value: &serde_json::Value) -> Document {
    match value {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Document::Number(Number::PosInt(u)),
            (_, Some(i)) => Document::Number(Number::NegInt(i)),
            _ => Document::Number(Number::Float(n.as_f64().unwrap_or_default())),
        },
        serde_json::Value::String(s) => Document::String(s.clone()),
        serde_json::Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        serde_json::Value::Object(fields) => Document::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

pub fn from_document(value: &Document) -> serde_json::Value {
    match value {
        Document::Null => serde_json::Value::Null,
        Document::Bool(b) => serde_json::Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => serde_json::Value::from(*u),
        Document::Number(Number::NegInt(i)) => serde_json::Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Value::from(*f),
        Document::String(s) => serde_json::Value::String(s.clone()),
        Document::Array(items) => {
            serde_json::Value::Array(items.iter().map(from_document).collect())
        }
        Document::Object(fields) => serde_json::Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}
