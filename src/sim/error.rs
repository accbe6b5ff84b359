//! ECS errors as they travel on the wire: HTTP status, `__type` and `message`.

use serde_json::json;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// ConflictException's `resourceIds`: what already holds the conflicting client token.
    pub resource_ids: Vec<String>,
}

impl ApiError {
    fn client(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code,
            message: message.into(),
            resource_ids: Vec::new(),
        }
    }

    pub fn client_exception(message: impl Into<String>) -> ApiError {
        ApiError::client("ClientException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::client("InvalidParameterException", message)
    }

    pub fn cluster_not_found() -> ApiError {
        ApiError::client("ClusterNotFoundException", "Cluster not found.")
    }

    pub fn service_not_found() -> ApiError {
        ApiError::client("ServiceNotFoundException", "Service not found.")
    }

    pub fn service_not_active() -> ApiError {
        ApiError::client("ServiceNotActiveException", "Service was not ACTIVE.")
    }

    pub fn throttling() -> ApiError {
        ApiError::client("ThrottlingException", "Rate exceeded")
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::client("SerializationException", message)
    }

    pub fn unsupported(operation: &str) -> ApiError {
        ApiError::client(
            "UnsupportedFeatureException",
            format!("The ecs-gitops simulator does not implement {operation}."),
        )
    }

    pub fn other(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::client(code, message)
    }

    pub fn conflict(message: impl Into<String>, resource_ids: Vec<String>) -> ApiError {
        ApiError {
            resource_ids,
            ..ApiError::client("ConflictException", message)
        }
    }

    pub fn server(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 500,
            code: "ServerException",
            message: message.into(),
            resource_ids: Vec::new(),
        }
    }

    pub fn body(&self) -> String {
        let mut body = json!({"__type": self.code, "message": self.message});
        if !self.resource_ids.is_empty() {
            body["resourceIds"] = json!(self.resource_ids);
        }
        body.to_string()
    }
}
