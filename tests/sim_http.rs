//! The simulator through the wire, as clients see it: the stock `aws-sdk-ecs` client, raw HTTP
//! and boto3.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, Tag,
};
use common::{ecs_client, http, sim_calls, sim_json};
use ecs_gitops::sim::{SimConfig, Simulator};

async fn simulator(speed: f64, throttle: bool) -> Simulator {
    Simulator::start(SimConfig {
        speed,
        throttle,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn container(image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("app")
        .image(image)
        .memory(128)
        .build()
}

async fn register(ecs: &aws_sdk_ecs::Client, family: &str, image: &str) -> String {
    let out = ecs
        .register_task_definition()
        .family(family)
        .container_definitions(container(image))
        .send()
        .await
        .unwrap();
    out.task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn errors_come_back_as_ecs_sends_them() {
    let sim = simulator(1.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let err = ecs
        .describe_services()
        .cluster("nope")
        .services("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Some("ClusterNotFoundException"), Some("Cluster not found."))
    );
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    let err = ecs
        .update_service()
        .cluster("c1")
        .service("web")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceNotFoundException"));
    let err = ecs
        .describe_task_definition()
        .task_definition("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Some("ClientException"),
            Some("Unable to describe task definition.")
        )
    );
    // An operation the simulator does not model: an AWS-shaped error, not a crash.
    let err = ecs
        .list_container_instances()
        .cluster("c1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedFeatureException"));
    // Malformed bodies and unknown targets, on the raw wire.
    let target = (
        "X-Amz-Target",
        "AmazonEC2ContainerServiceV20141113.ListClusters",
    );
    let json_type = ("Content-Type", "application/x-amz-json-1.1");
    let (status, body) = http(sim.addr(), "POST", "/", &[target, json_type], "{not json").await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "SerializationException");
    let (status, body) = http(
        sim.addr(),
        "POST",
        "/",
        &[("X-Amz-Target", "Nope.Nothing"), json_type],
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
}

#[tokio::test]
async fn the_region_comes_from_the_credential_scope() {
    let sim = simulator(1.0, false).await;
    let west = ecs_client(&sim.endpoint(), "eu-west-1", false);
    let east = ecs_client(&sim.endpoint(), "us-east-1", false);
    let cluster = west
        .create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cluster.cluster().unwrap().cluster_arn(),
        Some("arn:aws:ecs:eu-west-1:000000000000:cluster/c1")
    );
    let listed = east.list_clusters().send().await.unwrap();
    assert!(listed.cluster_arns().is_empty());
}

#[tokio::test]
async fn pagination_and_the_ten_service_cap_work_as_in_ecs() {
    let sim = simulator(1.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    let td = register(&ecs, "app", "nginx:1").await;
    for i in 0..25 {
        ecs.create_service()
            .cluster("c1")
            .service_name(format!("s{i:02}"))
            .task_definition(&td)
            .send()
            .await
            .unwrap();
    }
    let mut pages = 0;
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_services()
            .cluster("c1")
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        arns.extend(page.service_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!((pages, arns.len()), (3, 25), "default page size 10");
    let err = ecs
        .list_services()
        .cluster("c1")
        .max_results(101)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let names: Vec<String> = (0..11).map(|i| format!("s{i:02}")).collect();
    let err = ecs
        .describe_services()
        .cluster("c1")
        .set_services(Some(names.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let mut ten = names[..9].to_vec();
    ten.push("missing".into());
    let out = ecs
        .describe_services()
        .cluster("c1")
        .set_services(Some(ten))
        .send()
        .await
        .unwrap();
    assert_eq!(out.services().len(), 9);
    assert_eq!(
        out.failures()[0].arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:service/c1/missing")
    );
    assert_eq!(out.failures()[0].reason(), Some("MISSING"));
    for _ in 0..3 {
        register(&ecs, "app", "nginx:2").await;
    }
    let page = ecs
        .list_task_definitions()
        .family_prefix("app")
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.task_definition_arns(),
        [
            "arn:aws:ecs:us-east-1:000000000000:task-definition/app:4",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/app:3"
        ]
    );
    assert!(page.next_token().is_some());
}

#[tokio::test]
async fn create_service_is_idempotent_by_client_token() {
    let sim = simulator(1.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    let td = register(&ecs, "app", "nginx:1").await;
    let create = |count: i32| {
        ecs.create_service()
            .cluster("c1")
            .service_name("web")
            .task_definition(&td)
            .desired_count(count)
            .client_token("web-0123456789abcdef")
    };
    let first = create(1).send().await.unwrap();
    let again = create(1).send().await.unwrap();
    assert_eq!(
        first.service().unwrap().service_arn(),
        again.service().unwrap().service_arn()
    );
    assert_eq!(
        first.service().unwrap().deployments()[0].id(),
        again.service().unwrap().deployments()[0].id()
    );
    let err = create(2).send().await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Some("InvalidParameterException"),
            Some("Creation of service was not idempotent.")
        )
    );
    // Without a token, a second create of an ACTIVE service is refused too.
    let err = ecs
        .create_service()
        .cluster("c1")
        .service_name("web")
        .task_definition(&td)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    assert_eq!(sim_calls(sim.addr(), "CreateService", "ok").await, 2);
}

#[tokio::test]
async fn throttling_follows_ecs_buckets() {
    let sim = simulator(1.0, true).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let mut outcomes = Vec::new();
    for i in 0..25 {
        let result = ecs
            .register_task_definition()
            .family(format!("f{i}"))
            .container_definitions(container("nginx:1"))
            .send()
            .await;
        outcomes.push(result.map_err(|e| e.code().map(str::to_string)));
    }
    let throttled = outcomes
        .iter()
        .filter(|o| matches!(o, Err(Some(c)) if c == "ThrottlingException"))
        .count();
    assert_eq!(
        (outcomes.len() - throttled, throttled),
        (20, 5),
        "burst of 20"
    );
    assert_eq!(
        sim_calls(sim.addr(), "RegisterTaskDefinition", "ThrottlingException").await,
        5
    );
    // Another category has its own bucket.
    ecs.list_clusters().send().await.unwrap();
    // With the SDK's standard retries (jittered backoff) the call goes through once a token
    // refills (1/s).
    let retrying = ecs_client(&sim.endpoint(), "us-east-1", true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    retrying
        .register_task_definition()
        .family("late")
        .container_definitions(container("nginx:1"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn injected_faults_fail_delay_and_throttle() {
    let sim = simulator(1.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"operations": ["ListClusters"], "failNext": 2}"#,
    )
    .await;
    for _ in 0..2 {
        let err = ecs.list_clusters().send().await.unwrap_err();
        assert_eq!(err.code(), Some("ServerException"));
    }
    ecs.list_clusters().send().await.unwrap();
    assert_eq!(
        sim_calls(sim.addr(), "ListClusters", "ServerException").await,
        2
    );
    assert_eq!(sim_calls(sim.addr(), "ListClusters", "ok").await, 1);
    sim_json(sim.addr(), "DELETE", "/_sim/faults", "").await;
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"operations": ["DescribeClusters"], "latencyMs": 150}"#,
    )
    .await;
    let start = Instant::now();
    ecs.describe_clusters().clusters("c1").send().await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"throttleRate": 1.0, "operations": ["ListServices"]}"#,
    )
    .await;
    let err = ecs.list_services().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    // A bad fault is refused with a reason, not ignored.
    let (status, _) = common::http(
        sim.addr(),
        "POST",
        "/_sim/faults",
        &[("Content-Type", "application/json")],
        r#"{"errorRat": 1}"#,
    )
    .await;
    assert_eq!(status, 422);
    sim_json(sim.addr(), "POST", "/_sim/reset", "").await;
    ecs.list_services()
        .cluster("default")
        .send()
        .await
        .unwrap_err(); // no cluster after reset
    assert_eq!(
        sim_calls(sim.addr(), "ListServices", "ThrottlingException").await,
        0,
        "reset clears faults and stats"
    );
}

#[tokio::test]
async fn a_rollout_moves_through_the_sdk() {
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    let v1 = register(&ecs, "app", "nginx:1").await;
    let breaker = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    ecs.create_service()
        .cluster("c1")
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .deployment_configuration(breaker)
        .tags(Tag::builder().key("team").value("a").build())
        .send()
        .await
        .unwrap();
    let service = wait_for_rollout(&ecs).await;
    assert_eq!(service.running_count(), 2);
    assert_eq!(
        service.deployments()[0].rollout_state().unwrap().as_str(),
        "COMPLETED"
    );
    let bad = register(&ecs, "app", "nginx:fail-now").await;
    ecs.update_service()
        .cluster("c1")
        .service("web")
        .task_definition(&bad)
        .send()
        .await
        .unwrap();
    let service = wait_for_rollout(&ecs).await;
    assert_eq!(service.task_definition(), Some(v1.as_str()), "rolled back");
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(service.service_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), Some("team"));
}

/// Polls until the service has one deployment that is no longer IN_PROGRESS.
async fn wait_for_rollout(ecs: &aws_sdk_ecs::Client) -> aws_sdk_ecs::types::Service {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ecs
            .describe_services()
            .cluster("c1")
            .services("web")
            .send()
            .await
            .unwrap();
        let service = out.services()[0].clone();
        let done = service.deployments().len() == 1
            && service.deployments()[0]
                .rollout_state()
                .is_some_and(|s| s.as_str() != "IN_PROGRESS");
        if done {
            return service;
        }
        assert!(Instant::now() < deadline, "no steady state: {service:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn boto3_runs_unchanged_with_its_own_waiter() {
    let Some(python) = common::venv_bin("python") else {
        return;
    };
    let sim = simulator(50.0, true).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_smoke.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(sim.endpoint())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rolled out app:2"), "{stdout}");
}

#[tokio::test]
async fn a_migration_task_runs_to_its_exit_code_through_the_sdk() {
    use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, TaskField, TaskOverride};
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    for (image, exit_code) in [("migrate:1", 0), ("migrate:fail-1", 1)] {
        let td = register(&ecs, "migrate", image).await;
        let run = ecs
            .run_task()
            .cluster("c1")
            .task_definition(&td)
            .started_by("ecs-gitops")
            .client_token(format!("token-{exit_code}"))
            .tags(Tag::builder().key("spec-hash").value("abc").build())
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name("app")
                            .command("./migrate")
                            .environment(KeyValuePair::builder().name("STEP").value("1").build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let arn = run.tasks()[0].task_arn().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        let task = loop {
            let out = ecs
                .describe_tasks()
                .cluster("c1")
                .tasks(&arn)
                .include(TaskField::Tags)
                .send()
                .await
                .unwrap();
            let task = out.tasks()[0].clone();
            if task.last_status() == Some("STOPPED") {
                break task;
            }
            assert!(Instant::now() < deadline, "{task:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(task.containers()[0].exit_code(), Some(exit_code), "{image}");
        assert_eq!(
            task.stopped_reason(),
            Some("Essential container in task exited")
        );
        let overrides = &task.overrides().unwrap().container_overrides()[0];
        assert_eq!(overrides.command(), ["./migrate"]);
        assert_eq!(overrides.environment()[0].value(), Some("1"));
        assert_eq!(task.tags()[0].value(), Some("abc"));
        let stopped = ecs
            .list_tasks()
            .cluster("c1")
            .started_by("ecs-gitops")
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .send()
            .await
            .unwrap();
        assert!(stopped.task_arns().contains(&arn));
    }
    // The same client token with other parameters: ECS names the task that holds it.
    let err = ecs
        .run_task()
        .cluster("c1")
        .task_definition("migrate")
        .client_token("token-0")
        .send()
        .await
        .unwrap_err();
    let service_error = err.into_service_error();
    assert_eq!(service_error.code(), Some("ConflictException"));
    let aws_sdk_ecs::operation::run_task::RunTaskError::ConflictException(conflict) = service_error
    else {
        panic!("{service_error:?}");
    };
    assert_eq!(conflict.resource_ids().len(), 1);
}

#[tokio::test]
async fn a_deleted_revision_goes_delete_in_progress_then_vanishes() {
    use aws_sdk_ecs::types::TaskDefinitionStatus;
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let mut arns = Vec::new();
    for i in 0..2 {
        arns.push(register(&ecs, "app", &format!("nginx:{i}")).await);
    }
    for arn in &arns {
        ecs.deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
    }
    let out = ecs
        .delete_task_definitions()
        .set_task_definitions(Some(arns.clone()))
        .send()
        .await
        .unwrap();
    assert!(out.failures().is_empty(), "{out:?}");
    assert!(
        out.task_definitions()
            .iter()
            .all(|td| td.status() == Some(&TaskDefinitionStatus::DeleteInProgress))
    );
    // Nothing uses them: ECS deletes them for good.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let result = ecs
            .describe_task_definition()
            .task_definition(&arns[0])
            .send()
            .await;
        match result {
            Ok(out) => assert_eq!(
                out.task_definition().unwrap().status(),
                Some(&TaskDefinitionStatus::DeleteInProgress)
            ),
            Err(e) => {
                assert_eq!(
                    (e.code(), e.message()),
                    (
                        Some("ClientException"),
                        Some("Unable to describe task definition.")
                    )
                );
                break;
            }
        }
        assert!(Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn delete_task_definitions_is_throttled_on_its_own_bucket() {
    let sim = simulator(1.0, true).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let mut outcomes = Vec::new();
    for i in 0..7 {
        let result = ecs
            .delete_task_definitions()
            .task_definitions(format!("app:{i}"))
            .send()
            .await;
        outcomes.push(result.map_err(|e| e.code().map(str::to_string)));
    }
    let throttled = outcomes
        .iter()
        .filter(|o| matches!(o, Err(Some(c)) if c == "ThrottlingException"))
        .count();
    assert_eq!(
        (outcomes.len() - throttled, throttled),
        (5, 2),
        "burst of 5"
    );
    // Registering has its own bucket.
    register(&ecs, "app", "nginx:1").await;
}

#[tokio::test]
async fn a_capacity_provider_strategy_change_is_refused_without_force_new_deployment() {
    use aws_sdk_ecs::types::{CapacityProviderStrategyItem, LaunchType};
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .capacity_providers("FARGATE")
        .capacity_providers("FARGATE_SPOT")
        .send()
        .await
        .unwrap();
    let v1 = register(&ecs, "app", "nginx:1").await;
    ecs.create_service()
        .cluster("c1")
        .service_name("web")
        .task_definition(&v1)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .send()
        .await
        .unwrap();
    wait_for_rollout(&ecs).await;
    let spot = CapacityProviderStrategyItem::builder()
        .capacity_provider("FARGATE_SPOT")
        .weight(1)
        .build()
        .unwrap();
    let update = || {
        ecs.update_service()
            .cluster("c1")
            .service("web")
            .capacity_provider_strategy(spot.clone())
    };
    let err = update().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterException"));
    assert!(
        err.message()
            .unwrap()
            .ends_with("you must force a new deployment."),
        "{err:?}"
    );
    let out = update().force_new_deployment(true).send().await.unwrap();
    let service = out.service().unwrap();
    assert_eq!(service.launch_type(), None);
    assert_eq!(service.deployments().len(), 2, "a new deployment started");
    let service = wait_for_rollout(&ecs).await;
    assert_eq!(
        service.deployments()[0].capacity_provider_strategy()[0].capacity_provider(),
        "FARGATE_SPOT"
    );
}

/// Polls the service's newest service deployment until it is finished; returns it and the
/// lifecycle stages it went through.
async fn follow_service_deployment(
    ecs: &aws_sdk_ecs::Client,
) -> (aws_sdk_ecs::types::ServiceDeployment, Vec<String>) {
    use aws_sdk_ecs::types::ServiceDeploymentStatus as S;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stages: Vec<String> = Vec::new();
    loop {
        let listed = ecs
            .list_service_deployments()
            .cluster("c1")
            .service("web")
            .send()
            .await
            .unwrap();
        let arn = listed.service_deployments()[0]
            .service_deployment_arn()
            .unwrap()
            .to_string();
        let out = ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .unwrap();
        let sd = out.service_deployments()[0].clone();
        if let Some(stage) = sd.lifecycle_stage()
            && stages.last().map(String::as_str) != Some(stage.as_str())
        {
            stages.push(stage.as_str().to_string());
        }
        let status = sd.status().unwrap();
        if ![
            S::Pending,
            S::InProgress,
            S::RollbackRequested,
            S::RollbackInProgress,
            S::StopRequested,
        ]
        .contains(status)
        {
            return (sd, stages);
        }
        assert!(Instant::now() < deadline, "{sd:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn blue_green_is_followed_through_its_stages_and_stopped_through_the_sdk() {
    use aws_sdk_ecs::types::{
        AdvancedConfiguration, DeploymentStrategy, LoadBalancer, ServiceDeploymentStatus,
        StopServiceDeploymentStopType,
    };
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    ecs.create_cluster()
        .cluster_name("c1")
        .send()
        .await
        .unwrap();
    let (blue_tg, green_tg) = ("arn:tg/blue", "arn:tg/green");
    let v1 = register(&ecs, "app", "nginx:1").await;
    ecs.create_service()
        .cluster("c1")
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(1)
                .build(),
        )
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(blue_tg)
                .container_name("app")
                .container_port(80)
                .advanced_configuration(
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(green_tg)
                        .production_listener_rule("arn:rule/prod")
                        .role_arn("arn:aws:iam::000000000000:role/lb")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    follow_service_deployment(&ecs).await;
    let v2 = register(&ecs, "app", "nginx:2").await;
    ecs.update_service()
        .cluster("c1")
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .unwrap();
    let (done, stages) = follow_service_deployment(&ecs).await;
    assert_eq!(done.status(), Some(&ServiceDeploymentStatus::Successful));
    // Polling sees the stages in ECS's order; a one-second stage may pass between two polls.
    const ORDER: &[&str] = &[
        "RECONCILE_SERVICE",
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ];
    let positions: Vec<usize> = stages
        .iter()
        .map(|s| ORDER.iter().position(|o| o == s).expect("a known stage"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{stages:?}");
    assert!(stages.iter().any(|s| s == "BAKE_TIME"), "{stages:?}");
    assert_eq!(stages.last().map(String::as_str), Some("CLEAN_UP"));
    let service = wait_for_rollout(&ecs).await;
    let lb = &service.load_balancers()[0];
    assert_eq!(lb.target_group_arn(), Some(green_tg), "swapped");
    assert_eq!(
        lb.advanced_configuration()
            .unwrap()
            .alternate_target_group_arn(),
        Some(blue_tg)
    );
    // An operator stops the next one: ECS rolls back to the revision that serves.
    let v3 = register(&ecs, "app", "nginx:3").await;
    let updated = ecs
        .update_service()
        .cluster("c1")
        .service("web")
        .task_definition(&v3)
        .send()
        .await
        .unwrap();
    let arn = updated
        .service()
        .unwrap()
        .current_service_deployment()
        .unwrap()
        .to_string();
    ecs.stop_service_deployment()
        .service_deployment_arn(&arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .unwrap();
    let (done, _) = follow_service_deployment(&ecs).await;
    assert_eq!(done.service_deployment_arn(), Some(arn.as_str()));
    assert_eq!(
        done.status(),
        Some(&ServiceDeploymentStatus::RollbackSuccessful)
    );
    let service = wait_for_rollout(&ecs).await;
    assert_eq!(service.task_definition(), Some(v2.as_str()));
    assert_eq!(
        service.load_balancers()[0].target_group_arn(),
        Some(green_tg)
    );
}

#[tokio::test]
async fn a_capacity_provider_lives_through_the_sdk_on_a_cluster() {
    use aws_sdk_ecs::types::{
        AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, CapacityProviderField,
        CapacityProviderStatus as Status, CapacityProviderUpdateStatus as UpdateStatus,
        ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection,
    };
    let sim = simulator(100.0, false).await;
    let ecs = ecs_client(&sim.endpoint(), "us-east-1", false);
    let group = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5e000000:autoScalingGroupName/web";
    let create = || {
        ecs.create_capacity_provider()
            .name("web-asg")
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn(group)
                    .managed_scaling(
                        ManagedScaling::builder()
                            .status(ManagedScalingStatus::Enabled)
                            .target_capacity(90)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .tags(Tag::builder().key("team").value("web").build())
    };
    // Faults and statistics apply to it like to any other operation.
    sim_json(
        sim.addr(),
        "POST",
        "/_sim/faults",
        r#"{"operations": ["CreateCapacityProvider"], "failNext": 1}"#,
    )
    .await;
    let err = create().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServerException"));
    let created = create().send().await.unwrap();
    assert_eq!(
        sim_calls(sim.addr(), "CreateCapacityProvider", "ServerException").await,
        1
    );
    assert_eq!(
        sim_calls(sim.addr(), "CreateCapacityProvider", "ok").await,
        1
    );
    let provider = created.capacity_provider().unwrap();
    assert_eq!(
        provider.capacity_provider_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:capacity-provider/web-asg")
    );
    assert_eq!(provider.status(), Some(&Status::Active));
    let scaling = provider
        .auto_scaling_group_provider()
        .unwrap()
        .managed_scaling()
        .unwrap();
    assert_eq!(
        (
            scaling.target_capacity(),
            scaling.minimum_scaling_step_size(),
            scaling.maximum_scaling_step_size(),
            scaling.instance_warmup_period()
        ),
        (Some(90), Some(1), Some(10000), Some(300))
    );

    let described = ecs
        .describe_capacity_providers()
        .capacity_providers("web-asg")
        .include(CapacityProviderField::Tags)
        .send()
        .await
        .unwrap();
    let provider = &described.capacity_providers()[0];
    assert_eq!(provider.tags()[0].value(), Some("web"));

    ecs.create_cluster()
        .cluster_name("c1")
        .capacity_providers("web-asg")
        .send()
        .await
        .unwrap();
    let cluster = ecs.describe_clusters().clusters("c1").send().await.unwrap();
    assert_eq!(cluster.clusters()[0].capacity_providers(), ["web-asg"]);

    let updated = ecs
        .update_capacity_provider()
        .name("web-asg")
        .auto_scaling_group_provider(
            AutoScalingGroupProviderUpdate::builder()
                .managed_termination_protection(ManagedTerminationProtection::Enabled)
                .managed_scaling(
                    ManagedScaling::builder()
                        .instance_warmup_period(150)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let provider = updated.capacity_provider().unwrap();
    assert_eq!(
        provider.update_status(),
        Some(&UpdateStatus::UpdateComplete)
    );
    let asg = provider.auto_scaling_group_provider().unwrap();
    assert_eq!(
        asg.managed_termination_protection(),
        Some(&ManagedTerminationProtection::Enabled)
    );
    assert_eq!(
        (
            asg.managed_scaling().unwrap().target_capacity(),
            asg.managed_scaling().unwrap().instance_warmup_period()
        ),
        (Some(90), Some(150))
    );

    // Associated: ECS answers the deletion, but it fails, and says why.
    let kept = ecs
        .delete_capacity_provider()
        .capacity_provider("web-asg")
        .send()
        .await
        .unwrap();
    let provider = kept.capacity_provider().unwrap();
    assert_eq!(
        (provider.status(), provider.update_status()),
        (Some(&Status::Active), Some(&UpdateStatus::DeleteFailed))
    );
    assert_eq!(
        provider.update_status_reason(),
        Some(
            "The capacity provider cannot be deleted because it is associated with cluster: c1. Remove the capacity provider from the cluster and try again."
        )
    );

    ecs.put_cluster_capacity_providers()
        .cluster("c1")
        .set_capacity_providers(Some(vec![]))
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap();
    let deleting = ecs
        .delete_capacity_provider()
        .capacity_provider("web-asg")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleting.capacity_provider().unwrap().update_status(),
        Some(&UpdateStatus::DeleteInProgress)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = ecs
            .describe_capacity_providers()
            .capacity_providers("web-asg")
            .send()
            .await
            .unwrap();
        let provider = &described.capacity_providers()[0];
        if provider.status() == Some(&Status::Inactive) {
            assert_eq!(
                provider.update_status(),
                Some(&UpdateStatus::DeleteComplete)
            );
            break;
        }
        assert!(Instant::now() < deadline, "{provider:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
