//! The simulator's rules, driven without HTTP on an explicit clock, checked at every step.

use serde_json::{Value as Json, json};

use super::ops::{self, Ctx};
use super::rollout::{failure_threshold, tick};
use super::state::{DEFAULT_ACCOUNT, World};

const REGION: &str = "us-east-1";
/// Simulated seconds per step: finer than every phase of a task.
const STEP: f64 = 0.5;

struct Sim {
    world: World,
    now: f64,
}

impl Sim {
    fn new() -> Sim {
        let mut sim = Sim {
            world: World::default(),
            now: 1_800_000_000.0,
        };
        sim.call("CreateCluster", json!({"clusterName": "c1"}));
        sim
    }

    fn try_call(&mut self, operation: &str, request: Json) -> Result<Json, super::error::ApiError> {
        let (region, ids) = self.world.region(DEFAULT_ACCOUNT, REGION);
        let mut ctx = Ctx {
            region,
            ids,
            now: self.now,
        };
        ops::call(operation, &mut ctx, &request).map(|body| serde_json::from_str(&body).unwrap())
    }

    fn call(&mut self, operation: &str, request: Json) -> Json {
        self.try_call(operation, request)
            .unwrap_or_else(|e| panic!("{operation}: {e}"))
    }

    fn step(&mut self) {
        self.now += STEP;
        let World { regions, ids } = &mut self.world;
        let region = (DEFAULT_ACCOUNT.to_string(), REGION.to_string());
        tick(regions.get_mut(&region).unwrap(), ids, self.now);
    }

    fn register(&mut self, image: &str, health_check: bool) -> String {
        let mut container = json!({"name": "app", "image": image, "memory": 128});
        if health_check {
            container["healthCheck"] = json!({"command": ["CMD-SHELL", "true"]});
        }
        let out = self.call(
            "RegisterTaskDefinition",
            json!({"family": "app", "containerDefinitions": [container]}),
        );
        out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn service(&mut self) -> Json {
        let out = self.call(
            "DescribeServices",
            json!({"cluster": "c1", "services": ["web"]}),
        );
        out["services"][0].clone()
    }

    /// (live tasks, healthy tasks) of the service, from DescribeTasks.
    fn task_counts(&mut self) -> (usize, usize) {
        let arns = self.call("ListTasks", json!({"cluster": "c1", "serviceName": "web"}));
        let arns = arns["taskArns"].as_array().unwrap().clone();
        if arns.is_empty() {
            return (0, 0);
        }
        let tasks = self.call("DescribeTasks", json!({"cluster": "c1", "tasks": arns}));
        let tasks = tasks["tasks"].as_array().unwrap();
        let healthy = tasks
            .iter()
            .filter(|t| t["lastStatus"] == "RUNNING" && t["healthStatus"] == "HEALTHY")
            .count();
        (tasks.len(), healthy)
    }

    /// Steps until the primary deployment's rollout leaves IN_PROGRESS; returns it.
    fn settle(&mut self, mut each_step: impl FnMut(&mut Sim)) -> Json {
        for _ in 0..2000 {
            self.step();
            each_step(self);
            let service = self.service();
            let primary = &service["deployments"][0];
            if primary["rolloutState"] != "IN_PROGRESS"
                && service["deployments"].as_array().unwrap().len() == 1
            {
                return service;
            }
        }
        panic!("no steady state: {:#}", self.service());
    }

    /// Puts the capacity providers on cluster c1, with no default strategy.
    fn associate(&mut self, providers: &[&str]) -> Json {
        self.call(
            "PutClusterCapacityProviders",
            json!({"cluster": "c1", "capacityProviders": providers,
                   "defaultCapacityProviderStrategy": []}),
        )
    }

    fn create_service(&mut self, task_definition: &str, desired: i64, deployment: Json) {
        self.call(
            "CreateService",
            json!({
                "cluster": "c1", "serviceName": "web", "taskDefinition": task_definition,
                "desiredCount": desired, "deploymentConfiguration": deployment,
            }),
        );
    }
}

#[test]
fn a_rolling_update_stays_within_minimum_healthy_and_maximum_percent() {
    for (desired, min, max) in [(4, 50, 150), (4, 100, 200), (3, 0, 100), (10, 90, 110)] {
        let mut sim = Sim::new();
        let v1 = sim.register("nginx:1", true);
        let config = json!({"minimumHealthyPercent": min, "maximumPercent": max});
        sim.create_service(&v1, desired, config);
        sim.settle(|_| {});
        let v2 = sim.register("nginx:2", true);
        sim.call(
            "UpdateService",
            json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
        );
        let (max_live, min_healthy) = (
            (desired * max / 100) as usize,
            ((desired * min + 99) / 100) as usize,
        );
        let mut lowest_healthy = usize::MAX;
        let mut highest_live = 0;
        let service = sim.settle(|sim| {
            let (live, healthy) = sim.task_counts();
            highest_live = highest_live.max(live);
            lowest_healthy = lowest_healthy.min(healthy);
        });
        assert!(
            highest_live <= max_live,
            "{desired}/{min}/{max}: {highest_live} live > {max_live}"
        );
        assert!(
            lowest_healthy >= min_healthy,
            "{desired}/{min}/{max}: {lowest_healthy} healthy < {min_healthy}"
        );
        assert_eq!(service["deployments"][0]["rolloutState"], "COMPLETED");
        assert_eq!(service["taskDefinition"], json!(v2));
        assert_eq!(service["runningCount"], desired);
        let messages: Vec<&str> = service["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert!(
            messages[0].ends_with("has reached a steady state."),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("deployment completed."),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m.contains(&format!(
            "has started {} tasks",
            desired.min(max_live as i64 - desired).max(1)
        )) || m.contains("has started")));
    }
}

#[test]
fn tasks_move_through_their_lifecycle() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    sim.create_service(&v1, 1, json!({}));
    sim.step();
    let mut seen = Vec::new();
    for _ in 0..40 {
        let arns = sim.call("ListTasks", json!({"cluster": "c1", "serviceName": "web"}));
        let tasks = sim.call(
            "DescribeTasks",
            json!({"cluster": "c1", "tasks": arns["taskArns"]}),
        );
        let state = format!(
            "{}/{}",
            tasks["tasks"][0]["lastStatus"].as_str().unwrap(),
            tasks["tasks"][0]["healthStatus"].as_str().unwrap()
        );
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        sim.step();
    }
    assert_eq!(
        seen,
        [
            "PROVISIONING/UNKNOWN",
            "PENDING/UNKNOWN",
            "RUNNING/UNKNOWN",
            "RUNNING/HEALTHY"
        ]
    );
}

#[test]
fn the_circuit_breaker_fails_at_its_threshold_and_rolls_back() {
    assert_eq!(
        (
            failure_threshold(1),
            failure_threshold(10),
            failure_threshold(1000)
        ),
        (3, 5, 200)
    );
    let mut sim = Sim::new();
    let good = sim.register("nginx:1", true);
    let breaker = json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true}});
    sim.create_service(&good, 2, breaker);
    let first = sim.settle(|_| {});
    let first_id = first["deployments"][0]["id"].as_str().unwrap().to_string();
    let bad = sim.register("nginx:fail-1", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": bad}),
    );
    let mut failed_at = None;
    let service = sim.settle(|sim| {
        let service = sim.service();
        let failed = service["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["rolloutState"] == "FAILED")
            .cloned();
        if let (None, Some(d)) = (&failed_at, failed) {
            failed_at = Some(d["failedTasks"].as_i64().unwrap());
        }
    });
    // Threshold 3 for 2 desired; two tasks fail at a time, so the breaker sees 3 or 4.
    let failed = failed_at.expect("the deployment went FAILED");
    assert!((3..=4).contains(&failed), "{failed}");
    assert_eq!(
        service["taskDefinition"],
        json!(good),
        "rolled back to the last completed revision"
    );
    let primary = &service["deployments"][0];
    assert_eq!(primary["rolloutState"], "COMPLETED");
    assert_eq!(
        primary["rolloutStateReason"],
        json!(format!(
            "ECS deployment {} completed.",
            primary["id"].as_str().unwrap()
        ))
    );
    let messages: Vec<String> = service["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("deployment failed: tasks failed to start.")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("rolling back to deployment {first_id}"))),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.ends_with("failed container health checks.")),
        "{messages:#?}"
    );
    // The service deployment of the bad change ended as a successful rollback.
    let deployments = sim.call(
        "ListServiceDeployments",
        json!({"cluster": "c1", "service": "web"}),
    );
    let newest = &deployments["serviceDeployments"][0];
    assert_eq!(newest["status"], "ROLLBACK_SUCCESSFUL");
    let described = sim.call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [newest["serviceDeploymentArn"]]}),
    );
    let breaker = &described["serviceDeployments"][0]["deploymentCircuitBreaker"];
    assert_eq!(
        (breaker["status"].as_str(), breaker["threshold"].as_i64()),
        (Some("TRIGGERED"), Some(3))
    );
}

#[test]
fn without_the_circuit_breaker_a_bad_image_keeps_failing_and_the_old_tasks_keep_serving() {
    let mut sim = Sim::new();
    let good = sim.register("nginx:1", true);
    sim.create_service(&good, 2, json!({}));
    sim.settle(|_| {});
    let missing = sim.register("nginx:missing-tag", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": missing}),
    );
    for _ in 0..200 {
        sim.step();
    }
    let service = sim.service();
    let primary = &service["deployments"][0];
    assert_eq!(primary["rolloutState"], "IN_PROGRESS");
    assert!(primary["failedTasks"].as_i64().unwrap() > 3, "{primary:#}");
    assert_eq!(
        service["deployments"][1]["runningCount"], 2,
        "min healthy 100% keeps the old tasks"
    );
    let stopped = sim.call(
        "ListTasks",
        json!({"cluster": "c1", "desiredStatus": "STOPPED"}),
    );
    let tasks = sim.call(
        "DescribeTasks",
        json!({"cluster": "c1", "tasks": [stopped["taskArns"][0]]}),
    );
    let reason = tasks["tasks"][0]["stoppedReason"].as_str().unwrap();
    assert!(reason.starts_with("CannotPullContainerError"), "{reason}");
    assert_eq!(tasks["tasks"][0]["stopCode"], "TaskFailedToStart");
}

#[test]
fn blue_green_starts_everything_bakes_then_completes() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    let config = json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1});
    sim.create_service(&v1, 3, config);
    sim.settle(|_| {});
    let v2 = sim.register("nginx:2", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
    );
    let start = sim.now;
    let mut peak = 0;
    let service = sim.settle(|sim| peak = peak.max(sim.task_counts().0));
    assert_eq!(peak, 6, "green runs beside blue");
    assert!(
        sim.now - start >= 60.0,
        "baked for a minute: {}",
        sim.now - start
    );
    assert_eq!(service["taskDefinition"], json!(v2));
}

#[test]
fn scaling_changes_the_count_without_a_new_deployment() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", false);
    sim.create_service(&v1, 1, json!({}));
    let before = sim.settle(|_| {});
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "desiredCount": 3}),
    );
    for _ in 0..100 {
        sim.step();
    }
    let after = sim.service();
    assert_eq!(after["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["deployments"][0]["id"],
        before["deployments"][0]["id"]
    );
    assert_eq!(after["runningCount"], 3);
}

#[test]
fn deleting_drains_then_inactivates() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", false);
    sim.create_service(&v1, 2, json!({}));
    sim.settle(|_| {});
    let refused = sim
        .try_call("DeleteService", json!({"cluster": "c1", "service": "web"}))
        .unwrap_err();
    assert_eq!(refused.code, "InvalidParameterException");
    let deleted = sim.call(
        "DeleteService",
        json!({"cluster": "c1", "service": "web", "force": true}),
    );
    assert_eq!(deleted["service"]["status"], "DRAINING");
    for _ in 0..40 {
        sim.step();
    }
    assert_eq!(sim.service()["status"], "INACTIVE");
    let listed = sim.call("ListServices", json!({"cluster": "c1"}));
    assert_eq!(listed["serviceArns"], json!([]));
    let update = sim
        .try_call(
            "UpdateService",
            json!({"cluster": "c1", "service": "web", "desiredCount": 1}),
        )
        .unwrap_err();
    assert_eq!(update.code, "ServiceNotActiveException");
    // The name can be used again.
    sim.create_service(&v1, 1, json!({}));
    assert_eq!(sim.service()["status"], "ACTIVE");
}

#[test]
fn registering_adds_ecs_defaults() {
    let mut sim = Sim::new();
    let out = sim.call(
        "RegisterTaskDefinition",
        json!({
            "family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "0.25 vCPU", "memory": "1 GB",
            "containerDefinitions": [{"name": "web", "image": "nginx", "portMappings": [{"containerPort": 80}]}],
        }),
    );
    let td = &out["taskDefinition"];
    assert_eq!(
        (td["cpu"].as_str(), td["memory"].as_str()),
        (Some("256"), Some("1024"))
    );
    let container = &td["containerDefinitions"][0];
    assert_eq!(container["essential"], true);
    assert_eq!(container["cpu"], 0);
    assert_eq!(
        container["portMappings"][0],
        json!({"containerPort": 80, "hostPort": 80, "protocol": "tcp"})
    );
    for key in [
        "environment",
        "mountPoints",
        "volumesFrom",
        "systemControls",
    ] {
        assert_eq!(container[key], json!([]), "{key}");
    }
    assert_eq!(td["compatibilities"], json!(["EC2", "FARGATE"]));
    let bad = sim
        .try_call(
            "RegisterTaskDefinition",
            json!({"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "4096",
                   "containerDefinitions": [{"name": "web", "image": "nginx"}]}),
        )
        .unwrap_err();
    assert_eq!(
        bad.message,
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory."
    );
}

#[test]
fn an_ec2_compatible_task_definition_needs_each_containers_memory() {
    let mut sim = Sim::new();
    let containers = json!([
        {"name": "app", "image": "app:1"},
        {"name": "envoy", "image": "envoy:1", "memoryReservation": 128}
    ]);
    // No requiresCompatibilities: EC2-compatible, as ECS reads it.
    for request in [
        json!({"family": "mesh", "containerDefinitions": containers}),
        json!({"family": "mesh", "requiresCompatibilities": ["EC2"], "containerDefinitions": containers}),
    ] {
        let refused = sim.try_call("RegisterTaskDefinition", request).unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            (
                "ClientException",
                "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."
            )
        );
    }
    // A task-level memory, or each container's, is enough.
    sim.call(
        "RegisterTaskDefinition",
        json!({"family": "mesh", "memory": "512", "containerDefinitions": containers}),
    );
    sim.call(
        "RegisterTaskDefinition",
        json!({"family": "mesh", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 64}]}),
    );
}

impl Sim {
    fn register_job(&mut self, images: &[&str]) -> String {
        let containers: Vec<Json> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image, "memory": 128}))
            .collect();
        let out = self.call(
            "RegisterTaskDefinition",
            json!({"family": "job", "containerDefinitions": containers,
                   "tags": [{"key": "app", "value": "job"}]}),
        );
        out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn describe_task(&mut self, arn: &str, include_tags: bool) -> Json {
        let include = if include_tags {
            json!(["TAGS"])
        } else {
            json!([])
        };
        let out = self.call(
            "DescribeTasks",
            json!({"cluster": "c1", "tasks": [arn], "include": include}),
        );
        out["tasks"][0].clone()
    }

    /// Steps until the task is STOPPED; returns the lastStatus values it went through.
    fn run_to_stopped(&mut self, arn: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..200 {
            let status = self.describe_task(arn, false)["lastStatus"]
                .as_str()
                .unwrap()
                .to_string();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if status == "STOPPED" {
                return seen;
            }
            self.step();
        }
        panic!("never stopped: {seen:?}");
    }
}

#[test]
fn a_task_started_by_run_task_runs_to_stopped_with_exit_codes_by_image_tag() {
    let mut sim = Sim::new();
    for (image, statuses, exit_code, reason, code) in [
        (
            "migrate:1",
            &["PROVISIONING", "PENDING", "RUNNING", "STOPPING", "STOPPED"][..],
            Some(0),
            "Essential container in task exited",
            "EssentialContainerExited",
        ),
        (
            "migrate:fail-2",
            &["PROVISIONING", "PENDING", "RUNNING", "STOPPING", "STOPPED"][..],
            Some(1),
            "Essential container in task exited",
            "EssentialContainerExited",
        ),
        (
            "migrate:missing-3",
            &["PROVISIONING", "PENDING", "STOPPED"][..],
            None,
            "CannotPullContainerError: ",
            "TaskFailedToStart",
        ),
    ] {
        let td = sim.register_job(&[image]);
        let out = sim.call(
            "RunTask",
            json!({"cluster": "c1", "taskDefinition": td, "startedBy": "ecs-gitops/pre-deploy",
                   "tags": [{"key": "spec-hash", "value": "abc"}]}),
        );
        assert_eq!(out["failures"], json!([]));
        let arn = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        assert_eq!(sim.run_to_stopped(&arn), statuses, "{image}");
        let task = sim.describe_task(&arn, false);
        assert_eq!(task["desiredStatus"], "STOPPED");
        assert!(
            task["stoppedReason"].as_str().unwrap().starts_with(reason),
            "{image}: {task:#}"
        );
        assert_eq!(task["stopCode"], code, "{image}");
        let container = &task["containers"][0];
        assert_eq!(container["exitCode"].as_i64(), exit_code, "{image}");
        assert_eq!(container["lastStatus"], "STOPPED");
        match exit_code {
            Some(_) => assert!(container.get("reason").is_none(), "{container:#}"),
            None => assert!(
                container["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("CannotPullContainerError: "),
                "{container:#}"
            ),
        }
        assert!(task.get("tags").is_none(), "tags only with include: [TAGS]");
        let tagged = sim.describe_task(&arn, true);
        assert_eq!(
            tagged["tags"],
            json!([{"key": "spec-hash", "value": "abc"}])
        );
        let listed = sim.call("ListTagsForResource", json!({"resourceArn": arn}));
        assert_eq!(listed["tags"], tagged["tags"]);
    }
}

#[test]
fn each_container_of_a_run_task_exits_by_its_own_image() {
    let mut sim = Sim::new();
    let td = sim.register_job(&["app:1", "app:fail-1"]);
    let out = sim.call("RunTask", json!({"cluster": "c1", "taskDefinition": td}));
    let arn = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    sim.run_to_stopped(&arn);
    let task = sim.describe_task(&arn, false);
    let codes: Vec<(&str, i64)> = task["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["exitCode"].as_i64().unwrap()))
        .collect();
    assert_eq!(codes, [("c0", 0), ("c1", 1)]);
    assert_eq!(task["stoppedReason"], "Essential container in task exited");
    assert!(task.get("startedBy").is_none(), "absent when not given");
}

#[test]
fn run_task_records_container_overrides_and_lists_by_started_by_family_and_status() {
    let mut sim = Sim::new();
    let job = sim.register_job(&["migrate:1", "sidecar:1"]);
    let overrides = json!({"containerOverrides": [{
        "name": "c0", "command": ["./migrate", "up"],
        "environment": [{"name": "TARGET", "value": "v2"}]
    }]});
    let out = sim.call(
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "job", "startedBy": "deploy-1",
               "overrides": overrides}),
    );
    let migration = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert_eq!(out["tasks"][0]["taskDefinitionArn"], json!(job));
    assert_eq!(out["tasks"][0]["group"], "family:job");
    let task = sim.describe_task(&migration, false);
    assert_eq!(
        task["overrides"],
        json!({"containerOverrides": [
            {"name": "c0", "command": ["./migrate", "up"], "environment": [{"name": "TARGET", "value": "v2"}]},
            {"name": "c1"}
        ], "inferenceAcceleratorOverrides": []})
    );
    let web = sim.register("nginx:1", false);
    sim.create_service(&web, 1, json!({}));
    let other = sim.call(
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "job", "startedBy": "deploy-2"}),
    );
    let other = other["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    sim.step();
    let list = |sim: &mut Sim, filter: Json| {
        let mut request = json!({"cluster": "c1"});
        for (k, v) in filter.as_object().unwrap() {
            request[k] = v.clone();
        }
        let out = sim.call("ListTasks", request);
        let mut arns: Vec<String> = out["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        arns.sort();
        arns
    };
    assert_eq!(
        list(&mut sim, json!({"startedBy": "deploy-1"})),
        std::slice::from_ref(&migration)
    );
    let mut both = vec![migration.clone(), other.clone()];
    both.sort();
    assert_eq!(list(&mut sim, json!({"family": "job"})), both);
    assert_eq!(list(&mut sim, json!({})).len(), 3, "the service's task too");
    assert_eq!(
        list(&mut sim, json!({"desiredStatus": "PENDING"})),
        Vec::<String>::new()
    );
    sim.run_to_stopped(&migration);
    assert_eq!(
        list(&mut sim, json!({"startedBy": "deploy-1"})),
        Vec::<String>::new()
    );
    assert_eq!(
        list(
            &mut sim,
            json!({"startedBy": "deploy-1", "desiredStatus": "STOPPED"})
        ),
        std::slice::from_ref(&migration)
    );
    // ECS describes a stopped task for an hour, then forgets it.
    for _ in 0..(3700.0 / STEP) as usize {
        sim.step();
    }
    assert_eq!(
        list(
            &mut sim,
            json!({"desiredStatus": "STOPPED", "family": "job"})
        ),
        Vec::<String>::new()
    );
    let gone = sim.call(
        "DescribeTasks",
        json!({"cluster": "c1", "tasks": [migration.clone()]}),
    );
    assert_eq!(gone["failures"][0]["reason"], "MISSING");
}

#[test]
fn run_task_is_idempotent_by_client_token() {
    let mut sim = Sim::new();
    sim.register_job(&["migrate:1"]);
    let request = json!({"cluster": "c1", "taskDefinition": "job", "startedBy": "x",
                         "clientToken": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"});
    let first = sim.call("RunTask", request.clone());
    sim.step();
    let again = sim.call("RunTask", request.clone());
    assert_eq!(again["tasks"][0]["taskArn"], first["tasks"][0]["taskArn"]);
    assert_eq!(again["tasks"].as_array().unwrap().len(), 1);
    let all = sim.call("ListTasks", json!({"cluster": "c1"}));
    assert_eq!(
        all["taskArns"].as_array().unwrap().len(),
        1,
        "no second task"
    );
    let mut different = request.clone();
    different["startedBy"] = json!("y");
    let conflict = sim.try_call("RunTask", different).unwrap_err();
    assert_eq!(conflict.code, "ConflictException");
    assert_eq!(
        conflict.resource_ids,
        [first["tasks"][0]["taskArn"].as_str().unwrap()]
    );
    let mut too_long = request.clone();
    too_long["clientToken"] = json!("x".repeat(65));
    let refused = sim.try_call("RunTask", too_long).unwrap_err();
    assert_eq!(refused.code, "InvalidParameterException");
}

#[test]
fn run_task_checks_its_request_as_ecs_does() {
    let mut sim = Sim::new();
    let job = sim.register_job(&["migrate:1"]);
    let refused = |sim: &mut Sim, request: Json| {
        let e = sim.try_call("RunTask", request).unwrap_err();
        (e.code, e.message)
    };
    assert_eq!(
        refused(
            &mut sim,
            json!({"cluster": "c1", "taskDefinition": "job",
                   "overrides": {"containerOverrides": [{"name": "nope", "command": ["x"]}]}})
        ),
        (
            "InvalidParameterException",
            "Override for container named nope is not a container in the TaskDefinition."
                .to_string()
        )
    );
    assert_eq!(
        refused(
            &mut sim,
            json!({"cluster": "c1", "taskDefinition": "job", "launchType": "FARGATE",
                   "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]})
        )
        .0,
        "InvalidParameterException"
    );
    assert_eq!(
        refused(
            &mut sim,
            json!({"cluster": "nope", "taskDefinition": "job"})
        )
        .0,
        "ClusterNotFoundException"
    );
    sim.call("DeregisterTaskDefinition", json!({"taskDefinition": job}));
    assert_eq!(
        refused(&mut sim, json!({"cluster": "c1", "taskDefinition": job})),
        (
            "InvalidParameterException",
            "TaskDefinition is inactive".to_string()
        )
    );
    sim.call(
        "RegisterTaskDefinition",
        json!({"family": "vpc", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
               "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "app:1"}]}),
    );
    assert_eq!(
        refused(&mut sim, json!({"cluster": "c1", "taskDefinition": "vpc"})).1,
        "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    );
    // A capacity provider strategy places the task on its provider; FARGATE_SPOT is Fargate.
    sim.associate(&["FARGATE", "FARGATE_SPOT"]);
    let network = json!({"awsvpcConfiguration": {"subnets": ["subnet-1"]}});
    let out = sim.call(
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": "vpc", "networkConfiguration": network,
               "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1},
                                            {"capacityProvider": "FARGATE_SPOT", "weight": 3}]}),
    );
    let task = &out["tasks"][0];
    assert_eq!(
        (
            task["launchType"].as_str(),
            task["capacityProviderName"].as_str(),
            task["platformVersion"].as_str()
        ),
        (Some("FARGATE"), Some("FARGATE_SPOT"), Some("1.4.0"))
    );
}

impl Sim {
    fn steps(&mut self, seconds: f64) {
        for _ in 0..(seconds / STEP).ceil() as usize {
            self.step();
        }
    }

    fn td_status(&mut self, reference: &str) -> Result<String, String> {
        self.try_call(
            "DescribeTaskDefinition",
            json!({"taskDefinition": reference}),
        )
        .map(|out| {
            out["taskDefinition"]["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .map_err(|e| format!("{}: {}", e.code, e.message))
    }
}

#[test]
fn a_revision_is_deregistered_then_deleted_and_vanishes_once_unused() {
    let mut sim = Sim::new();
    for i in 1..=12 {
        sim.register(&format!("nginx:{i}"), false);
    }
    let eleven: Vec<String> = (1..=11).map(|i| format!("app:{i}")).collect();
    let refused = sim
        .try_call("DeleteTaskDefinitions", json!({"taskDefinitions": eleven}))
        .unwrap_err();
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (
            "InvalidParameterException",
            "Size of TaskDefinition references list cannot exceed 10"
        )
    );
    let out = sim.call(
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["app:1", "app", "app:99"]}),
    );
    assert_eq!(out["taskDefinitions"], json!([]));
    let arn = |r: &str| format!("arn:aws:ecs:us-east-1:000000000000:task-definition/{r}");
    assert_eq!(
        out["failures"],
        json!([
            {"arn": arn("app:1"), "reason": "The specified task definition is still in ACTIVE status. Please deregister the target and try again."},
            {"arn": arn("app"), "reason": "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."},
            {"arn": arn("app:99"), "reason": "The specified task definition does not exist. Specify a valid account, family, revision and try again."},
        ])
    );
    for i in 1..=3 {
        let out = sim.call(
            "DeregisterTaskDefinition",
            json!({"taskDefinition": format!("app:{i}")}),
        );
        assert_eq!(out["taskDefinition"]["status"], "INACTIVE");
        assert!(out["taskDefinition"]["deregisteredAt"].is_number());
    }
    let out = sim.call(
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["app:1", "app:2", arn("app:3")]}),
    );
    assert_eq!(out["failures"], json!([]));
    let deleted = out["taskDefinitions"].as_array().unwrap();
    assert_eq!(deleted.len(), 3);
    assert!(
        deleted
            .iter()
            .all(|td| td["status"] == "DELETE_IN_PROGRESS" && td["deleteRequestedAt"].is_number())
    );
    // DELETE_IN_PROGRESS: still described and listed, but nothing new may use it.
    assert_eq!(sim.td_status("app:1").unwrap(), "DELETE_IN_PROGRESS");
    let listed = sim.call(
        "ListTaskDefinitions",
        json!({"status": "DELETE_IN_PROGRESS"}),
    );
    assert_eq!(listed["taskDefinitionArns"].as_array().unwrap().len(), 3);
    let run = sim
        .try_call(
            "RunTask",
            json!({"cluster": "c1", "taskDefinition": "app:1"}),
        )
        .unwrap_err();
    assert_eq!(run.message, "TaskDefinition is inactive");
    let create = sim
        .try_call(
            "CreateService",
            json!({"cluster": "c1", "serviceName": "x", "taskDefinition": "app:2"}),
        )
        .unwrap_err();
    assert_eq!(
        (create.code, create.message.as_str()),
        ("ClientException", "TaskDefinition is inactive")
    );
    sim.steps(40.0);
    for reference in ["app:1", "app:2", "app:3"] {
        assert_eq!(
            sim.td_status(reference).unwrap_err(),
            "ClientException: Unable to describe task definition."
        );
    }
    let listed = sim.call(
        "ListTaskDefinitions",
        json!({"status": "DELETE_IN_PROGRESS"}),
    );
    assert_eq!(listed["taskDefinitionArns"], json!([]));
    let tags = sim
        .try_call("ListTagsForResource", json!({"resourceArn": arn("app:1")}))
        .unwrap_err();
    assert_eq!(tags.code, "ResourceNotFoundException");
    // Deleting again: it no longer exists. Revision numbers are never reused.
    let again = sim.call(
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["app:1"]}),
    );
    assert_eq!(
        again["failures"][0]["reason"],
        "The specified task definition does not exist. Specify a valid account, family, revision and try again."
    );
    assert!(sim.register("nginx:13", false).ends_with("app:13"));
}

#[test]
fn a_revision_in_use_stays_delete_in_progress_until_nothing_uses_it() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", false);
    let v2 = sim.register("nginx:2", false);
    sim.create_service(&v1, 1, json!({}));
    sim.settle(|_| {});
    // ECS lets a revision a service runs be deregistered and deleted; the service goes on,
    // and even scales with it.
    sim.call("DeregisterTaskDefinition", json!({"taskDefinition": v1}));
    sim.call("DeleteTaskDefinitions", json!({"taskDefinitions": [v1]}));
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "desiredCount": 2, "taskDefinition": v1}),
    );
    sim.steps(60.0);
    assert_eq!(sim.service()["runningCount"], 2);
    assert_eq!(sim.td_status(&v1).unwrap(), "DELETE_IN_PROGRESS");
    // A task started by RunTask holds its revision until it stops.
    let job = sim.register_job(&["migrate:1"]);
    let run = sim.call("RunTask", json!({"cluster": "c1", "taskDefinition": job}));
    let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    sim.call("DeregisterTaskDefinition", json!({"taskDefinition": job}));
    sim.call("DeleteTaskDefinitions", json!({"taskDefinitions": [job]}));
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
    );
    sim.settle(|_| {});
    sim.steps(2.0);
    assert_eq!(
        sim.td_status(&job).unwrap(),
        "DELETE_IN_PROGRESS",
        "task still running"
    );
    sim.run_to_stopped(&task);
    sim.steps(40.0);
    assert!(sim.td_status(&v1).is_err(), "the service moved on: deleted");
    assert!(sim.td_status(&job).is_err(), "the task stopped: deleted");
    // A family whose revisions are all deleted is not listed; one with INACTIVE ones is.
    let families = sim.call("ListTaskDefinitionFamilies", json!({}));
    assert_eq!(families["families"], json!(["app"]));
    let inactive = sim.call("ListTaskDefinitionFamilies", json!({"status": "INACTIVE"}));
    assert_eq!(inactive["families"], json!([]));
}

#[test]
fn a_capacity_provider_strategy_change_needs_a_forced_new_deployment() {
    let mut sim = Sim::new();
    sim.associate(&["FARGATE", "FARGATE_SPOT"]);
    let v1 = sim.register("nginx:1", false);
    sim.call(
        "CreateService",
        json!({"cluster": "c1", "serviceName": "web", "taskDefinition": v1,
               "desiredCount": 1, "launchType": "FARGATE"}),
    );
    let before = sim.settle(|_| {});
    let spot = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
    let update = |strategy: &Json, force: bool| {
        json!({"cluster": "c1", "service": "web", "capacityProviderStrategy": strategy,
               "forceNewDeployment": force})
    };
    let refused = sim
        .try_call("UpdateService", update(&spot, false))
        .unwrap_err();
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (
            "InvalidParameterException",
            "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment."
        )
    );
    let unchanged = sim.service();
    assert_eq!(unchanged["launchType"], "FARGATE");
    assert_eq!(
        unchanged["deployments"], before["deployments"],
        "nothing applied"
    );
    // With forceNewDeployment, a new deployment places its tasks with the strategy.
    let out = sim.call("UpdateService", update(&spot, true));
    assert_eq!(out["service"]["capacityProviderStrategy"], spot);
    assert!(
        out["service"].get("launchType").is_none(),
        "{:#}",
        out["service"]
    );
    let service = sim.settle(|_| {});
    let primary = &service["deployments"][0];
    assert_ne!(primary["id"], before["deployments"][0]["id"]);
    assert_eq!(primary["capacityProviderStrategy"], spot);
    let arns = sim.call("ListTasks", json!({"cluster": "c1", "serviceName": "web"}));
    let tasks = sim.call(
        "DescribeTasks",
        json!({"cluster": "c1", "tasks": arns["taskArns"]}),
    );
    assert_eq!(
        (
            tasks["tasks"][0]["capacityProviderName"].as_str(),
            tasks["tasks"][0]["launchType"].as_str()
        ),
        (Some("FARGATE_SPOT"), Some("FARGATE"))
    );
    // The same strategy again is no change: no error, no deployment.
    sim.call("UpdateService", update(&spot, false));
    assert_eq!(sim.service()["deployments"][0]["id"], primary["id"]);
    // Another strategy, or an empty one (back to the launch type), needs the force too.
    let mixed = json!([{"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                       {"capacityProvider": "FARGATE_SPOT", "weight": 4}]);
    assert!(
        sim.try_call("UpdateService", update(&mixed, false))
            .is_err()
    );
    assert!(
        sim.try_call("UpdateService", update(&json!([]), false))
            .is_err()
    );
    let out = sim.call("UpdateService", update(&json!([]), true));
    assert_eq!(out["service"]["launchType"], "FARGATE");
    assert!(out["service"].get("capacityProviderStrategy").is_none());
}

const TG_BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/1";
const TG_GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/green/2";

impl Sim {
    /// The newest service deployment, as DescribeServiceDeployments shows it.
    fn newest_service_deployment(&mut self) -> Json {
        let listed = self.call(
            "ListServiceDeployments",
            json!({"cluster": "c1", "service": "web"}),
        );
        let arn = listed["serviceDeployments"][0]["serviceDeploymentArn"].clone();
        let out = self.call(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [arn]}),
        );
        out["serviceDeployments"][0].clone()
    }

    /// A service behind a load balancer with a production and an alternate target group.
    fn create_shifted_service(&mut self, task_definition: &str, deployment: Json) {
        self.call(
            "CreateService",
            json!({
                "cluster": "c1", "serviceName": "web", "taskDefinition": task_definition,
                "desiredCount": 3, "deploymentConfiguration": deployment,
                "loadBalancers": [{
                    "targetGroupArn": TG_BLUE, "containerName": "app", "containerPort": 80,
                    "advancedConfiguration": {
                        "alternateTargetGroupArn": TG_GREEN,
                        "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/1/2/3",
                        "roleArn": "arn:aws:iam::000000000000:role/ecs-lb"
                    }
                }],
            }),
        );
    }

    /// Steps until the newest service deployment is finished, calling `each` with it on
    /// every step.
    fn follow(&mut self, mut each: impl FnMut(&mut Sim, &Json)) -> Json {
        for _ in 0..4000 {
            let sd = self.newest_service_deployment();
            each(self, &sd);
            let status = sd["status"].as_str().unwrap();
            if ![
                "PENDING",
                "IN_PROGRESS",
                "ROLLBACK_REQUESTED",
                "ROLLBACK_IN_PROGRESS",
                "STOP_REQUESTED",
            ]
            .contains(&status)
            {
                return sd;
            }
            self.step();
        }
        panic!("never finished: {:#}", self.newest_service_deployment());
    }

    fn target_groups(&mut self) -> (String, String) {
        let lb = &self.service()["loadBalancers"][0];
        (
            lb["targetGroupArn"].as_str().unwrap().to_string(),
            lb["advancedConfiguration"]["alternateTargetGroupArn"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }
}

fn push_new(seen: &mut Vec<String>, value: &Json) {
    if let Some(value) = value.as_str()
        && seen.last().map(String::as_str) != Some(value)
    {
        seen.push(value.to_string());
    }
}

#[test]
fn blue_green_goes_through_ecs_lifecycle_stages_bakes_and_swaps_the_target_groups() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    let hooks = json!([{"hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:check",
                        "roleArn": "arn:aws:iam::000000000000:role/hook",
                        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]);
    let config = json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 2, "lifecycleHooks": hooks,
                        "deploymentCircuitBreaker": {"enable": true, "rollback": true}});
    sim.create_shifted_service(&v1, config.clone());
    let first = sim.follow(|_, _| {});
    assert_eq!(first["status"], "SUCCESSFUL");
    assert_eq!(
        sim.target_groups(),
        (TG_BLUE.to_string(), TG_GREEN.to_string()),
        "a new service has nothing to swap with"
    );
    let v2 = sim.register("nginx:2", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
    );
    assert_eq!(sim.newest_service_deployment()["status"], "PENDING");
    let (mut stages, mut statuses) = (Vec::new(), Vec::new());
    let mut bake_started = None;
    let mut bake_ended = None;
    let mut fewest_blue_before_clean_up = usize::MAX;
    let done = sim.follow(|sim, sd| {
        push_new(&mut stages, &sd["lifecycleStage"]);
        push_new(&mut statuses, &sd["status"]);
        let stage = sd["lifecycleStage"].as_str().unwrap_or_default();
        if stage == "BAKE_TIME" {
            bake_started.get_or_insert(sim.now);
            let target = &sd["targetServiceRevision"];
            assert_eq!(target["requestedProductionTrafficWeight"], 100.0);
            assert_eq!(
                sd["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"],
                0.0
            );
            assert_eq!(target["runningTaskCount"], 3);
        }
        if stage == "CLEAN_UP" {
            bake_ended.get_or_insert(sim.now);
        } else if sd["status"] == "IN_PROGRESS" {
            let blue = sd["sourceServiceRevisions"][0]["runningTaskCount"]
                .as_u64()
                .unwrap();
            fewest_blue_before_clean_up = fewest_blue_before_clean_up.min(blue as usize);
        }
    });
    assert_eq!(
        stages,
        [
            "PRE_SCALE_UP",
            "SCALE_UP",
            "POST_SCALE_UP",
            "TEST_TRAFFIC_SHIFT",
            "POST_TEST_TRAFFIC_SHIFT",
            "PRODUCTION_TRAFFIC_SHIFT",
            "POST_PRODUCTION_TRAFFIC_SHIFT",
            "BAKE_TIME",
            "CLEAN_UP"
        ]
    );
    assert_eq!(statuses, ["PENDING", "IN_PROGRESS", "SUCCESSFUL"]);
    let baked = bake_ended.unwrap() - bake_started.unwrap();
    assert!((120.0..125.0).contains(&baked), "baked {baked} s");
    assert_eq!(fewest_blue_before_clean_up, 3, "blue serves until CLEAN_UP");
    assert_eq!(done["deploymentConfiguration"]["lifecycleHooks"], hooks);
    assert_eq!(done["deploymentConfiguration"]["bakeTimeInMinutes"], 2);
    assert!(done["finishedAt"].is_number());
    let service = sim.settle(|_| {});
    assert_eq!(service["taskDefinition"], json!(v2));
    assert_eq!(service["runningCount"], 3);
    assert_eq!(service["deploymentConfiguration"]["strategy"], "BLUE_GREEN");
    assert_eq!(service["deploymentConfiguration"]["lifecycleHooks"], hooks);
    assert_eq!(
        sim.target_groups(),
        (TG_GREEN.to_string(), TG_BLUE.to_string()),
        "green serves from what was the alternate target group"
    );
    // The next deployment swaps them back.
    let v3 = sim.register("nginx:3", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v3}),
    );
    assert_eq!(sim.follow(|_, _| {})["status"], "SUCCESSFUL");
    assert_eq!(
        sim.target_groups(),
        (TG_BLUE.to_string(), TG_GREEN.to_string())
    );
}

#[test]
fn linear_and_canary_shift_production_traffic_in_their_steps() {
    for (config, expected, least_seconds) in [
        (
            json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1}}),
            vec![25.0, 50.0, 75.0, 100.0],
            180.0,
        ),
        (
            json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}}),
            vec![10.0, 100.0],
            120.0,
        ),
    ] {
        let mut sim = Sim::new();
        let v1 = sim.register("nginx:1", true);
        sim.create_shifted_service(&v1, config.clone());
        sim.follow(|_, _| {});
        let v2 = sim.register("nginx:2", true);
        sim.call(
            "UpdateService",
            json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
        );
        let mut weights: Vec<f64> = Vec::new();
        let mut shifting = (None, None);
        let done = sim.follow(|sim, sd| {
            if sd["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT" {
                shifting.0.get_or_insert(sim.now);
                shifting.1 = Some(sim.now);
                let weight = sd["targetServiceRevision"]["requestedProductionTrafficWeight"]
                    .as_f64()
                    .unwrap();
                if weights.last() != Some(&weight) {
                    weights.push(weight);
                }
            }
        });
        assert_eq!(done["status"], "SUCCESSFUL", "{config}");
        assert_eq!(weights, expected, "{config}");
        let took = shifting.1.unwrap() - shifting.0.unwrap();
        assert!(took >= least_seconds, "{config}: {took} s");
        assert_eq!(
            done["deploymentConfiguration"],
            sim.service()["deploymentConfiguration"]
        );
        assert_eq!(sim.target_groups().0, TG_GREEN);
    }
}

#[test]
fn a_failing_blue_green_deployment_is_rolled_back_and_blue_keeps_serving() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    let breaker = json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                         "deploymentCircuitBreaker": {"enable": true, "rollback": true}});
    sim.create_shifted_service(&v1, breaker);
    sim.follow(|_, _| {});
    let blue_id = sim.service()["deployments"][0]["id"].clone();
    let bad = sim.register("nginx:fail-1", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": bad}),
    );
    let mut statuses = Vec::new();
    let mut stages = Vec::new();
    let mut least_blue = usize::MAX;
    let done = sim.follow(|sim, sd| {
        push_new(&mut statuses, &sd["status"]);
        push_new(&mut stages, &sd["lifecycleStage"]);
        let service = sim.service();
        let blue = service["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == blue_id)
            .map_or(0, |d| d["runningCount"].as_u64().unwrap());
        least_blue = least_blue.min(blue as usize);
    });
    assert_eq!(
        statuses,
        [
            "PENDING",
            "IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_SUCCESSFUL"
        ]
    );
    assert_eq!(
        stages,
        ["PRE_SCALE_UP", "SCALE_UP"],
        "it never got past SCALE_UP"
    );
    assert_eq!(least_blue, 3, "blue never stopped");
    assert_eq!(
        done["statusReason"],
        "ECS deployment circuit breaker: tasks failed to start."
    );
    assert_eq!(done["deploymentCircuitBreaker"]["status"], "TRIGGERED");
    assert_eq!(
        done["rollback"]["serviceRevisionArn"],
        done["sourceServiceRevisions"][0]["arn"]
    );
    let service = sim.settle(|_| {});
    assert_eq!(service["taskDefinition"], json!(v1));
    assert_eq!(service["deployments"][0]["id"], blue_id, "blue handed back");
    assert_eq!(service["deployments"][0]["rolloutState"], "COMPLETED");
    assert_eq!(
        sim.target_groups(),
        (TG_BLUE.to_string(), TG_GREEN.to_string()),
        "no swap"
    );
}

#[test]
fn a_failing_blue_green_deployment_without_rollback_fails_and_stops() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    let config = json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                        "deploymentCircuitBreaker": {"enable": true, "rollback": false}});
    sim.create_shifted_service(&v1, config);
    sim.follow(|_, _| {});
    let bad = sim.register("nginx:missing-1", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": bad}),
    );
    let done = sim.follow(|_, _| {});
    assert_eq!(done["status"], "STOPPED");
    assert!(done["stoppedAt"].is_number());
    sim.steps(30.0);
    let service = sim.service();
    assert_eq!(service["deployments"][0]["rolloutState"], "FAILED");
    assert_eq!(
        service["deployments"][1]["runningCount"], 3,
        "blue still serves"
    );
    assert_eq!(sim.target_groups().0, TG_BLUE);
}

#[test]
fn stopping_a_deployment_rolls_back_to_the_source_revision() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    sim.create_shifted_service(
        &v1,
        json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10}),
    );
    sim.follow(|_, _| {});
    let v2 = sim.register("nginx:2", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
    );
    for _ in 0..1000 {
        if sim.newest_service_deployment()["lifecycleStage"] == "BAKE_TIME" {
            break;
        }
        sim.step();
    }
    let sd = sim.newest_service_deployment();
    assert_eq!(sd["lifecycleStage"], "BAKE_TIME");
    let arn = sd["serviceDeploymentArn"].clone();
    sim.call(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": arn, "stopType": "ROLLBACK"}),
    );
    assert_eq!(
        sim.newest_service_deployment()["status"],
        "ROLLBACK_REQUESTED"
    );
    let again = sim
        .try_call(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": arn}),
        )
        .unwrap_err();
    assert_eq!(again.code, "ConflictException");
    let mut statuses = Vec::new();
    let done = sim.follow(|_, sd| push_new(&mut statuses, &sd["status"]));
    assert_eq!(
        statuses,
        [
            "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_SUCCESSFUL"
        ]
    );
    assert!(done["stoppedAt"].is_number());
    assert_eq!(done["lifecycleStage"], "BAKE_TIME", "where it was stopped");
    assert_eq!(done["deploymentCircuitBreaker"]["status"], "DISABLED");
    let service = sim.settle(|_| {});
    assert_eq!(service["taskDefinition"], json!(v1));
    assert_eq!(service["runningCount"], 3);
    assert_eq!(sim.target_groups().0, TG_BLUE);
    // A rolling deployment stopped with ROLLBACK redeploys the source revision.
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2,
               "deploymentConfiguration": {"strategy": "ROLLING"}}),
    );
    sim.step();
    let arn = sim.newest_service_deployment()["serviceDeploymentArn"].clone();
    sim.call(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": arn}),
    );
    assert_eq!(sim.follow(|_, _| {})["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(sim.settle(|_| {})["taskDefinition"], json!(v1));
}

#[test]
fn a_new_deployment_stops_the_one_in_flight_and_reconciles_first() {
    let mut sim = Sim::new();
    let v1 = sim.register("nginx:1", true);
    sim.create_shifted_service(
        &v1,
        json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}),
    );
    sim.follow(|_, _| {});
    let v2 = sim.register("nginx:2", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v2}),
    );
    sim.steps(30.0);
    let superseded = sim.newest_service_deployment();
    assert_eq!(superseded["lifecycleStage"], "BAKE_TIME");
    let v3 = sim.register("nginx:3", true);
    sim.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": v3}),
    );
    let described = sim.call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [superseded["serviceDeploymentArn"]]}),
    );
    assert_eq!(described["serviceDeployments"][0]["status"], "STOPPED");
    let mut stages = Vec::new();
    let mut most_tasks = 0;
    let done = sim.follow(|sim, sd| {
        push_new(&mut stages, &sd["lifecycleStage"]);
        most_tasks = most_tasks.max(sim.task_counts().0);
    });
    assert_eq!(done["status"], "SUCCESSFUL");
    assert_eq!(stages[..2], ["RECONCILE_SERVICE", "PRE_SCALE_UP"]);
    assert_eq!(done["sourceServiceRevisions"].as_array().unwrap().len(), 2);
    assert!(most_tasks <= 9, "{most_tasks}");
    assert_eq!(sim.settle(|_| {})["taskDefinition"], json!(v3));
}

fn group_arn(group: &str) -> String {
    format!(
        "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5e000000:autoScalingGroupName/{group}"
    )
}

fn managed_instances() -> Json {
    json!({
        "infrastructureRoleArn": "arn:aws:iam::000000000000:role/infra",
        "instanceLaunchTemplate": {
            "ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/ecs",
            "networkConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]},
        },
    })
}

impl Sim {
    /// An Auto Scaling group capacity provider `name` on the group `group`.
    fn create_provider(&mut self, name: &str, group: &str) -> Json {
        self.call(
            "CreateCapacityProvider",
            json!({"name": name, "autoScalingGroupProvider": {"autoScalingGroupArn": group_arn(group)}}),
        )["capacityProvider"]
            .clone()
    }

    /// The error code and message of a call that must fail.
    fn refusal(&mut self, operation: &str, request: Json) -> (&'static str, String) {
        let e = self.try_call(operation, request).unwrap_err();
        (e.code, e.message)
    }

    fn describe_provider(&mut self, name: &str) -> Json {
        let out = self.call(
            "DescribeCapacityProviders",
            json!({"capacityProviders": [name], "include": ["TAGS"]}),
        );
        out["capacityProviders"][0].clone()
    }

    fn delete_provider(&mut self, name: &str) -> Json {
        self.call("DeleteCapacityProvider", json!({"capacityProvider": name}))["capacityProvider"]
            .clone()
    }
}

#[test]
fn a_capacity_provider_is_created_with_the_defaults_ecs_fills_in() {
    let mut sim = Sim::new();
    let out = sim.create_provider("asg-1", "group-1");
    assert_eq!(
        out,
        json!({
            "capacityProviderArn": "arn:aws:ecs:us-east-1:000000000000:capacity-provider/asg-1",
            "name": "asg-1",
            "status": "ACTIVE",
            "type": "EC2_AUTOSCALING",
            "autoScalingGroupProvider": {
                "autoScalingGroupArn": group_arn("group-1"),
                "managedScaling": {"status": "DISABLED", "targetCapacity": 100,
                                   "minimumScalingStepSize": 1, "maximumScalingStepSize": 10000,
                                   "instanceWarmupPeriod": 300},
                "managedTerminationProtection": "DISABLED",
                "managedDraining": "ENABLED",
            },
            "tags": [],
        })
    );
    // What is given is kept; what is left out of managedScaling is filled in.
    let out = sim.call(
        "CreateCapacityProvider",
        json!({"name": "asg-2", "tags": [{"key": "team", "value": "web"}],
               "autoScalingGroupProvider": {
                   "autoScalingGroupArn": group_arn("group-2"),
                   "managedScaling": {"status": "ENABLED", "targetCapacity": 90},
                   "managedTerminationProtection": "ENABLED", "managedDraining": "DISABLED"}}),
    );
    let provider = &out["capacityProvider"];
    assert_eq!(
        provider["autoScalingGroupProvider"]["managedScaling"],
        json!({"status": "ENABLED", "targetCapacity": 90, "minimumScalingStepSize": 1,
               "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300})
    );
    assert_eq!(
        provider["autoScalingGroupProvider"]["managedTerminationProtection"],
        "ENABLED"
    );
    assert_eq!(
        provider["autoScalingGroupProvider"]["managedDraining"],
        "DISABLED"
    );
    assert_eq!(provider["tags"], json!([{"key": "team", "value": "web"}]));
}

#[test]
fn capacity_provider_names_follow_ecs_rules_and_are_unique() {
    let mut sim = Sim::new();
    for name in [
        "aws-asg",
        "ecs_asg",
        "fargate-2",
        "FARGATE_SPOT",
        "Ecs1",
        "no spaces",
        &"a".repeat(256),
    ] {
        let (code, message) = sim.refusal(
            "CreateCapacityProvider",
            json!({"name": name, "autoScalingGroupProvider": {"autoScalingGroupArn": group_arn(name)}}),
        );
        assert_eq!(code, "InvalidParameterException", "{name}");
        assert!(message.contains("\"fargate\""), "{name}: {message}");
    }
    sim.create_provider(&"a".repeat(255), "group-long");
    sim.create_provider("my-asg_1", "group-1");
    assert_eq!(
        sim.refusal(
            "CreateCapacityProvider",
            json!({"name": "my-asg_1", "autoScalingGroupProvider": {"autoScalingGroupArn": group_arn("group-2")}}),
        ),
        (
            "ClientException",
            "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.".to_string()
        )
    );
}

#[test]
fn a_capacity_provider_has_exactly_one_kind_of_capacity() {
    let mut sim = Sim::new();
    let asg = json!({"autoScalingGroupArn": group_arn("group-1")});
    for request in [
        json!({"name": "none"}),
        json!({"name": "both", "cluster": "c1", "autoScalingGroupProvider": asg,
               "managedInstancesProvider": managed_instances()}),
    ] {
        assert_eq!(
            sim.refusal("CreateCapacityProvider", request).0,
            "InvalidParameterException"
        );
    }
}

#[test]
fn managed_scaling_keeps_to_the_models_ranges() {
    let mut sim = Sim::new();
    for (key, value) in [
        ("targetCapacity", 0),
        ("targetCapacity", 101),
        ("minimumScalingStepSize", 0),
        ("maximumScalingStepSize", 10001),
        ("instanceWarmupPeriod", -1),
        ("instanceWarmupPeriod", 10001),
    ] {
        let (code, message) = sim.refusal(
            "CreateCapacityProvider",
            json!({"name": "asg", "autoScalingGroupProvider": {
                "autoScalingGroupArn": group_arn("group"), "managedScaling": {key: value}}}),
        );
        assert_eq!(code, "InvalidParameterException", "{key} {value}");
        assert!(message.starts_with(key), "{message}");
    }
    let out = sim.call(
        "CreateCapacityProvider",
        json!({"name": "asg", "autoScalingGroupProvider": {
            "autoScalingGroupArn": group_arn("group"),
            "managedScaling": {"targetCapacity": 1, "instanceWarmupPeriod": 0,
                               "minimumScalingStepSize": 10000, "maximumScalingStepSize": 10000}}}),
    );
    assert_eq!(
        out["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"],
        1
    );
}

#[test]
fn an_auto_scaling_group_serves_one_capacity_provider_until_that_one_is_deleted() {
    let mut sim = Sim::new();
    sim.create_provider("first", "group-1");
    let used = |sim: &mut Sim, group: String| {
        sim.refusal(
            "CreateCapacityProvider",
            json!({"name": "second", "autoScalingGroupProvider": {"autoScalingGroupArn": group}}),
        )
    };
    let expected = (
        "ClientException",
        "The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a unique Auto Scaling group ARN and try again.".to_string(),
    );
    assert_eq!(used(&mut sim, group_arn("group-1")), expected);
    // The group's name stands for the same group.
    assert_eq!(used(&mut sim, "group-1".to_string()), expected);
    sim.delete_provider("first");
    assert_eq!(
        used(&mut sim, group_arn("group-1")),
        expected,
        "DELETE_IN_PROGRESS"
    );
    sim.now += 20.0;
    sim.create_provider("second", "group-1");
}

#[test]
fn describe_lists_created_and_built_in_providers_in_pages_with_failures() {
    let mut sim = Sim::new();
    sim.call(
        "CreateCapacityProvider",
        json!({"name": "asg-1", "tags": [{"key": "k", "value": "v"}],
               "autoScalingGroupProvider": {"autoScalingGroupArn": group_arn("group-1")}}),
    );
    sim.create_provider("asg-2", "group-2");
    let names = |out: &Json| -> Vec<String> {
        out["capacityProviders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = sim.call("DescribeCapacityProviders", json!({}));
    assert_eq!(names(&all), ["asg-1", "asg-2", "FARGATE", "FARGATE_SPOT"]);
    assert!(all.get("nextToken").is_none());
    assert!(
        all["capacityProviders"][0].get("tags").is_none(),
        "tags only when asked for"
    );
    assert_eq!(
        all["capacityProviders"][2],
        json!({"capacityProviderArn": "arn:aws:ecs:us-east-1:000000000000:capacity-provider/FARGATE",
               "name": "FARGATE", "status": "ACTIVE", "type": "FARGATE"})
    );
    let first = sim.call("DescribeCapacityProviders", json!({"maxResults": 3}));
    assert_eq!(names(&first), ["asg-1", "asg-2", "FARGATE"]);
    let rest = sim.call(
        "DescribeCapacityProviders",
        json!({"maxResults": 3, "nextToken": first["nextToken"]}),
    );
    assert_eq!(names(&rest), ["FARGATE_SPOT"]);
    let named = sim.call(
        "DescribeCapacityProviders",
        json!({"capacityProviders": ["arn:aws:ecs:us-east-1:000000000000:capacity-provider/asg-1", "nope"],
               "include": ["TAGS"]}),
    );
    assert_eq!(names(&named), ["asg-1"]);
    assert_eq!(
        named["capacityProviders"][0]["tags"],
        json!([{"key": "k", "value": "v"}])
    );
    assert_eq!(
        named["failures"],
        json!([{"arn": "arn:aws:ecs:us-east-1:000000000000:capacity-provider/nope", "reason": "MISSING"}])
    );
    assert_eq!(
        sim.refusal("DescribeCapacityProviders", json!({"maxResults": 11}))
            .0,
        "InvalidParameterException"
    );
    // With a cluster: the providers associated with it only.
    sim.associate(&["asg-2", "FARGATE"]);
    let of_cluster = sim.call("DescribeCapacityProviders", json!({"cluster": "c1"}));
    assert_eq!(names(&of_cluster), ["asg-2", "FARGATE"]);
}

#[test]
fn update_changes_what_the_model_lets_it_change() {
    let mut sim = Sim::new();
    sim.create_provider("asg", "group-1");
    let out = sim.call(
        "UpdateCapacityProvider",
        json!({"name": "asg", "autoScalingGroupProvider": {
            "managedScaling": {"status": "ENABLED", "targetCapacity": 90, "instanceWarmupPeriod": 150},
            "managedTerminationProtection": "ENABLED", "managedDraining": "DISABLED"}}),
    );
    let provider = &out["capacityProvider"];
    assert_eq!(provider["updateStatus"], "UPDATE_COMPLETE");
    assert_eq!(
        provider["autoScalingGroupProvider"],
        json!({"autoScalingGroupArn": group_arn("group-1"),
               "managedScaling": {"status": "ENABLED", "targetCapacity": 90,
                                  "minimumScalingStepSize": 1, "maximumScalingStepSize": 10000,
                                  "instanceWarmupPeriod": 150},
               "managedTerminationProtection": "ENABLED", "managedDraining": "DISABLED"})
    );
    // A refused update changes nothing.
    let refused = sim.refusal(
        "UpdateCapacityProvider",
        json!({"name": "asg", "autoScalingGroupProvider": {
            "managedScaling": {"targetCapacity": 0}, "managedDraining": "ENABLED"}}),
    );
    assert_eq!(refused.0, "InvalidParameterException");
    assert_eq!(
        sim.describe_provider("asg")["autoScalingGroupProvider"],
        provider["autoScalingGroupProvider"]
    );
    // Settings of the other kind, a provider that does not exist, a built-in one.
    assert_eq!(
        sim.refusal(
            "UpdateCapacityProvider",
            json!({"name": "asg", "managedInstancesProvider": managed_instances()}),
        )
        .0,
        "InvalidParameterException"
    );
    assert_eq!(
        sim.refusal(
            "UpdateCapacityProvider",
            json!({"name": "nope", "autoScalingGroupProvider": {"managedDraining": "ENABLED"}}),
        ),
        (
            "ClientException",
            "The specified capacity provider does not exist. Specify a valid name or ARN and try again.".to_string()
        )
    );
    assert_eq!(
        sim.refusal(
            "UpdateCapacityProvider",
            json!({"name": "FARGATE", "autoScalingGroupProvider": {"managedDraining": "ENABLED"}}),
        )
        .0,
        "ClientException"
    );
}

#[test]
fn a_managed_instances_provider_belongs_to_the_cluster_it_was_created_in() {
    let mut sim = Sim::new();
    sim.call("CreateCluster", json!({"clusterName": "c2"}));
    let create = |cluster: Option<&str>| {
        let mut request = json!({"name": "mi", "managedInstancesProvider": managed_instances()});
        if let Some(cluster) = cluster {
            request["cluster"] = json!(cluster);
        }
        request
    };
    assert_eq!(
        sim.refusal("CreateCapacityProvider", create(None)).0,
        "InvalidParameterException"
    );
    assert_eq!(
        sim.refusal("CreateCapacityProvider", create(Some("nope")))
            .0,
        "ClusterNotFoundException"
    );
    let out = sim.call("CreateCapacityProvider", create(Some("c1")));
    let provider = &out["capacityProvider"];
    assert_eq!(
        (provider["type"].as_str(), provider["cluster"].as_str()),
        (Some("MANAGED_INSTANCES"), Some("c1"))
    );
    assert_eq!(
        provider["managedInstancesProvider"]["instanceLaunchTemplate"]["capacityOptionType"],
        "ON_DEMAND"
    );
    // Not put on clusters by PutClusterCapacityProviders: it is c1's from its creation.
    assert_eq!(
        sim.refusal(
            "PutClusterCapacityProviders",
            json!({"cluster": "c2", "capacityProviders": ["mi"], "defaultCapacityProviderStrategy": []}),
        ),
        (
            "InvalidParameterException",
            "Cannot associate Managed Instances capacity provider to clusters using this API."
                .to_string()
        )
    );
    let v1 = sim.register("nginx:1", false);
    let service = |cluster: &str| {
        json!({"cluster": cluster, "serviceName": "web", "taskDefinition": v1,
               "capacityProviderStrategy": [{"capacityProvider": "mi", "weight": 1}]})
    };
    assert_eq!(
        sim.refusal("CreateService", service("c2")).0,
        "InvalidParameterException"
    );
    sim.call("CreateService", service("c1"));
    // Updated and deleted within its cluster only.
    let update = |cluster: Option<&str>| {
        let mut request = json!({"name": "mi", "managedInstancesProvider": {
            "infrastructureRoleArn": "arn:aws:iam::000000000000:role/infra-2",
            "instanceLaunchTemplate": {"monitoring": "DETAILED"}, "propagateTags": "NONE"}});
        if let Some(cluster) = cluster {
            request["cluster"] = json!(cluster);
        }
        request
    };
    assert_eq!(
        sim.refusal("UpdateCapacityProvider", update(None)).0,
        "ClientException"
    );
    let out = sim.call("UpdateCapacityProvider", update(Some("c1")));
    let updated = &out["capacityProvider"]["managedInstancesProvider"];
    assert_eq!(
        updated["infrastructureRoleArn"],
        "arn:aws:iam::000000000000:role/infra-2"
    );
    assert_eq!(updated["propagateTags"], "NONE");
    assert_eq!(
        updated["instanceLaunchTemplate"],
        json!({"ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/ecs",
               "networkConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]},
               "capacityOptionType": "ON_DEMAND", "monitoring": "DETAILED"})
    );
    // The service that uses it keeps it; the cluster keeps it too.
    let kept = sim.call(
        "DeleteCapacityProvider",
        json!({"capacityProvider": "mi", "cluster": "c1"}),
    );
    assert_eq!(kept["capacityProvider"]["updateStatus"], "DELETE_FAILED");
    assert_eq!(kept["capacityProvider"]["status"], "ACTIVE");
    sim.call(
        "DeleteService",
        json!({"cluster": "c1", "service": "web", "force": true}),
    );
    sim.steps(60.0);
    assert_eq!(
        sim.refusal("DeleteCluster", json!({"cluster": "c1"})),
        (
            "ClientException",
            "The Cluster cannot be deleted while Cluster Scoped Capacity Providers are attached to the cluster.".to_string()
        )
    );
    let deleting = sim.call(
        "DeleteCapacityProvider",
        json!({"capacityProvider": "mi", "cluster": "c1"}),
    );
    assert_eq!(
        (
            deleting["capacityProvider"]["status"].as_str(),
            deleting["capacityProvider"]["updateStatus"].as_str()
        ),
        (Some("DEPROVISIONING"), Some("DELETE_IN_PROGRESS"))
    );
    sim.now += 20.0;
    sim.call("DeleteCluster", json!({"cluster": "c1"}));
}

#[test]
fn deleting_an_associated_provider_fails_then_goes_inactive_once_taken_off() {
    let mut sim = Sim::new();
    sim.create_provider("asg", "group-1");
    sim.associate(&["asg"]);
    let failed = sim.delete_provider("asg");
    assert_eq!(
        (failed["status"].as_str(), failed["updateStatus"].as_str()),
        (Some("ACTIVE"), Some("DELETE_FAILED"))
    );
    assert_eq!(
        failed["updateStatusReason"],
        "The capacity provider cannot be deleted because it is associated with cluster: c1. Remove the capacity provider from the cluster and try again."
    );
    assert_eq!(
        sim.describe_provider("asg")["updateStatus"],
        "DELETE_FAILED"
    );
    sim.associate(&[]);
    let deleting = sim.delete_provider("asg");
    assert_eq!(
        (
            deleting["status"].as_str(),
            deleting["updateStatus"].as_str()
        ),
        (Some("ACTIVE"), Some("DELETE_IN_PROGRESS"))
    );
    assert!(deleting.get("updateStatusReason").is_none());
    // Still in progress: the name is taken, and it can be neither used nor deleted again.
    assert_eq!(
        sim.refusal(
            "CreateCapacityProvider",
            json!({"name": "asg", "autoScalingGroupProvider": {"autoScalingGroupArn": group_arn("group-2")}}),
        )
        .0,
        "ClientException"
    );
    assert_eq!(
        sim.refusal(
            "PutClusterCapacityProviders",
            json!({"cluster": "c1", "capacityProviders": ["asg"], "defaultCapacityProviderStrategy": []}),
        )
        .0,
        "InvalidParameterException"
    );
    assert_eq!(
        sim.refusal(
            "UpdateCapacityProvider",
            json!({"name": "asg", "autoScalingGroupProvider": {"managedDraining": "DISABLED"}}),
        )
        .0,
        "ClientException"
    );
    sim.now += 20.0;
    let inactive = sim.describe_provider("asg");
    assert_eq!(
        (
            inactive["status"].as_str(),
            inactive["updateStatus"].as_str()
        ),
        (Some("INACTIVE"), Some("DELETE_COMPLETE"))
    );
    assert_eq!(
        sim.refusal("DeleteCapacityProvider", json!({"capacityProvider": "asg"}))
            .0,
        "ClientException"
    );
    // An hour on, ECS no longer describes it.
    sim.now += 3600.0;
    let out = sim.call(
        "DescribeCapacityProviders",
        json!({"capacityProviders": ["asg"]}),
    );
    assert_eq!(out["failures"][0]["reason"], "MISSING");
}

#[test]
fn the_name_of_a_deleted_provider_can_be_taken_again() {
    let mut sim = Sim::new();
    sim.create_provider("asg", "group-1");
    sim.delete_provider("asg");
    sim.now += 20.0;
    let again = sim.create_provider("asg", "group-2");
    assert_eq!(again["status"], "ACTIVE");
    let all = sim.call("DescribeCapacityProviders", json!({}));
    assert_eq!(
        all["capacityProviders"].as_array().unwrap().len(),
        3,
        "{all:#}"
    );
    assert_eq!(
        sim.describe_provider("asg")["autoScalingGroupProvider"]["autoScalingGroupArn"],
        group_arn("group-2")
    );
}

#[test]
fn clusters_refuse_providers_that_do_not_exist_or_are_on_another_cluster() {
    let mut sim = Sim::new();
    let not_found = (
        "InvalidParameterException",
        "The specified capacity provider was not found. Specify a valid capacity provider and try again.".to_string(),
    );
    assert_eq!(
        sim.refusal(
            "CreateCluster",
            json!({"clusterName": "c2", "capacityProviders": ["nope"]})
        ),
        not_found
    );
    assert!(
        sim.call("DescribeClusters", json!({"clusters": ["c2"]}))["clusters"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing created"
    );
    assert_eq!(
        sim.refusal(
            "PutClusterCapacityProviders",
            json!({"cluster": "c1", "capacityProviders": ["nope"], "defaultCapacityProviderStrategy": []}),
        ),
        not_found
    );
    sim.create_provider("asg", "group-1");
    sim.associate(&["asg", "FARGATE"]);
    let on_another = sim.refusal(
        "CreateCluster",
        json!({"clusterName": "c2", "capacityProviders": ["FARGATE", "asg"]}),
    );
    assert_eq!(on_another.0, "InvalidParameterException");
    assert!(on_another.1.contains("another cluster"), "{}", on_another.1);
    // The Fargate providers go on any number of clusters.
    sim.call(
        "CreateCluster",
        json!({"clusterName": "c2", "capacityProviders": ["FARGATE", "FARGATE_SPOT"]}),
    );
    let put_on_c2 = json!({"cluster": "c2", "capacityProviders": ["asg"],
                           "defaultCapacityProviderStrategy": []});
    assert_eq!(
        sim.refusal("PutClusterCapacityProviders", put_on_c2.clone())
            .0,
        "InvalidParameterException"
    );
    // Putting the same list on its own cluster again is no move; once off c1, c2 may take it.
    sim.associate(&["asg", "FARGATE"]);
    sim.associate(&["FARGATE"]);
    sim.call("PutClusterCapacityProviders", put_on_c2);
}

#[test]
fn a_default_strategy_names_providers_of_its_own_cluster() {
    let mut sim = Sim::new();
    let not_associated = (
        "InvalidParameterException",
        "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.".to_string(),
    );
    let spot = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
    assert_eq!(
        sim.refusal(
            "CreateCluster",
            json!({"clusterName": "c2", "capacityProviders": ["FARGATE"],
                   "defaultCapacityProviderStrategy": spot}),
        ),
        not_associated
    );
    assert_eq!(
        sim.refusal(
            "PutClusterCapacityProviders",
            json!({"cluster": "c1", "capacityProviders": ["FARGATE"],
                   "defaultCapacityProviderStrategy": spot}),
        ),
        not_associated
    );
    sim.call(
        "PutClusterCapacityProviders",
        json!({"cluster": "c1", "capacityProviders": ["FARGATE_SPOT"],
               "defaultCapacityProviderStrategy": spot}),
    );
}

#[test]
fn services_and_tasks_use_only_providers_associated_with_their_cluster() {
    let mut sim = Sim::new();
    let not_associated = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";
    let v1 = sim.register("nginx:1", false);
    let spot = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
    let create = json!({"cluster": "c1", "serviceName": "web", "taskDefinition": v1,
                        "desiredCount": 1, "capacityProviderStrategy": spot});
    let run = json!({"cluster": "c1", "taskDefinition": v1, "capacityProviderStrategy": spot});
    for (operation, request) in [("CreateService", &create), ("RunTask", &run)] {
        assert_eq!(
            sim.refusal(operation, request.clone()),
            ("InvalidParameterException", not_associated.to_string()),
            "{operation}"
        );
    }
    sim.associate(&["FARGATE"]);
    sim.call(
        "CreateService",
        json!({"cluster": "c1", "serviceName": "web", "taskDefinition": v1, "desiredCount": 1,
               "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    let update = json!({"cluster": "c1", "service": "web", "capacityProviderStrategy": spot,
                        "forceNewDeployment": true});
    assert_eq!(
        sim.refusal("UpdateService", update.clone()),
        ("InvalidParameterException", not_associated.to_string())
    );
    sim.associate(&["FARGATE", "FARGATE_SPOT"]);
    sim.call("UpdateService", update);
    sim.call("RunTask", run);
}

#[test]
fn a_provider_in_use_cannot_be_taken_off_its_cluster() {
    let mut sim = Sim::new();
    sim.associate(&["FARGATE", "FARGATE_SPOT"]);
    let v1 = sim.register("nginx:1", false);
    sim.call(
        "CreateService",
        json!({"cluster": "c1", "serviceName": "web", "taskDefinition": v1, "desiredCount": 1,
               "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}),
    );
    let in_use = (
        "ResourceInUseException",
        "The specified capacity provider is in use and cannot be removed.".to_string(),
    );
    let only_fargate = json!({"cluster": "c1", "capacityProviders": ["FARGATE"],
                              "defaultCapacityProviderStrategy": []});
    assert_eq!(
        sim.refusal("PutClusterCapacityProviders", only_fargate.clone()),
        in_use
    );
    // A one-off task on it holds it as well, until it stops.
    sim.call(
        "DeleteService",
        json!({"cluster": "c1", "service": "web", "force": true}),
    );
    sim.steps(120.0);
    let run = sim.call(
        "RunTask",
        json!({"cluster": "c1", "taskDefinition": v1,
               "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}),
    );
    assert_eq!(
        sim.refusal("PutClusterCapacityProviders", only_fargate.clone()),
        in_use
    );
    let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    sim.call("StopTask", json!({"cluster": "c1", "task": task}));
    sim.steps(60.0);
    sim.call("PutClusterCapacityProviders", only_fargate);
}

#[test]
fn capacity_provider_tags_go_through_tag_resource() {
    let mut sim = Sim::new();
    let arn = sim.create_provider("asg", "group-1")["capacityProviderArn"].clone();
    sim.call(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
    );
    sim.call(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["a"]}),
    );
    let listed = sim.call("ListTagsForResource", json!({"resourceArn": arn}));
    assert_eq!(listed["tags"], json!([{"key": "b", "value": "2"}]));
    assert_eq!(sim.describe_provider("asg")["tags"], listed["tags"]);
    assert_eq!(
        sim.refusal(
            "ListTagsForResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:capacity-provider/nope"}),
        )
        .0,
        "ResourceNotFoundException"
    );
}

#[test]
fn the_built_in_providers_cannot_be_deleted() {
    let mut sim = Sim::new();
    for name in [
        "FARGATE",
        "arn:aws:ecs:us-east-1:000000000000:capacity-provider/FARGATE_SPOT",
    ] {
        let (code, message) =
            sim.refusal("DeleteCapacityProvider", json!({"capacityProvider": name}));
        assert_eq!(code, "ClientException");
        assert!(message.contains("reserved"), "{name}: {message}");
    }
    assert_eq!(
        sim.refusal("DeleteCapacityProvider", json!({"capacityProvider": "nope"})),
        (
            "ClientException",
            "The specified capacity provider does not exist. Specify a valid name or ARN and try again.".to_string()
        )
    );
}
