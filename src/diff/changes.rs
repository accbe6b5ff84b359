//! Field-level changes between two canonical JSON values, for people to read and for plans
//! to list; and "covers", the comparison for service settings, where only what the manifest
//! sets is managed.

use serde_json::Value as Json;

use crate::api::rules::looks_secret;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    /// e.g. `containerDefinitions[web].image`, `desiredCount`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Json>,
}

impl Change {
    /// The change as a line, with secret-looking environment values masked.
    pub fn describe(&self) -> String {
        let show = |v: &Option<Json>| match v {
            None => "(unset)".to_string(),
            Some(_) if self.is_secret() => "\"***\"".to_string(),
            Some(v) => v.to_string(),
        };
        format!("{}: {} → {}", self.path, show(&self.old), show(&self.new))
    }

    fn is_secret(&self) -> bool {
        self.path
            .split_once("environment[")
            .and_then(|(_, rest)| rest.split_once(']'))
            .is_some_and(|(name, _)| looks_secret(name))
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
