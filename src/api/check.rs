//! Checks a YAML tree against the JSON schema generated from the Rust types (the same schema
//! the CRDs carry), collecting every problem instead of stopping at the first, and turns what
//! is valid into JSON for serde. Null and empty-string values of a mapping mean "unset".

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::diagnostic::Severity;
use super::secret::under_secret_field;
use super::yaml::{Node, Pos, Value};

/// A problem at a field path, before it is tied to a file and an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub field: String,
    pub pos: Pos,
    pub message: String,
}

/// Where each field path of an object was written.
#[derive(Clone, Debug, Default)]
pub struct Locations(BTreeMap<String, Pos>);

impl Locations {
    pub fn insert(&mut self, path: &str, pos: Pos) {
        self.0.insert(path.to_string(), pos);
    }

    pub fn merge(&mut self, other: Locations) {
        self.0.extend(other.0);
    }

    /// The position of `path`, or of its nearest written ancestor.
    pub fn find(&self, path: &str) -> Pos {
        let mut path = path;
        loop {
            if let Some(pos) = self.0.get(path) {
                return *pos;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return Pos::default(),
            }
        }
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub struct Checker<'s> {
    defs: &'s Map<String, Json>,
    pub findings: Vec<Finding>,
    pub locations: Locations,
}

impl<'s> Checker<'s> {
    /// A checker for the `$defs` of `root`, a schema made by schemars.
    pub fn new(root: &'s Json) -> Self {
        static EMPTY: std::sync::LazyLock<Map<String, Json>> = std::sync::LazyLock::new(Map::new);
        Checker {
            defs: root
                .get("$defs")
                .and_then(Json::as_object)
                .unwrap_or(&EMPTY),
            findings: Vec::new(),
            locations: Locations::default(),
        }
    }

    pub fn error(&mut self, field: &str, pos: Pos, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            field: field.to_string(),
            pos,
            message: message.into(),
        });
    }

    pub fn warning(&mut self, field: &str, pos: Pos, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            field: field.to_string(),
            pos,
            message: message.into(),
        });
    }

    fn resolve(&self, schema: &'s Json) -> &'s Json {
        match schema.get("$ref").and_then(Json::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/$defs/");
                self.resolve(self.defs.get(name).unwrap_or(&Json::Null))
            }
            None => schema,
        }
    }

    /// Checks `node` at `path` against `schema`; returns its JSON when valid and set.
    pub fn check(&mut self, node: &Node, schema: &'s Json, path: &str) -> Option<Json> {
        let schema = self.resolve(schema);
        self.locations.insert(path, node.pos);
        if matches!(node.value, Value::Null) {
            return None;
        }
        if let Some(branches) = schema.get("anyOf").or_else(|| schema.get("oneOf")) {
            return self.check_branches(node, branches.as_array()?, path);
        }
        let types = schema_types(schema);
        if types.is_empty() {
            return Some(to_json(node));
        }
        let expected = types.iter().find(|t| kind_matches(node, t)).copied();
        match expected {
            Some("object") => self.check_object(node, schema, path),
            Some("array") => self.check_array(node, schema, path),
            Some("string") => self.check_string(node, schema, path),
            Some("integer") => self.check_integer(node, schema, path),
            Some(_) => Some(to_json(node)),
            None => {
                self.error(path, node.pos, type_mismatch(node, &types, path));
                None
            }
        }
    }

    fn check_branches(&mut self, node: &Node, branches: &'s [Json], path: &str) -> Option<Json> {
        let candidates: Vec<&'s Json> = branches
            .iter()
            .map(|b| self.resolve(b))
            .filter(|b| schema_types(b) != ["null"])
            .collect();
        if let [only] = candidates.as_slice() {
            return self.check(node, only, path);
        }
        let matching = candidates
            .iter()
            .find(|b| schema_types(b).iter().any(|t| kind_matches(node, t)));
        match matching {
            Some(branch) => self.check(node, branch, path),
            None => {
                let types: Vec<&str> = candidates.iter().flat_map(|b| schema_types(b)).collect();
                self.error(path, node.pos, type_mismatch(node, &types, path));
                None
            }
        }
    }

    fn check_object(&mut self, node: &Node, schema: &'s Json, path: &str) -> Option<Json> {
        let Value::Map(entries) = &node.value else {
            unreachable!("kind checked")
        };
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        let mut out = Map::new();
        let mut seen = Vec::new();
        let mut misspelled = Vec::new();
        for (key, child) in entries {
            let child_path = join(path, &key.name);
            if seen.contains(&key.name.as_str()) {
                self.error(
                    &child_path,
                    key.pos,
                    format!("duplicate key \"{}\"", key.name),
                );
                continue;
            }
            seen.push(key.name.as_str());
            if child.is_unset() {
                self.locations.insert(&child_path, key.pos);
                continue;
            }
            let field_schema = properties.and_then(|p| p.get(&key.name)).or(additional);
            match field_schema {
                Some(field_schema) => {
                    if let Some(v) = self.check(child, field_schema, &child_path) {
                        out.insert(key.name.clone(), v);
                    }
                    self.locations.insert(&child_path, key.pos);
                }
                None => {
                    let names: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    if let Some(near) = nearest(&key.name, &names) {
                        misspelled.push(near);
                    }
                    self.error(&child_path, key.pos, unknown_field(&key.name, names));
                }
            }
        }
        let required = schema.get("required").and_then(Json::as_array);
        for name in required.into_iter().flatten().filter_map(Json::as_str) {
            let written = entries.iter().any(|(k, v)| k.name == name && !v.is_unset());
            // A misspelt key already said what is missing.
            if !written && !misspelled.contains(&name) {
                self.error(
                    &join(path, name),
                    node.pos,
                    format!("missing required field \"{name}\""),
                );
            }
        }
        Some(Json::Object(out))
    }

    fn check_array(&mut self, node: &Node, schema: &'s Json, path: &str) -> Option<Json> {
        let Value::Seq(items) = &node.value else {
            unreachable!("kind checked")
        };
        let item_schema = schema.get("items").unwrap_or(&Json::Bool(true));
        let out: Vec<Json> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.check(item, item_schema, &format!("{path}[{i}]")))
            .collect();
        Some(Json::Array(out))
    }

    fn check_string(&mut self, node: &Node, schema: &Json, path: &str) -> Option<Json> {
        let Value::Str(s) = &node.value else {
            unreachable!("kind checked")
        };
        let allowed: Vec<&str> = schema
            .get("enum")
            .and_then(Json::as_array)
            .map(|values| values.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        if !allowed.is_empty() && !allowed.contains(&s.as_str()) {
            let field = path.rsplit(['.', '[']).next().unwrap_or(path);
            let given = if under_secret_field(path) {
                "the value".to_string()
            } else {
                format!("\"{s}\"")
            };
            let mut message = format!(
                "{given} is not a valid {field}: expected one of {}",
                allowed.join(", ")
            );
            if let Some(near) = nearest(s, &allowed).filter(|_| !under_secret_field(path)) {
                message.push_str(&format!("; did you mean \"{near}\"?"));
            }
            self.error(path, node.pos, message);
            return None;
        }
        Some(Json::String(s.clone()))
    }

    fn check_integer(&mut self, node: &Node, schema: &Json, path: &str) -> Option<Json> {
        let Value::Int(i) = node.value else {
            unreachable!("kind checked")
        };
        let min = schema.get("minimum").and_then(Json::as_f64);
        let max = schema.get("maximum").and_then(Json::as_f64);
        let (min, max) = match schema.get("format").and_then(Json::as_str) {
            Some("int32") => (
                min.or(Some(f64::from(i32::MIN))),
                max.or(Some(f64::from(i32::MAX))),
            ),
            _ => (min, max),
        };
        let out_of_range =
            min.is_some_and(|m| (i as f64) < m) || max.is_some_and(|m| (i as f64) > m);
        if out_of_range {
            let bounds = match (min, max) {
                (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
                (Some(lo), None) => format!("at least {lo}"),
                (None, Some(hi)) => format!("at most {hi}"),
                (None, None) => unreachable!(),
            };
            let given = if under_secret_field(path) {
                "the value".to_string()
            } else {
                i.to_string()
            };
            self.error(
                path,
                node.pos,
                format!("{given} is out of range: must be {bounds}"),
            );
            return None;
        }
        Some(Json::from(i))
    }
}

/// The JSON types a schema allows (`type` as a string or a list).
fn schema_types(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts
            .iter()
            .filter_map(Json::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    }
}

fn kind_matches(node: &Node, json_type: &str) -> bool {
    matches!(
        (&node.value, json_type),
        (Value::Map(_), "object")
            | (Value::Seq(_), "array")
            | (Value::Str(_), "string")
            | (Value::Int(_), "integer" | "number")
            | (Value::Float(_), "number")
            | (Value::Bool(_), "boolean")
    )
}

/// What was expected and what was found; the value itself only outside the fields that may
/// carry credentials.
fn type_mismatch(node: &Node, expected: &[&str], path: &str) -> String {
    let words: Vec<&str> = expected
        .iter()
        .map(|t| match *t {
            "object" => "a mapping",
            "array" => "a list",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            _ => "a value",
        })
        .collect();
    let got = match &node.value {
        _ if under_secret_field(path) => node.type_name().to_string(),
        Value::Str(s) => format!("string \"{s}\""),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {f}"),
        Value::Bool(b) => format!("boolean {b}"),
        _ => node.type_name().to_string(),
    };
    let hint = match (&node.value, expected) {
        (Value::Int(_) | Value::Float(_) | Value::Bool(_), ["string"]) => " (quote it)",
        (Value::Str(s), ["integer"]) if s.trim().parse::<i64>().is_ok() => " (remove the quotes)",
        _ => "",
    };
    format!("expected {}, got {got}{hint}", words.join(" or "))
}

fn unknown_field(name: &str, valid: Vec<&str>) -> String {
    match nearest(name, &valid) {
        Some(near) => format!("unknown field \"{name}\", did you mean \"{near}\"?"),
        None if valid.is_empty() => format!("unknown field \"{name}\""),
        None => format!(
            "unknown field \"{name}\"; valid fields: {}",
            valid.join(", ")
        ),
    }
}

/// The candidate a user most likely meant: same letters in another case, or a few edits away.
pub fn nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_lowercase();
    if let Some(same) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(same);
    }
    let limit = (word.chars().count() / 4).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A node as JSON, for schema parts that take any value.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::yaml::parse_documents;

    fn check(yaml: &str, schema: Json) -> (Option<Json>, Vec<String>) {
        let node = &parse_documents(yaml).unwrap()[0];
        let mut checker = Checker::new(&schema);
        let out = checker.check(node, &schema, "spec");
        let messages = checker
            .findings
            .iter()
            .map(|f| format!("{}:{}: {}: {}", f.pos.line, f.pos.col, f.field, f.message))
            .collect();
        (out, messages)
    }

    fn container_schema() -> Json {
        serde_json::json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "memory": {"type": ["integer", "null"], "format": "int32"},
                "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "command": {"type": "array", "items": {"type": "string"}}
            },
            "$defs": {"Mode": {"type": "string", "enum": ["awsvpc", "bridge"]}}
        })
    }

    #[test]
    fn reports_every_problem_with_its_position() {
        let (_, messages) = check(
            "memroy: 5\nport: 70000\nmode: AWSVPC\nlabels: {a: 1}\ncommand: [x, 2]\n",
            container_schema(),
        );
        assert_eq!(
            messages,
            vec![
                "1:1: spec.memroy: unknown field \"memroy\", did you mean \"memory\"?",
                "2:7: spec.port: 70000 is out of range: must be between 0 and 65535",
                "3:7: spec.mode: \"AWSVPC\" is not a valid mode: expected one of awsvpc, bridge; did you mean \"awsvpc\"?",
                "4:13: spec.labels.a: expected a string, got integer 1 (quote it)",
                "5:14: spec.command[1]: expected a string, got integer 2 (quote it)",
                "1:1: spec.name: missing required field \"name\"",
            ]
        );
    }

    #[test]
    fn null_and_empty_strings_mean_unset() {
        let (out, messages) = check("name: web\nmode: \"\"\nmemory: null\n", container_schema());
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(out.unwrap(), serde_json::json!({"name": "web"}));
    }

    #[test]
    fn wrong_types_say_what_was_expected() {
        let (_, messages) = check("name: [a]\nmemory: \"512\"\n", container_schema());
        assert_eq!(
            messages,
            vec![
                "1:7: spec.name: expected a string, got list",
                "2:9: spec.memory: expected an integer, got string \"512\" (remove the quotes)",
            ]
        );
    }

    #[test]
    fn values_under_credential_fields_are_never_repeated() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "environment": {"type": "array", "items": {"$ref": "#/$defs/Pair"}},
                "dockerLabels": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "$defs": {"Pair": {"type": "object", "properties": {
                "name": {"type": "string"}, "value": {"type": "string"}
            }}}
        });
        let (_, messages) = check(
            "environment:\n  - DB_PASSWORD=hunter2-compose-style\n  - {name: SECRET_NUM, value: 12345678}\ndockerLabels: {api.token: 4242}\n",
            schema,
        );
        assert_eq!(
            messages,
            vec![
                "2:5: spec.environment[0]: expected a mapping, got string",
                "3:31: spec.environment[1].value: expected a string, got integer (quote it)",
                "4:27: spec.dockerLabels.api.token: expected a string, got integer (quote it)",
            ]
        );
    }

    #[test]
    fn nearest_prefers_case_then_small_edits() {
        assert_eq!(
            nearest("alarmnames", &["alarmNames", "enable"]),
            Some("alarmNames")
        );
        assert_eq!(nearest("imgae", &["image", "name"]), Some("image"));
        assert_eq!(nearest("zzzzzz", &["image", "name"]), None);
    }
}
