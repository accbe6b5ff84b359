//! What may be shown of a value: the one rule every output follows (diff text and JSON,
//! apply, validation messages, status, logs). Values under the fields that carry
//! credentials are shown only when their entry is named and the name does not look secret.
//!
//! ```text
//! containerDefinitions[web].environment[LOG_LEVEL].value   "debug"   shown
//! containerDefinitions[web].environment[DB_PASSWORD].value "***"     masked
//! spec.containerDefinitions[0].environment[0]              "***"     masked: no name known
//! ```

use serde_json::Value as Json;

/// What a masked value is shown as.
pub const MASK: &str = "***";

/// Fields whose values may be credentials: name/value lists, maps and credential references.
const SECRET_FIELDS: &[&str] = &[
    "environment",
    "secrets",
    "secretOptions",
    "repositoryCredentials",
    "dockerLabels",
    "logConfiguration.options",
    "firelensConfiguration.options",
];

/// Whether a variable, label or option name looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "APIKEY",
        "API_KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
        || upper.ends_with("-KEY")
}

/// What follows the last credential-carrying field in `path`: `Some("")` for the field
/// itself, `Some("[0].value")`, `Some(".team")`; `None` when the path is under none.
fn after_secret_field(path: &str) -> Option<&str> {
    SECRET_FIELDS
        .iter()
        .filter_map(|field| {
            path.match_indices(*field)
                .filter(|(at, _)| {
                    let before = path[..*at].chars().next_back();
                    let after = path[at + field.len()..].chars().next();
                    matches!(before, None | Some('.' | ']'))
                        && matches!(after, None | Some('.' | '['))
                })
                .map(|(at, _)| at + field.len())
                .last()
        })
        .max()
        .map(|end| &path[end..])
}

/// Whether `path` is under a field that may carry credentials (validation messages never
/// repeat such values).
pub fn under_secret_field(path: &str) -> bool {
    after_secret_field(path).is_some()
}

/// Whether the scalar at `path` must not be shown: under a credential-carrying field, unless
/// its entry is named (`environment[LOG_LEVEL]`, `dockerLabels.team`) with a name that does
/// not look secret. Entry names themselves (`environment[0].name`) are shown.
fn hidden(path: &str) -> bool {
    let Some(rest) = after_secret_field(path) else {
        return false;
    };
    let name = if let Some(inner) = rest.strip_prefix('[') {
        let (name, tail) = inner.split_once(']').unwrap_or((inner, ""));
        if tail == ".name" {
            return false;
        }
        name
    } else {
        rest.strip_prefix('.').unwrap_or(rest)
    };
    name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) || looks_secret(name)
}

/// `value` (found at field path `path`) as it may be shown: secret-looking values inside
/// replaced by `"***"`, however deep (a whole container, a whole `environment` list).
pub fn mask(path: &str, value: &Json) -> Json {
    match value {
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(key, v)| {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    (key.clone(), mask(&child, v))
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item.get("name").and_then(Json::as_str) {
                    Some(name) => mask(&format!("{path}[{name}]"), item),
                    None => mask(&format!("{path}[{i}]"), item),
                })
                .collect(),
        ),
        Json::Null => Json::Null,
        _ if hidden(path) => Json::String(MASK.into()),
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_names() {
        for name in [
            "DB_PASSWORD",
            "client_secret",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "API_KEY",
            "splunk-token",
            "datadog-apikey",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["KEYBOARD", "LOG_LEVEL", "PASSPORT_OFFICE", "awslogs-group"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn named_values_show_unless_the_name_looks_secret() {
        let env = "containerDefinitions[web].environment";
        assert_eq!(
            mask(&format!("{env}[LOG_LEVEL].value"), &json!("debug")),
            json!("debug")
        );
        assert_eq!(
            mask(&format!("{env}[DB_PASSWORD].value"), &json!("hunter2")),
            json!(MASK)
        );
        assert_eq!(
            mask(
                "containerDefinitions[web].logConfiguration.options.splunk-token",
                &json!("t0k")
            ),
            json!(MASK)
        );
        assert_eq!(
            mask(
                "containerDefinitions[web].logConfiguration.options.awslogs-group",
                &json!("/ecs/web")
            ),
            json!("/ecs/web")
        );
        assert_eq!(mask("desiredCount", &json!(3)), json!(3));
        // Not a credential field, though the word is in it.
        assert_eq!(mask("environmentFiles[0].value", &json!("s3")), json!("s3"));
    }

    #[test]
    fn whole_containers_and_lists_are_masked_inside() {
        let container = json!({
            "name": "sidecar",
            "image": "sidecar:1",
            "environment": [
                {"name": "SIDECAR_SECRET", "value": "s3cr3t"},
                {"name": "MODE", "value": "fast"}
            ],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:…"}],
            "dockerLabels": {"api.token": "abc", "team": "web"}
        });
        let shown = mask("taskDefinition.containerDefinitions[sidecar]", &container);
        assert_eq!(
            shown,
            json!({
                "name": "sidecar",
                "image": "sidecar:1",
                "environment": [
                    {"name": "SIDECAR_SECRET", "value": MASK},
                    {"name": "MODE", "value": "fast"}
                ],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": MASK}],
                "dockerLabels": {"api.token": MASK, "team": "web"}
            })
        );
        assert!(!shown.to_string().contains("s3cr3t"));
    }

    #[test]
    fn values_without_a_known_name_are_masked() {
        // Validation paths index lists: the name is unknown.
        assert_eq!(
            mask(
                "spec.containerDefinitions[0].environment[0]",
                &json!("DB_PASSWORD=x")
            ),
            json!(MASK)
        );
        assert_eq!(
            mask("spec.containerDefinitions[0].environment", &json!("A=b")),
            json!(MASK)
        );
        assert!(under_secret_field(
            "spec.taskDefinition.containerDefinitions[0].repositoryCredentials.credentialsParameter"
        ));
        assert!(!under_secret_field("spec.taskDefinition.cpu"));
        assert!(!under_secret_field("spec.options"));
    }
}
