//! The real-world corpus (`../shared/realworld/`): ECS definitions written by other people,
//! each pasted under `spec` as a user would. All validate, except the files with a bug ECS
//! itself rejects, whose culprit is named precisely: the corpus README's known bugs, and
//! `taskdefs/14`, whose containers lack the memory an EC2-compatible definition needs.

mod common;

use ecs_gitops::api::{Diagnostic, Parsed, parse_file};

/// Pastes `body` under `spec` on the document's first line, so lines stay the file's own.
fn pasted(kind: &str, name: &str, body: &str) -> String {
    format!(
        "{{\"apiVersion\": \"ecs-gitops.dev/v1alpha1\", \"kind\": \"{kind}\", \"metadata\": {{\"name\": \"{name}\"}}, \"spec\": {body}}}"
    )
}

fn validate(file: &str, text: &str) -> Parsed {
    let mut parsed = parse_file(file, text);
    parsed.check_rules();
    parsed
}

fn errors(parsed: &Parsed) -> Vec<&Diagnostic> {
    parsed.diagnostics.iter().filter(|d| d.is_error()).collect()
}

/// Every corpus file of `dir`, pasted under an object's spec and validated alone.
fn corpus(dir: &str, kind: &str) -> Vec<(String, Parsed)> {
    let Some(shared) = common::shared_dir() else {
        return Vec::new();
    };
    let mut files: Vec<_> = std::fs::read_dir(shared.join("realworld").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let mut body = std::fs::read_to_string(&path).unwrap();
            if kind == "EcsService" {
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                if json.get("taskDefinition").is_none() {
                    // ecspresso's service files leave the task definition to the tool: name an
                    // existing one, on the first line so that lines stay the file's own.
                    body = body.replacen('{', "{\"taskDefinition\": \"app:1\", ", 1);
                }
            }
            let object_name = format!("rw-{}", &name[..2]);
            let parsed = validate(&name, &pasted(kind, &object_name, &body));
            (name, parsed)
        })
        .collect()
}

/// An error a test expects: line, field path, message.
type Expected = (usize, &'static str, &'static str);

/// (file, its errors) for each file ECS itself would reject.
const REAL_BUGS: &[(&str, &[Expected])] = &[
    (
        "03-ecspresso-td-plain-appmesh-outputfields",
        &[(
            62,
            "spec.proxyConfiguration.containerName",
            "no container named \"envoy\" in this task definition (containers: katsubushi)",
        )],
    ),
    (
        "29-docs-windows-fsx-volume-mismatch",
        &[
            (
                17,
                "spec.containerDefinitions[0].mountPoints[0].sourceVolume",
                "no volume named \"fsx-windows-dir\" in this task definition's volumes (volumes: fsx-windows-vol); did you mean \"fsx-windows-vol\"?",
            ),
            (
                38,
                "spec.containerDefinitions[1].mountPoints[0].sourceVolume",
                "no volume named \"fsx-windows-dir\" in this task definition's volumes (volumes: fsx-windows-vol); did you mean \"fsx-windows-vol\"?",
            ),
        ],
    ),
    (
        // ECS: "Invalid setting for container 'app'. At least one of 'memory' or
        // 'memoryReservation' must be specified." (no requiresCompatibilities: EC2-compatible)
        "14-docs-appmesh-container-dependency",
        &[
            (
                33,
                "spec.containerDefinitions[0].memory",
                "without requiresCompatibilities the task definition is EC2-compatible: set memory or memoryReservation on container \"app\", or memory on the task (ECS refuses to register it otherwise)",
            ),
            (
                51,
                "spec.containerDefinitions[1].memory",
                "without requiresCompatibilities the task definition is EC2-compatible: set memory or memoryReservation on container \"envoy\", or memory on the task (ECS refuses to register it otherwise)",
            ),
        ],
    ),
    (
        "08-capacity-provider-empty-launchtype-typo",
        &[(
            11,
            "spec.deploymentConfiguration.alarms.alarmnames",
            "unknown field \"alarmnames\", did you mean \"alarmNames\"?",
        )],
    ),
];

/// Skeletons list every field with empty values: all fields are accepted; the only errors
/// are required values left empty, which ECS rejects too.
const SKELETONS: &[&str] = &[
    "20-docs-full-skeleton-all-fields",
    "14-docs-external-controller-skeleton",
    "15-docs-service-full-skeleton",
];

fn check_corpus(dir: &str, kind: &str) -> usize {
    let results = corpus(dir, kind);
    for (name, parsed) in &results {
        let found: Vec<(usize, &str, &str)> = errors(parsed)
            .iter()
            .map(|d| (d.line, d.field.as_deref().unwrap_or(""), d.message.as_str()))
            .collect();
        if let Some((_, expected)) = REAL_BUGS.iter().find(|(file, _)| file == name) {
            assert_eq!(found, expected.to_vec(), "{name}");
        } else if SKELETONS.contains(&name.as_str()) {
            assert_eq!(found.is_empty(), parsed.manifests.len() == 1, "{name}");
            for (_, field, message) in &found {
                let leaf = field.rsplit('.').next().unwrap();
                assert_eq!(
                    *message,
                    format!("missing required field \"{leaf}\""),
                    "{name}: {field}"
                );
            }
        } else {
            assert!(
                found.is_empty(),
                "{name} must validate: {:#?}",
                parsed.diagnostics
            );
            assert_eq!(parsed.manifests.len(), 1, "{name}");
        }
    }
    results.len()
}

#[test]
fn every_real_world_task_definition_validates_or_names_its_bug() {
    let checked = check_corpus("taskdefs", "EcsTaskDefinition");
    assert!(checked == 30 || common::shared_dir().is_none(), "{checked}");
}

#[test]
fn every_real_world_service_validates_or_names_its_bug() {
    let checked = check_corpus("services", "EcsService");
    assert!(checked == 15 || common::shared_dir().is_none(), "{checked}");
}

#[test]
fn read_only_fields_pasted_from_describe_output_warn_and_are_ignored() {
    for (dir, kind, file, fields) in [
        (
            "taskdefs",
            "EcsTaskDefinition",
            "03-ecspresso-td-plain-appmesh-outputfields",
            &["spec.status", "spec.revision"][..],
        ),
        (
            "services",
            "EcsService",
            "10-fargate-alb-with-output-counts",
            &["spec.pendingCount", "spec.runningCount"][..],
        ),
        (
            "services",
            "EcsService",
            "11-fargate-null-securitygroups-max100",
            &["spec.pendingCount", "spec.runningCount"][..],
        ),
    ] {
        let Some((_, parsed)) = corpus(dir, kind).into_iter().find(|(n, _)| n == file) else {
            return missing(file);
        };
        let warned: Vec<&str> = parsed
            .diagnostics
            .iter()
            .filter(|d| !d.is_error() && d.message.contains("read-only output of ECS"))
            .filter_map(|d| d.field.as_deref())
            .collect();
        for field in fields {
            assert!(
                warned.contains(field),
                "{file}: {field} not warned: {warned:?}"
            );
        }
    }
}

#[test]
fn quirks_users_paste_are_read_as_ecs_reads_them() {
    let results = corpus("taskdefs", "EcsTaskDefinition");
    let spec = |file: &str| {
        let (_, parsed) = results.iter().find(|(n, _)| n.starts_with(file))?;
        match &parsed.manifests[0].object {
            ecs_gitops::api::Object::TaskDefinition(td) => Some(td.spec.task_definition.clone()),
            _ => None,
        }
    };
    let Some(unit_strings) = spec("09-") else {
        return missing("taskdefs/09-…");
    };
    // "1 vcpu" and "2 gb" are kept as written; the Fargate rules read them as 1024 and 2048.
    assert_eq!(unit_strings.cpu.unwrap().0, "1 vcpu");
    assert_eq!(unit_strings.memory.unwrap().0, "2 gb");
    // Empty strings mean unset, for enums too.
    let empty = spec("22-").unwrap();
    assert_eq!((empty.ipc_mode, empty.pid_mode), (None, None));
}

/// The AWS developer guide's Fargate web server example, pasted unchanged.
#[test]
fn the_aws_docs_fargate_example_validates_unchanged() {
    let Some((_, parsed)) = corpus("taskdefs", "EcsTaskDefinition")
        .into_iter()
        .find(|(n, _)| n == "11-docs-fargate-webserver")
    else {
        return missing("11-docs-fargate-webserver");
    };
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    assert_eq!(parsed.manifests.len(), 1);
}

/// A corpus file a test expects is not there: only a checkout without `../shared` may skip
/// (loudly, outside CI); with the corpus present it is a failure, never a silent pass.
fn missing(file: &str) {
    assert!(
        common::shared_dir().is_none(),
        "{file} is missing from ../shared/realworld"
    );
}
