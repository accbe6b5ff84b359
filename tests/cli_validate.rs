//! `ecs-gitops validate` and `ecs-gitops crds`, run as a user runs them: the real binary on
//! files.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ecs_gitops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-gitops"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn validate_json(path: &str) -> (Option<i32>, Value) {
    let out = ecs_gitops(&["validate", "--output", "json", path]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code(), report)
}

/// (file, line, field, message) of every error, in order.
fn errors(report: &Value) -> Vec<(String, u64, String, String)> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["field"].as_str().unwrap_or_default().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Each bad fixture, with the one error it must produce: line, field path and message.
const BAD: &[(&str, u64, &str, &str)] = &[
    (
        "01-unknown-field",
        10,
        "spec.containerDefinitions[0].memroy",
        "unknown field \"memroy\", did you mean \"memory\"?",
    ),
    (
        "02-wrong-type",
        6,
        "spec.desiredCount",
        "expected an integer, got string \"two\"",
    ),
    (
        "03-bad-enum",
        6,
        "spec.launchType",
        "\"FARGTE\" is not a valid launchType: expected one of EC2, EXTERNAL, FARGATE, MANAGED_INSTANCES; did you mean \"FARGATE\"?",
    ),
    (
        "04-missing-required",
        11,
        "spec.containerDefinitions[0].secrets[0].valueFrom",
        "missing required field \"valueFrom\"",
    ),
    (
        "05-fargate-network-mode",
        7,
        "spec.networkMode",
        "Fargate needs networkMode awsvpc, got bridge",
    ),
    (
        "06-fargate-size",
        9,
        "spec.memory",
        "4096 MiB is not a Fargate size for cpu 256: use one of 512, 1024, 2048",
    ),
    (
        "07-duplicate-container",
        10,
        "spec.containerDefinitions[1].name",
        "duplicate container name \"app\"",
    ),
    (
        "08-no-essential",
        7,
        "spec.containerDefinitions",
        "at least one container must be essential (every container has essential: false)",
    ),
    (
        "09-awsvpc-host-port",
        13,
        "spec.containerDefinitions[0].portMappings[0].hostPort",
        "under networkMode awsvpc, hostPort must be left out or equal containerPort (80), got 8080",
    ),
    (
        "10-reservation-over-limit",
        10,
        "spec.containerDefinitions[0].memoryReservation",
        "memoryReservation (512 MiB) must not exceed memory (256 MiB)",
    ),
    (
        "11-depends-on-missing",
        11,
        "spec.containerDefinitions[0].dependsOn[0].containerName",
        "no container named \"migrat\" in this task definition (containers: app, migrate); did you mean \"migrate\"?",
    ),
    (
        "12-duplicate-service",
        12,
        "metadata.name",
        "service \"prod/web\" is also defined by EcsService/web at tests/fixtures/invalid/12-duplicate-service.yaml:1: each ECS resource needs one owner",
    ),
    (
        "13-dangling-ref",
        16,
        "spec.taskDefinitionRef",
        "no EcsTaskDefinition named \"workr\" in this source; did you mean \"worker\"?",
    ),
    (
        "14-both-task-definitions",
        7,
        "spec.taskDefinitionRef",
        "set taskDefinition or taskDefinitionRef, not both",
    ),
    (
        "15-unknown-kind",
        2,
        "kind",
        "unknown kind \"EcsServce\": expected one of EcsCapacityProvider, EcsCluster, EcsTaskDefinition, EcsService; did you mean \"EcsService\"?",
    ),
    (
        "16-yaml-syntax",
        7,
        "",
        "invalid YAML: illegal placement of ':' indicator",
    ),
    (
        "17-bad-cpu-unit",
        6,
        "spec.cpu",
        "\"two vcpu\" is not a CPU size: write CPU units (\"256\") or vCPUs (\"0.25 vCPU\")",
    ),
    (
        "18-missing-volume",
        13,
        "spec.containerDefinitions[0].mountPoints[0].sourceVolume",
        "no volume named \"dta\" in this task definition's volumes (volumes: data); did you mean \"data\"?",
    ),
    (
        "19-bad-ignore-differences",
        8,
        "spec.ignoreDifferences[0]",
        "\"desiredcount\" is not a service field; did you mean \"desiredCount\"?",
    ),
    (
        "20-port-out-of-range",
        11,
        "spec.containerDefinitions[0].portMappings[0].containerPort",
        "70000 is not a port: use 1–65535",
    ),
    (
        "21-unsupported-api-version",
        1,
        "apiVersion",
        "unsupported apiVersion \"ecs-gitops.dev/v1\": this version reads ecs-gitops.dev/v1alpha1",
    ),
    (
        "22-missing-task-definition",
        6,
        "spec",
        "a service needs a task definition: set taskDefinition (inline) or taskDefinitionRef (an EcsTaskDefinition's name)",
    ),
    (
        "23-healthy-without-health-check",
        12,
        "spec.containerDefinitions[0].dependsOn[0].condition",
        "condition HEALTHY needs a healthCheck on container \"envoy\", which has none",
    ),
    (
        "24-load-balancer-port",
        9,
        "spec.loadBalancers[0].containerPort",
        "container \"web\" has no port mapping for containerPort 8080",
    ),
    (
        "25-negative-container-cpu",
        10,
        "spec.containerDefinitions[0].cpu",
        "-100 is not a CPU share: use 0 or more CPU units (1024 is one vCPU)",
    ),
    (
        "26-image-characters",
        9,
        "spec.containerDefinitions[0].image",
        "\"worker:🚀\" is not an image ECS accepts: up to 255 letters, digits, hyphens, underscores, colons, periods, slashes, number signs and @",
    ),
    (
        "27-ec2-compatible-container-memory",
        11,
        "spec.containerDefinitions[1].memory",
        "without requiresCompatibilities the task definition is EC2-compatible: set memory or memoryReservation on container \"envoy\", or memory on the task (ECS refuses to register it otherwise)",
    ),
];

#[test]
fn every_bad_fixture_fails_with_its_own_error() {
    let fixtures = std::fs::read_dir("tests/fixtures/invalid").unwrap().count();
    assert_eq!(
        fixtures,
        BAD.len(),
        "every fixture in tests/fixtures/invalid has a row here"
    );
    for (name, line, field, message) in BAD {
        let file = format!("tests/fixtures/invalid/{name}.yaml");
        let (code, report) = validate_json(&file);
        assert_eq!(code, Some(1), "{file} must be invalid");
        assert_eq!(report["valid"], false);
        let expected = vec![(file.clone(), *line, field.to_string(), message.to_string())];
        assert_eq!(errors(&report), expected, "{file}");
    }
}

#[test]
fn text_output_says_where_and_what() {
    let out = ecs_gitops(&["validate", "tests/fixtures/invalid/01-unknown-field.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(
            "tests/fixtures/invalid/01-unknown-field.yaml:10:7: EcsTaskDefinition/api: \
             spec.containerDefinitions[0].memroy: unknown field \"memroy\", did you mean \"memory\"?\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("invalid: 1 error, 0 warnings\n"),
        "{stdout}"
    );
}

#[test]
fn all_problems_of_a_file_are_reported_in_one_pass() {
    let file = "tests/fixtures/several-problems.yaml";
    let (code, report) = validate_json(file);
    assert_eq!(code, Some(1));
    let expected: Vec<(String, u64, String, String)> = [
        (8, "spec.launchType", "\"FARGTE\" is not a valid launchType: expected one of EC2, EXTERNAL, FARGATE, MANAGED_INSTANCES; did you mean \"FARGATE\"?"),
        (16, "spec.taskDefinition.memory", "4096 MiB is not a Fargate size for cpu 256: use one of 512, 1024, 2048"),
        (20, "spec.taskDefinition.containerDefinitions[0].memroy", "unknown field \"memroy\", did you mean \"memory\"?"),
    ]
    .iter()
    .map(|(line, field, message)| (file.to_string(), *line, field.to_string(), message.to_string()))
    .collect();
    assert_eq!(errors(&report), expected);
    assert_eq!(report["warnings"], 1);
}

#[test]
fn all_problems_of_a_directory_are_reported_not_the_first() {
    let (code, report) = validate_json("tests/fixtures/invalid");
    assert_eq!(code, Some(1));
    // Read together, the fixtures also clash by name; each file's own error is still there.
    let found = errors(&report);
    for (name, line, field, message) in BAD {
        let file = format!("tests/fixtures/invalid/{name}.yaml");
        let expected = (file, *line, field.to_string(), message.to_string());
        assert!(
            found.contains(&expected),
            "{expected:?} missing from {found:#?}"
        );
    }
}

#[test]
fn the_quickstart_examples_are_valid() {
    let (code, report) = validate_json("examples/quickstart");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["valid"], true);
    assert_eq!(report["warnings"], 0);
    let kinds: Vec<&str> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "EcsService").count(), 2);
    assert_eq!(
        kinds.iter().filter(|k| **k == "EcsTaskDefinition").count(),
        2
    );
    assert_eq!(kinds.iter().filter(|k| **k == "EcsCluster").count(), 1);
}

#[test]
fn secret_looking_environment_values_warn_without_printing_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsTaskDefinition\nmetadata:\n  name: app\n\
         spec:\n  memory: \"512\"\n  containerDefinitions:\n    - name: app\n      image: app:1\n\
         \x20     environment:\n        - name: DB_PASSWORD\n          value: hunter2-do-not-print\n\
         \x20       - name: STRIPE_API_KEY\n          value: sk_live_do_not_print\n\
         \x20       - name: LOG_LEVEL\n          value: debug\n",
    )
    .unwrap();
    let out = ecs_gitops(&["validate", file.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "warnings do not fail: {stdout}");
    assert!(
        !stdout.contains("do_not_print") && !stdout.contains("do-not-print"),
        "{stdout}"
    );
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(warnings[0].contains(":12:11: EcsTaskDefinition/app: spec.containerDefinitions[0].environment[0].value: warning: environment variable \"DB_PASSWORD\" looks like a secret"), "{}", warnings[0]);
    assert!(
        warnings[1].contains("\"STRIPE_API_KEY\""),
        "{}",
        warnings[1]
    );
    assert!(warnings[0].contains("move it to `secrets`"));
}

/// Errors under `environment`, `secrets`, `dockerLabels`, `logConfiguration.options`, …
/// name the field and the type found, never the value: text and JSON alike.
#[test]
fn errors_under_credential_fields_never_repeat_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsTaskDefinition\nmetadata:\n  name: app\n\
         spec:\n  memory: \"512\"\n  containerDefinitions:\n    - name: app\n      image: app:1\n\
         \x20     environment:\n        - DB_PASSWORD=hunter2-compose-style\n\
         \x20       - {name: SECRET_NUM, value: 12345678}\n\
         \x20     dockerLabels: {api.token: 987654321}\n\
         \x20     logConfiguration: {logDriver: splunk, options: {splunk-token: [tok-in-a-list]}}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let text = String::from_utf8(ecs_gitops(&["validate", path]).stdout).unwrap();
    let (code, report) = validate_json(path);
    assert_eq!(code, Some(1));
    let found: Vec<(u64, String, String)> = errors(&report)
        .into_iter()
        .map(|(_, line, field, message)| (line, field, message))
        .collect();
    let expected: Vec<(u64, String, String)> = [
        (
            11,
            "spec.containerDefinitions[0].environment[0]",
            "expected a mapping, got string",
        ),
        (
            12,
            "spec.containerDefinitions[0].environment[1].value",
            "expected a string, got integer (quote it)",
        ),
        (
            13,
            "spec.containerDefinitions[0].dockerLabels.api.token",
            "expected a string, got integer (quote it)",
        ),
        (
            14,
            "spec.containerDefinitions[0].logConfiguration.options.splunk-token",
            "expected a string, got list",
        ),
    ]
    .iter()
    .map(|(line, field, message)| (*line, field.to_string(), message.to_string()))
    .collect();
    assert_eq!(found, expected, "{text}");
    for secret in ["hunter2", "12345678", "987654321", "tok-in-a-list"] {
        assert!(!text.contains(secret), "{secret}: {text}");
        assert!(!report.to_string().contains(secret), "{secret}: {report:#}");
    }
}

#[test]
fn documents_of_other_api_versions_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mixed.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  anything: goes\n---\n\
         apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: prod\nspec: {}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let (code, report) = validate_json(dir.path().to_str().unwrap());
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["objects"].as_array().unwrap().len(), 1);
    assert_eq!(report["objects"][0]["kind"], "EcsCluster");
}

#[test]
fn a_path_without_objects_is_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = validate_json(dir.path().to_str().unwrap());
    assert_eq!(code, Some(1));
    assert_eq!(report["valid"], false);
    let (code, report) = validate_json("no/such/path");
    assert_eq!(code, Some(1));
    assert!(
        errors(&report)[0].3 == "no such file or directory",
        "{report:#}"
    );
}

/// `crds/` holds one file per kind, equal to what the types generate and to what
/// `ecs-gitops crds` prints. `UPDATE_GENERATED=1` rewrites them.
#[test]
fn committed_crds_match_the_types() {
    let generated = ecs_gitops::api::crd::crd_files();
    assert_eq!(generated.len(), 4);
    for (name, yaml) in &generated {
        let path = Path::new("crds").join(name);
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            std::fs::create_dir_all("crds").unwrap();
            std::fs::write(&path, yaml).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            &committed == yaml,
            "{} is stale: run `UPDATE_GENERATED=1 cargo test --test cli_validate`",
            path.display()
        );
    }
    let out = ecs_gitops(&["crds"]);
    assert!(out.status.success());
    let yamls: Vec<&str> = generated.iter().map(|(_, y)| y.as_str()).collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), yamls.join("---\n"));
}

#[test]
fn crds_carry_printer_columns_status_and_docs() {
    let crds = ecs_gitops::api::crd::crds();
    let service = crds
        .iter()
        .find(|c| c.spec.names.kind == "EcsService")
        .unwrap();
    let version = &service.spec.versions[0];
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Revision", "Rollout", "Age"]);
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let schema = serde_json::to_value(version.schema.as_ref().unwrap()).unwrap();
    let spec = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert!(
        spec["desiredCount"]["description"]
            .as_str()
            .unwrap()
            .contains("instantiations")
    );
    assert_eq!(
        spec["taskDefinition"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let circuit_breaker =
        &spec["deploymentConfiguration"]["properties"]["deploymentCircuitBreaker"];
    assert_eq!(
        circuit_breaker["required"],
        serde_json::json!(["enable", "rollback"])
    );
    let td = crds
        .iter()
        .find(|c| c.spec.names.kind == "EcsTaskDefinition")
        .unwrap();
    let td_schema = serde_json::to_value(td.spec.versions[0].schema.as_ref().unwrap()).unwrap();
    let network_mode =
        &td_schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["networkMode"];
    assert_eq!(
        network_mode["enum"],
        serde_json::json!(["awsvpc", "bridge", "host", "none", null])
    );
}

const CLUSTER: &str =
    "apiVersion: ecs-gitops.dev/v1alpha1\nkind: EcsCluster\nmetadata:\n  name: prod\nspec: {}\n";

/// A `.json` file is JSON: a trailing comma is an error with its line and column.
#[test]
fn json_files_are_read_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.json");
    std::fs::write(
        &file,
        "{\n  \"apiVersion\": \"ecs-gitops.dev/v1alpha1\",\n  \"kind\": \"EcsCluster\",\n  \"metadata\": {\"name\": \"prod\"},\n  \"spec\": {},\n}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, report) = validate_json(path);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        errors(&report),
        [(
            path.to_string(),
            6,
            String::new(),
            "invalid JSON: trailing comma".to_string()
        )]
    );
    std::fs::write(&file, "{\"apiVersion\": \"ecs-gitops.dev/v1alpha1\", \"kind\": \"EcsCluster\", \"metadata\": {\"name\": \"prod\"}, \"spec\": {}}").unwrap();
    assert_eq!(validate_json(path).0, Some(0));
}

/// Input that is not UTF-8 is located by byte offset (and line and column).
#[test]
fn non_utf8_input_names_the_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    let mut bytes = CLUSTER.as_bytes().to_vec();
    bytes.extend(b"# caf\xe9\n");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    let (code, report) = validate_json(path);
    assert_eq!(code, Some(1));
    assert_eq!(
        errors(&report),
        [(
            path.to_string(),
            6,
            String::new(),
            format!(
                "not UTF-8: invalid byte 0xe9 at byte offset {}",
                CLUSTER.len() + 5
            )
        )]
    );
    assert_eq!(report["diagnostics"][0]["column"], 6);
}

/// A dangling symlink or a loop is reported on that entry; the rest of the directory is read.
#[test]
fn a_dangling_symlink_or_a_loop_is_reported_on_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    std::os::unix::fs::symlink(dir.path(), nested.join("up")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.yaml"), dir.path().join("web.yaml")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.path().join("notes")).unwrap();
    let (code, report) = validate_json(dir.path().to_str().unwrap());
    assert_eq!(code, Some(1), "{report:#}");
    let web = dir.path().join("web.yaml").display().to_string();
    assert_eq!(
        errors(&report),
        [(
            web,
            0,
            String::new(),
            format!(
                "dangling symlink to {}",
                dir.path().join("gone.yaml").display()
            )
        )]
    );
    let warnings: Vec<(&str, &str)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "warning")
        .map(|d| (d["file"].as_str().unwrap(), d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|(f, m)| f.ends_with("/notes") && *m == "skipped: dangling symlink to nowhere")
    );
    assert!(warnings.iter().any(
        |(f, m)| f.ends_with("nested/up") && m.starts_with("skipped: a symlink loop back to ")
    ));
    assert_eq!(report["objects"].as_array().unwrap().len(), 1);
}

/// Files over `--max-file-size` (default 4 MiB) are not read, and say so.
#[test]
fn files_over_the_size_limit_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    let padding = format!("# {}\n", "x".repeat(1024));
    std::fs::write(&big, format!("{CLUSTER}{}", padding.repeat(4 * 1024 + 1))).unwrap();
    let path = dir.path().to_str().unwrap();
    let out = ecs_gitops(&["validate", "--output", "json", path]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        errors(&report),
        [(
            big.display().to_string(),
            0,
            String::new(),
            "the file is larger than 4194304 bytes, the limit (--max-file-size): not read"
                .to_string()
        )]
    );
    let out = ecs_gitops(&["validate", "--max-file-size", "5MiB", path]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Now read: the two files define the same cluster.
    assert!(stdout.contains("is also defined by"), "{stdout}");
    let out = ecs_gitops(&["validate", "--max-file-size", "1KiB", path]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("larger than 1024 bytes"), "{stdout}");
}
