//! Field-level changes between two canonical JSON values, for people to read and for plans
//! to list; and "covers", the comparison for service settings, where only what the manifest
//! sets is managed.

use serde_json::Value as Json;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::api::secret::mask;

/// One field that differs. Its values are only ever shown masked (`describe`, and as JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// e.g. `containerDefinitions[web].image`, `desiredCount`.
    pub path: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

impl Change {
    fn shown(&self, value: &Option<Json>) -> Option<Json> {
        value.as_ref().map(|v| mask(&self.path, v))
    }

    /// The change as a line, secret-looking values masked.
    pub fn describe(&self) -> String {
        let show = |v: Option<Json>| v.map_or_else(|| "(unset)".to_string(), |v| v.to_string());
        format!(
            "{}: {} → {}",
            self.path,
            show(self.shown(&self.old)),
            show(self.shown(&self.new))
        )
    }
}

/// `{path, old, new}`, secret-looking values masked; an unset side is left out.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (old, new) = (self.shown(&self.old), self.shown(&self.new));
        let mut out = serializer.serialize_struct("Change", 3)?;
        out.serialize_field("path", &self.path)?;
        match old {
            Some(old) => out.serialize_field("old", &old)?,
            None => out.skip_field("old")?,
        }
        match new {
            Some(new) => out.serialize_field("new", &new)?,
            None => out.skip_field("new")?,
        }
        out.end()
    }
}

/// Every leaf that differs between `old` and `new`. Lists of objects with a `name` are
/// matched by name; other lists by position.
pub fn changes(old: &Json, new: &Json) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

fn walk(path: &str, old: Option<&Json>, new: Option<&Json>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Json::Object(a)), Some(Json::Object(b))) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                walk(&join(path, key), a.get(key), b.get(key), out);
            }
        }
        (Some(Json::Array(a)), Some(Json::Array(b))) if named(a) && named(b) => {
            let mut names: Vec<&str> = a
                .iter()
                .chain(b.iter())
                .filter_map(|i| i["name"].as_str())
                .collect();
            names.dedup();
            let mut seen = Vec::new();
            for name in names {
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name);
                let find = |items: &'_ [Json]| items.iter().find(|i| i["name"] == name).cloned();
                let (x, y) = (find(a), find(b));
                walk(&format!("{path}[{name}]"), x.as_ref(), y.as_ref(), out);
            }
        }
        (a, b) if a != b => out.push(Change {
            path: path.to_string(),
            old: a.cloned(),
            new: b.cloned(),
        }),
        _ => {}
    }
}

fn named(items: &[Json]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Json::as_str).is_some())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether `observed` has everything `desired` sets: objects key by key (keys the manifest
/// leaves out are ECS's business), lists element by element, scalars equal.
pub fn covers(observed: &Json, desired: &Json) -> bool {
    match (observed, desired) {
        (_, Json::Null) => true,
        (Json::Object(o), Json::Object(d)) => d
            .iter()
            .all(|(k, v)| covers(o.get(k).unwrap_or(&Json::Null), v)),
        (Json::Array(o), Json::Array(d)) => {
            o.len() == d.len() && o.iter().zip(d).all(|(a, b)| covers(a, b))
        }
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_name_containers_by_name() {
        let old = json!({"containerDefinitions": [{"name": "web", "image": "a:1"}, {"name": "log", "image": "l"}], "cpu": "256"});
        let new = json!({"containerDefinitions": [{"name": "log", "image": "l"}, {"name": "web", "image": "a:2"}], "cpu": "256"});
        let found = changes(&old, &new);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].describe(),
            "containerDefinitions[web].image: \"a:1\" → \"a:2\""
        );
    }

    #[test]
    fn secret_values_are_masked() {
        let old =
            json!({"c": [{"name": "a", "environment": [{"name": "DB_PASSWORD", "value": "old"}]}]});
        let new =
            json!({"c": [{"name": "a", "environment": [{"name": "DB_PASSWORD", "value": "new"}]}]});
        let line = changes(&old, &new)[0].describe();
        assert_eq!(
            line,
            "c[a].environment[DB_PASSWORD].value: \"***\" → \"***\""
        );
        let json = serde_json::to_value(&changes(&old, &new)[0]).unwrap();
        assert_eq!(
            json,
            json!({"path": "c[a].environment[DB_PASSWORD].value", "old": "***", "new": "***"})
        );
    }

    #[test]
    fn added_containers_and_environments_are_masked_inside() {
        let old = json!({"containerDefinitions": [{"name": "web", "image": "a:1"}]});
        let new = json!({"containerDefinitions": [
            {"name": "web", "image": "a:1", "environment": [{"name": "API_TOKEN", "value": "t0k"}, {"name": "MODE", "value": "m"}]},
            {"name": "sidecar", "image": "s:1", "environment": [{"name": "SIDECAR_SECRET", "value": "s3"}]}
        ]});
        let found = changes(&old, &new);
        let lines: Vec<String> = found.iter().map(Change::describe).collect();
        assert_eq!(
            lines,
            [
                "containerDefinitions[web].environment: (unset) → [{\"name\":\"API_TOKEN\",\"value\":\"***\"},{\"name\":\"MODE\",\"value\":\"m\"}]",
                "containerDefinitions[sidecar]: (unset) → {\"environment\":[{\"name\":\"SIDECAR_SECRET\",\"value\":\"***\"}],\"image\":\"s:1\",\"name\":\"sidecar\"}",
            ]
        );
        let json = serde_json::to_string(&found).unwrap();
        assert!(!json.contains("t0k") && !json.contains("s3\""), "{json}");
    }

    #[test]
    fn covers_ignores_what_the_manifest_leaves_out() {
        let observed = json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 200, "alarms": {"enable": false}});
        assert!(covers(
            &observed,
            &json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true}})
        ));
        assert!(!covers(&observed, &json!({"maximumPercent": 150})));
        assert!(!covers(
            &json!({"subnets": ["a"]}),
            &json!({"subnets": ["a", "b"]})
        ));
    }
}
