//! The simulator's rules, driven without HTTP on an explicit clock, checked at every step.

use serde_json::{Value as Json, json};

use super::ops::{self, Ctx};
use super::rollout::{failure_threshold, tick};
use super::state::World;

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
        let (region, ids) = self.world.region(REGION);
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
        tick(regions.get_mut(REGION).unwrap(), ids, self.now);
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
