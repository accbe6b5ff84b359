//! The canonical form of a task definition and of service settings: ECS's added defaults
//! dropped, order-insensitive lists sorted, units unified. Both sides of every comparison go
//! through it, so a diff shows only real changes.
//!
//! The table is versioned: `VERSION` is part of every hash, so changing what is dropped or
//! sorted registers each family once more instead of comparing unlike forms.

use serde_json::{Map, Value as Json};

use crate::api::TaskDefinitionInput;
use crate::api::units::{cpu_units, memory_mib};

pub const VERSION: u32 = 1;

/// Container fields whose `false` is ECS's default.
const FALSE_BY_DEFAULT: &[&str] = &[
    "privileged",
    "readonlyRootFilesystem",
    "disableNetworking",
    "interactive",
    "pseudoTerminal",
    "initProcessEnabled",
];

/// List fields whose order means nothing to ECS, and the key to sort them by.
const SORTED_LISTS: &[(&str, &[&str])] = &[
    ("environment", &["name"]),
    ("secrets", &["name"]),
    ("secretOptions", &["name"]),
    ("mountPoints", &["sourceVolume", "containerPath"]),
    ("volumesFrom", &["sourceContainer"]),
    ("ulimits", &["name"]),
    ("systemControls", &["namespace"]),
    ("extraHosts", &["hostname"]),
    ("dependsOn", &["containerName"]),
    ("resourceRequirements", &["type"]),
    ("portMappings", &["containerPort", "protocol"]),
    ("volumes", &["name"]),
    ("placementConstraints", &["type", "expression"]),
    ("requiresCompatibilities", &[]),
    ("add", &[]),
    ("drop", &[]),
    ("tags", &["key"]),
    ("subnets", &[]),
    ("securityGroups", &[]),
    ("capacityProviderStrategy", &["capacityProvider"]),
    ("defaultCapacityProviderStrategy", &["capacityProvider"]),
    ("capacityProviders", &[]),
    ("settings", &["name"]),
    (
        "loadBalancers",
        &[
            "targetGroupArn",
            "loadBalancerName",
            "containerName",
            "containerPort",
        ],
    ),
    ("serviceRegistries", &["registryArn"]),
    ("alarmNames", &[]),
];

/// The canonical JSON of a task definition's content (its tags are not content).
pub fn task_definition(td: &TaskDefinitionInput) -> Json {
    let mut json = serde_json::to_value(td).expect("task definitions serialize");
    let fields = json.as_object_mut().expect("an object");
    fields.remove("tags");
    if fields.get("enableFaultInjection") == Some(&Json::Bool(false)) {
        fields.remove("enableFaultInjection");
    }
    for (key, unit) in [
        ("cpu", cpu_units as fn(&str) -> Option<u32>),
        ("memory", memory_mib),
    ] {
        if let Some(Json::String(text)) = fields.get(key)
            && let Some(value) = unit(text)
        {
            fields.insert(key.into(), Json::String(value.to_string()));
        }
    }
    let network_mode = fields
        .get("networkMode")
        .and_then(Json::as_str)
        .unwrap_or("bridge")
        .to_string();
    if network_mode == "bridge" {
        fields.remove("networkMode");
    }
    if let Some(Json::Array(containers)) = fields.get_mut("containerDefinitions") {
        for container in containers.iter_mut().filter_map(Json::as_object_mut) {
            container_defaults(container, &network_mode);
        }
    }
    canonical(&mut json);
    json
}

fn container_defaults(container: &mut Map<String, Json>, network_mode: &str) {
    if container.get("essential") == Some(&Json::Bool(true)) {
        container.remove("essential");
    }
    if container.get("cpu").and_then(Json::as_i64) == Some(0) {
        container.remove("cpu");
    }
    for key in FALSE_BY_DEFAULT {
        if container.get(*key) == Some(&Json::Bool(false)) {
            container.remove(*key);
        }
    }
    if let Some(Json::Object(linux)) = container.get_mut("linuxParameters")
        && linux.get("initProcessEnabled") == Some(&Json::Bool(false))
    {
        linux.remove("initProcessEnabled");
    }
    let same_host_port = matches!(network_mode, "awsvpc" | "host");
    for mapping in container
        .get_mut("portMappings")
        .and_then(Json::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object_mut)
    {
        if mapping.get("protocol").and_then(Json::as_str) == Some("tcp") {
            mapping.remove("protocol");
        }
        if same_host_port
            && mapping.get("hostPort").is_some()
            && mapping.get("hostPort") == mapping.get("containerPort")
        {
            mapping.remove("hostPort");
        }
    }
    if let Some(Json::Object(check)) = container.get_mut("healthCheck") {
        for (key, default) in [
            ("interval", 30),
            ("timeout", 5),
            ("retries", 3),
            ("startPeriod", 0),
        ] {
            if check.get(key).and_then(Json::as_i64) == Some(default) {
                check.remove(key);
            }
        }
    }
}

/// Drops what means "unset" (null, "", [], {}) and sorts order-insensitive lists, recursively.
pub fn canonical(json: &mut Json) {
    match json {
        Json::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                canonical(value);
                if let (Json::Array(items), Some((_, by))) =
                    (&mut *value, SORTED_LISTS.iter().find(|(k, _)| k == key))
                {
                    items.sort_by_key(|item| sort_key(item, by));
                }
            }
            fields.retain(|_, v| !is_unset(v));
        }
        Json::Array(items) => items.iter_mut().for_each(canonical),
        _ => {}
    }
}

fn is_unset(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(items) => items.is_empty(),
        Json::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

fn sort_key(item: &Json, by: &[&str]) -> String {
    if by.is_empty() {
        return item.to_string();
    }
    let mut key: Vec<String> = by
        .iter()
        .map(|k| item.get(*k).map_or_else(String::new, Json::to_string))
        .collect();
    key.push(item.to_string());
    key.join("\u{1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn td(json: Json) -> Json {
        task_definition(&serde_json::from_value(json).unwrap())
    }

    #[test]
    fn ecs_defaults_are_dropped() {
        let written = td(json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "0.25 vCPU", "memory": "1 GB",
            "containerDefinitions": [{"name": "web", "image": "nginx", "portMappings": [{"containerPort": 80}]}],
        }));
        let returned = td(json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "1024", "volumes": [],
            "placementConstraints": [], "enableFaultInjection": false,
            "containerDefinitions": [{
                "name": "web", "image": "nginx", "essential": true, "cpu": 0, "environment": [],
                "mountPoints": [], "volumesFrom": [], "systemControls": [],
                "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            }],
        }));
        assert_eq!(written, returned);
    }

    #[test]
    fn order_insensitive_lists_are_sorted_and_order_sensitive_ones_kept() {
        let a = td(
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i",
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
            "command": ["sh", "-c", "x"]}]}),
        );
        let b = td(
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i",
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "command": ["sh", "-c", "x"]}]}),
        );
        assert_eq!(a, b);
        let reordered_command = td(
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i",
            "command": ["-c", "sh", "x"]}]}),
        );
        assert_ne!(
            a["containerDefinitions"][0]["command"],
            reordered_command["containerDefinitions"][0]["command"]
        );
    }

    #[test]
    fn real_changes_survive() {
        let base =
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "nginx:1"}]});
        let mut changed = base.clone();
        changed["containerDefinitions"][0]["image"] = json!("nginx:2");
        assert_ne!(td(base.clone()), td(changed));
        let mut not_essential = base.clone();
        not_essential["containerDefinitions"][0]["essential"] = json!(false);
        assert_ne!(td(base), td(not_essential));
    }
}
