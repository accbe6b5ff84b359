//! The controller's policy fields on `EcsService`, parsed.

use std::sync::LazyLock;
use std::time::Duration;

use super::check::nearest;
use super::{ContainerDefinition, ServiceInput};

/// A field named in `ignoreDifferences`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoredField {
    /// A service field, e.g. `desiredCount`.
    Service(String),
    /// A container field, e.g. `containerDefinitions[web].image`; `container` is `None` for `*`.
    Container {
        container: Option<String>,
        field: String,
    },
}

fn field_names<T: schemars::JsonSchema>() -> Vec<String> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas are JSON");
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

static SERVICE_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<ServiceInput>);
static CONTAINER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(field_names::<ContainerDefinition>);

impl IgnoredField {
    pub fn is_container(&self) -> bool {
        matches!(self, IgnoredField::Container { .. })
    }

    pub fn parse(path: &str) -> Result<IgnoredField, String> {
        if let Some(rest) = path.strip_prefix("containerDefinitions[") {
            let (container, field) = rest
                .split_once("].")
                .ok_or_else(|| format!("\"{path}\": write containerDefinitions[NAME].field or containerDefinitions[*].field"))?;
            known(field, &CONTAINER_FIELDS, "container")?;
            let container = (container != "*").then(|| container.to_string());
            return Ok(IgnoredField::Container {
                container,
                field: field.to_string(),
            });
        }
        known(path, &SERVICE_FIELDS, "service")?;
        Ok(IgnoredField::Service(path.to_string()))
    }
}

fn known(field: &str, fields: &[String], what: &str) -> Result<(), String> {
    if fields.iter().any(|f| f == field) {
        return Ok(());
    }
    let names: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut message = format!("\"{field}\" is not a {what} field");
    match nearest(field, &names) {
        Some(near) => message.push_str(&format!("; did you mean \"{near}\"?")),
        None if what == "service" => message.push_str(
            "; name a service field (desiredCount) or a container field (containerDefinitions[NAME].image)",
        ),
        None => {}
    }
    Err(message)
}

/// `90s`, `10m`, `1h`, `1h30m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        total += number.parse::<u64>().ok()? * unit;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_fields_name_real_fields() {
        assert_eq!(
            IgnoredField::parse("desiredCount"),
            Ok(IgnoredField::Service("desiredCount".into()))
        );
        assert_eq!(
            IgnoredField::parse("containerDefinitions[web].image"),
            Ok(IgnoredField::Container {
                container: Some("web".into()),
                field: "image".into()
            })
        );
        assert_eq!(
            IgnoredField::parse("containerDefinitions[*].image"),
            Ok(IgnoredField::Container {
                container: None,
                field: "image".into()
            })
        );
        assert_eq!(
            IgnoredField::parse("desiredcount").unwrap_err(),
            "\"desiredcount\" is not a service field; did you mean \"desiredCount\"?"
        );
        assert!(IgnoredField::parse("containerDefinitions[web]").is_err());
        assert!(
            IgnoredField::parse("containerDefinitions[web].imag")
                .unwrap_err()
                .contains("\"image\"")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("ten minutes"), None);
    }
}
