//! One scenario of CRUD calls through `aws-sdk-ecs`, against the simulator and against moto's
//! server: where moto is right the two agree; where moto deviates from ECS, the deviation is
//! written down here and ECS's behaviour is asserted on the simulator.

mod common;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ContainerDefinition, LaunchType, PortMapping, Tag};
use ecs_gitops::sim::{SimConfig, Simulator};

/// What the scenario saw, normalized: accounts masked, generated ids dropped.
#[derive(Debug, PartialEq)]
struct Observed {
    cluster_arn: String,
    cluster_status: String,
    missing_cluster_failure: (String, String),
    task_definition_arns: Vec<String>,
    revisions: Vec<i32>,
    container_defaults: (Option<bool>, Option<i32>, usize, usize, usize),
    latest_by_family: i32,
    tags_with_include: Vec<(String, String)>,
    missing_task_definition_error: (String, String),
    service_arn: String,
    service_status: String,
    service_task_definition: String,
    primary: (String, String),
    missing_service_reason: String,
    create_in_missing_cluster: String,
    update_missing_service: String,
    delete_scaled_service: (String, String),
    deregistered_status: String,
}

fn mask(arn: &str) -> String {
    arn.replace("123456789012", "ACCOUNT")
        .replace("000000000000", "ACCOUNT")
}

fn code<E: ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("<none>").to_string()
}

fn web(image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("web")
        .image(image)
        .memory(256)
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build()
}

/// The shared scenario: bridge networking and the EC2 launch type, so moto needs no VPC.
async fn scenario(ecs: &Client) -> Observed {
    let cluster = ecs
        .create_cluster()
        .cluster_name("c1")
        .tags(Tag::builder().key("team").value("platform").build())
        .send()
        .await
        .unwrap();
    let cluster = cluster.cluster().unwrap();
    let described = ecs
        .describe_clusters()
        .clusters("c1")
        .clusters("nope")
        .send()
        .await
        .unwrap();
    let failure = &described.failures()[0];
    let mut arns = Vec::new();
    let mut revisions = Vec::new();
    for image in ["nginx:1", "nginx:2"] {
        let out = ecs
            .register_task_definition()
            .family("web")
            .container_definitions(web(image))
            .tags(Tag::builder().key("a").value("b").build())
            .send()
            .await
            .unwrap();
        let td = out.task_definition().unwrap();
        arns.push(mask(td.task_definition_arn().unwrap()));
        revisions.push(td.revision());
    }
    let latest = ecs
        .describe_task_definition()
        .task_definition("web")
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let container = &latest.task_definition().unwrap().container_definitions()[0];
    let defaults = (
        container.essential(),
        Some(container.cpu()),
        container.environment().len(),
        container.mount_points().len(),
        container.volumes_from().len(),
    );
    let tags = latest
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    let missing_td = ecs
        .describe_task_definition()
        .task_definition("nope")
        .send()
        .await
        .unwrap_err();
    let missing_td = (
        code(&missing_td),
        missing_td.message().unwrap_or_default().to_string(),
    );
    let service = ecs
        .create_service()
        .cluster("c1")
        .service_name("s1")
        .task_definition("web:2")
        .desired_count(1)
        .launch_type(LaunchType::Ec2)
        .send()
        .await
        .unwrap();
    let service = service.service().unwrap();
    let primary = &service.deployments()[0];
    let described = ecs
        .describe_services()
        .cluster("c1")
        .services("s1")
        .services("missing")
        .send()
        .await
        .unwrap();
    let missing_cluster = ecs
        .create_service()
        .cluster("nope")
        .service_name("x")
        .task_definition("web:1")
        .send()
        .await
        .unwrap_err();
    let missing_service = ecs
        .update_service()
        .cluster("c1")
        .service("nope")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    let scaled = ecs
        .delete_service()
        .cluster("c1")
        .service("s1")
        .send()
        .await
        .unwrap_err();
    let deregistered = ecs
        .deregister_task_definition()
        .task_definition("web:1")
        .send()
        .await
        .unwrap();
    Observed {
        cluster_arn: mask(cluster.cluster_arn().unwrap()),
        cluster_status: cluster.status().unwrap().to_string(),
        missing_cluster_failure: (
            mask(failure.arn().unwrap()),
            failure.reason().unwrap().to_string(),
        ),
        task_definition_arns: arns,
        revisions,
        container_defaults: defaults,
        latest_by_family: latest.task_definition().unwrap().revision(),
        tags_with_include: tags,
        missing_task_definition_error: missing_td,
        service_arn: mask(service.service_arn().unwrap()),
        service_status: service.status().unwrap().to_string(),
        service_task_definition: mask(service.task_definition().unwrap()),
        primary: (
            primary.status().unwrap().to_string(),
            primary.rollout_state().unwrap().as_str().to_string(),
        ),
        missing_service_reason: described.failures()[0].reason().unwrap().to_string(),
        create_in_missing_cluster: code(&missing_cluster),
        update_missing_service: code(&missing_service),
        delete_scaled_service: (
            code(&scaled),
            scaled.message().unwrap_or_default().to_string(),
        ),
        deregistered_status: deregistered
            .task_definition()
            .unwrap()
            .status()
            .unwrap()
            .as_str()
            .to_string(),
    }
}

#[tokio::test]
async fn the_simulator_agrees_with_moto_where_moto_is_right() {
    let Some(moto) = common::Moto::start() else {
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let on_sim = scenario(&common::ecs_client(&sim.endpoint(), "us-east-1", false)).await;
    let on_moto = scenario(&common::ecs_client(&moto.endpoint, "us-east-1", false)).await;
    assert_eq!(on_sim, on_moto);
    // And both are what ECS answers.
    assert_eq!(
        on_sim.cluster_arn,
        "arn:aws:ecs:us-east-1:ACCOUNT:cluster/c1"
    );
    assert_eq!(
        on_sim.task_definition_arns,
        [
            "arn:aws:ecs:us-east-1:ACCOUNT:task-definition/web:1",
            "arn:aws:ecs:us-east-1:ACCOUNT:task-definition/web:2"
        ]
    );
    assert_eq!(on_sim.container_defaults, (Some(true), Some(0), 0, 0, 0));
    assert_eq!(
        on_sim.service_arn,
        "arn:aws:ecs:us-east-1:ACCOUNT:service/c1/s1"
    );
    assert_eq!(
        on_sim.primary,
        ("PRIMARY".to_string(), "IN_PROGRESS".to_string())
    );
    assert_eq!(on_sim.delete_scaled_service.0, "InvalidParameterException");
}

/// Where moto deviates from ECS. Each check runs on both: moto's answer is written down, and
/// the simulator must give ECS's.
#[tokio::test]
async fn where_moto_deviates_the_simulator_follows_ecs() {
    let Some(moto) = common::Moto::start() else {
        return;
    };
    let sim = Simulator::start(SimConfig {
        throttle: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let on_sim = common::ecs_client(&sim.endpoint(), "us-east-1", false);
    let on_moto = common::ecs_client(&moto.endpoint, "us-east-1", false);
    for ecs in [&on_sim, &on_moto] {
        scenario(ecs).await;
        for name in ["s2", "s3"] {
            ecs.create_service()
                .cluster("c1")
                .service_name(name)
                .task_definition("web:2")
                .launch_type(LaunchType::Ec2)
                .send()
                .await
                .unwrap();
        }
    }

    // ListServices honours maxResults (moto ignores it and returns everything).
    let page = |ecs: &Client| ecs.list_services().cluster("c1").max_results(1).send();
    let (sim_page, moto_page) = (page(&on_sim).await.unwrap(), page(&on_moto).await.unwrap());
    assert_eq!(
        (
            sim_page.service_arns().len(),
            sim_page.next_token().is_some()
        ),
        (1, true)
    );
    assert_eq!(
        (
            moto_page.service_arns().len(),
            moto_page.next_token().is_some()
        ),
        (3, false)
    );

    // DescribeServices takes at most 10 names (moto takes any number).
    let eleven: Vec<String> = (0..11).map(|i| format!("x{i}")).collect();
    let describe = |ecs: &Client| {
        ecs.describe_services()
            .cluster("c1")
            .set_services(Some(eleven.clone()))
            .send()
    };
    assert_eq!(
        describe(&on_sim).await.unwrap_err().code(),
        Some("InvalidParameterException")
    );
    assert!(describe(&on_moto).await.is_ok());

    // A missing service's failure ARN names its cluster (moto leaves the cluster out).
    let missing = |ecs: &Client| {
        ecs.describe_services()
            .cluster("c1")
            .services("gone")
            .send()
    };
    let sim_arn = missing(&on_sim).await.unwrap().failures()[0]
        .arn()
        .map(mask);
    let moto_arn = missing(&on_moto).await.unwrap().failures()[0]
        .arn()
        .map(mask);
    assert_eq!(
        sim_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:ACCOUNT:service/c1/gone")
    );
    assert_eq!(
        moto_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:ACCOUNT:service/gone")
    );

    // An INACTIVE revision cannot be deployed (moto deploys it).
    let inactive = |ecs: &Client| {
        ecs.update_service()
            .cluster("c1")
            .service("s3")
            .task_definition("web:1")
            .send()
    };
    assert_eq!(
        inactive(&on_sim).await.unwrap_err().code(),
        Some("ClientException")
    );
    assert!(inactive(&on_moto).await.is_ok());

    // UpdateService with a new task definition starts a new PRIMARY deployment and stores an
    // ARN (moto keeps one deployment and stores the string given).
    for ecs in [&on_sim, &on_moto] {
        ecs.register_task_definition()
            .family("web")
            .container_definitions(web("nginx:3"))
            .send()
            .await
            .unwrap();
    }
    let update = |ecs: &Client| {
        ecs.update_service()
            .cluster("c1")
            .service("s2")
            .task_definition("web:3")
            .send()
    };
    let (sim_update, moto_update) = (
        update(&on_sim).await.unwrap(),
        update(&on_moto).await.unwrap(),
    );
    let sim_service = sim_update.service().unwrap();
    assert_eq!(sim_service.deployments().len(), 2);
    assert_eq!(sim_service.deployments()[1].status(), Some("ACTIVE"));
    assert_eq!(
        sim_service.task_definition().map(mask).as_deref(),
        Some("arn:aws:ecs:us-east-1:ACCOUNT:task-definition/web:3")
    );
    let moto_service = moto_update.service().unwrap();
    assert_eq!(moto_service.deployments().len(), 1);
    assert_eq!(moto_service.task_definition(), Some("web:3"));

    // A reused clientToken with other parameters is refused (moto ignores tokens and replaces
    // the service).
    let create = |ecs: &Client, count: i32| {
        ecs.create_service()
            .cluster("c1")
            .service_name("s4")
            .task_definition("web:2")
            .launch_type(LaunchType::Ec2)
            .desired_count(count)
            .client_token("token-1")
            .send()
    };
    for ecs in [&on_sim, &on_moto] {
        create(ecs, 1).await.unwrap();
    }
    assert_eq!(
        create(&on_sim, 2).await.unwrap_err().code(),
        Some("InvalidParameterException")
    );
    assert!(create(&on_moto, 2).await.is_ok());

    // Unit strings for task sizes are normalized at registration (moto keeps them as given).
    let sized = |ecs: &Client| {
        ecs.register_task_definition()
            .family("sized")
            .cpu("0.25 vCPU")
            .memory("1 GB")
            .container_definitions(web("nginx:1"))
            .send()
    };
    let sim_td = sized(&on_sim).await.unwrap();
    let moto_td = sized(&on_moto).await.unwrap();
    let sizes =
        |out: &aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput| {
            let td = out.task_definition().unwrap();
            (
                td.cpu().unwrap().to_string(),
                td.memory().unwrap().to_string(),
            )
        };
    assert_eq!(sizes(&sim_td), ("256".to_string(), "1024".to_string()));
    assert_eq!(
        sizes(&moto_td),
        ("0.25 vCPU".to_string(), "1 GB".to_string())
    );

    // Service deployments are served (moto answers HTTP 500 HTML, which the SDK reports as an
    // unhandled error without a code).
    let list = |ecs: &Client| {
        ecs.list_service_deployments()
            .cluster("c1")
            .service("s2")
            .send()
    };
    assert_eq!(list(&on_sim).await.unwrap().service_deployments().len(), 2);
    assert!(list(&on_moto).await.is_err());
}
