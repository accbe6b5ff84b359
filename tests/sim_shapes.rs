//! Every answer the simulator gives in a scenario that touches each operation it serves,
//! checked key by key, recursively, against the operation's output shape (or the error's
//! shape) in ECS's Smithy model: no member ECS does not have, no value of the wrong type,
//! no enum value ECS does not know.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ecs_gitops::sim::{SimConfig, Simulator};

const NS: &str = "com.amazonaws.ecs#";

/// One answer: the operation, whether it succeeded, and its body.
struct Answer {
    operation: String,
    status: u16,
    body: Value,
}

struct Scenario {
    addr: SocketAddr,
    answers: Vec<Answer>,
}

impl Scenario {
    async fn call(&mut self, operation: &str, request: Value) -> Value {
        let target = format!("AmazonEC2ContainerServiceV20141113.{operation}");
        let (status, body) = common::http(
            self.addr,
            "POST",
            "/",
            &[
                ("X-Amz-Target", &target),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            &request.to_string(),
        )
        .await;
        let body: Value = serde_json::from_str(&body).unwrap();
        self.answers.push(Answer {
            operation: operation.to_string(),
            status,
            body: body.clone(),
        });
        body
    }

    /// DescribeServices until `done` holds for the service.
    async fn wait_service(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .call(
                    "DescribeServices",
                    json!({"cluster": "c1", "services": ["web"], "include": ["TAGS"]}),
                )
                .await;
            if done(&out["services"][0]) {
                return out["services"][0].clone();
            }
            assert!(Instant::now() < deadline, "{what}: {out:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    /// DescribeServiceDeployments of the service's newest service deployment until it is
    /// finished; returns it.
    async fn wait_service_deployment(&mut self, service: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed = self
                .call(
                    "ListServiceDeployments",
                    json!({"cluster": "c1", "service": service}),
                )
                .await;
            let arn = listed["serviceDeployments"][0]["serviceDeploymentArn"].clone();
            let out = self
                .call(
                    "DescribeServiceDeployments",
                    json!({"serviceDeploymentArns": [arn]}),
                )
                .await;
            let sd = out["serviceDeployments"][0].clone();
            let finished = [
                "SUCCESSFUL",
                "STOPPED",
                "ROLLBACK_SUCCESSFUL",
                "ROLLBACK_FAILED",
            ]
            .contains(&sd["status"].as_str().unwrap_or_default());
            if finished {
                return sd;
            }
            assert!(Instant::now() < deadline, "{sd:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Calls every operation the simulator serves, through a rolling update, a failed one rolled
/// back by the circuit breaker, tasks started and stopped, and the usual errors.
async fn scenario(addr: SocketAddr) -> Vec<Answer> {
    let mut s = Scenario {
        addr,
        answers: Vec::new(),
    };
    let tag = json!([{"key": "team", "value": "web"}]);
    s.call(
        "CreateCluster",
        json!({"clusterName": "c1", "tags": tag, "settings": [{"name": "containerInsights", "value": "enabled"}],
               "capacityProviders": ["FARGATE"], "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    )
    .await;
    s.call(
        "DescribeClusters",
        json!({"clusters": ["c1", "nope"], "include": ["TAGS", "SETTINGS"]}),
    )
    .await;
    s.call("ListClusters", json!({})).await;
    s.call(
        "UpdateCluster",
        json!({"cluster": "c1", "settings": [{"name": "containerInsights", "value": "disabled"}]}),
    )
    .await;
    s.call(
        "PutClusterCapacityProviders",
        json!({"cluster": "c1", "capacityProviders": ["FARGATE", "FARGATE_SPOT"], "defaultCapacityProviderStrategy": []}),
    )
    .await;
    capacity_providers(&mut s).await;
    let task_definition = |image: &str| {
        json!({
            "family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512", "executionRoleArn": "arn:aws:iam::000000000000:role/exec",
            "tags": [{"key": "app", "value": "web"}],
            "containerDefinitions": [{
                "name": "web", "image": image,
                "portMappings": [{"containerPort": 80, "name": "http", "appProtocol": "http"}],
                "environment": [{"name": "MODE", "value": "x"}],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5}
            }],
            "volumes": [{"name": "data", "configuredAtLaunch": true}],
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "ephemeralStorage": {"sizeInGiB": 30}
        })
    };
    let v1 = s
        .call("RegisterTaskDefinition", task_definition("nginx:1"))
        .await;
    let v1 = v1["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    s.call("RegisterTaskDefinition", task_definition("nginx:2"))
        .await;
    s.call(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web", "include": ["TAGS"]}),
    )
    .await;
    s.call(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "nope:9"}),
    )
    .await;
    s.call(
        "ListTaskDefinitions",
        json!({"familyPrefix": "web", "sort": "DESC", "maxResults": 1}),
    )
    .await;
    s.call("ListTaskDefinitionFamilies", json!({})).await;
    let network = json!({"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}});
    s.call(
        "CreateService",
        json!({
            "cluster": "c1", "serviceName": "web", "taskDefinition": v1, "desiredCount": 2,
            "launchType": "FARGATE", "platformVersion": "LATEST", "networkConfiguration": network,
            "clientToken": "token-1", "tags": tag, "propagateTags": "SERVICE", "enableECSManagedTags": true,
            "healthCheckGracePeriodSeconds": 30,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true},
                                        "maximumPercent": 200, "minimumHealthyPercent": 100},
            "serviceConnectConfiguration": {"enabled": true, "namespace": "ns",
                "services": [{"portName": "http", "clientAliases": [{"port": 80}]}]},
            "volumeConfigurations": [{"name": "data", "managedEBSVolume": {"roleArn": "arn:aws:iam::000000000000:role/ebs", "sizeInGiB": 10}}],
            "vpcLatticeConfigurations": [{"roleArn": "arn:aws:iam::000000000000:role/lattice",
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/1", "portName": "http"}]
        }),
    )
    .await;
    s.wait_service("first rollout", |svc| {
        svc["deployments"].as_array().is_some_and(|d| d.len() == 1)
            && svc["deployments"][0]["rolloutState"] == "COMPLETED"
    })
    .await;
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": "web:2", "desiredCount": 3}),
    )
    .await;
    s.wait_service("the rolling update", |svc| {
        svc["taskDefinition"]
            .as_str()
            .is_some_and(|t| t.ends_with("web:2"))
            && svc["deployments"].as_array().is_some_and(|d| d.len() == 1)
            && svc["deployments"][0]["rolloutState"] == "COMPLETED"
    })
    .await;
    // A failing image: the circuit breaker rolls back to web:2.
    s.call("RegisterTaskDefinition", task_definition("nginx:fail-1"))
        .await;
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "taskDefinition": "web:3"}),
    )
    .await;
    s.wait_service("the rollback", |svc| {
        svc["taskDefinition"]
            .as_str()
            .is_some_and(|t| t.ends_with("web:2"))
            && svc["deployments"].as_array().is_some_and(|d| d.len() == 1)
            && svc["deployments"][0]["rolloutState"] == "COMPLETED"
    })
    .await;
    s.call(
        "DescribeServices",
        json!({"cluster": "c1", "services": ["web", "nope"]}),
    )
    .await;
    s.call("ListServices", json!({"cluster": "c1", "maxResults": 10}))
        .await;
    let deployments = s
        .call(
            "ListServiceDeployments",
            json!({"cluster": "c1", "service": "web"}),
        )
        .await;
    let arns: Vec<Value> = deployments["serviceDeployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serviceDeploymentArn"].clone())
        .collect();
    assert!(arns.len() >= 3, "{deployments:#}");
    s.call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": arns}),
    )
    .await;
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "forceNewDeployment": true}),
    )
    .await;
    let in_flight = s
        .call(
            "ListServiceDeployments",
            json!({"cluster": "c1", "service": "web", "status": ["IN_PROGRESS", "PENDING"]}),
        )
        .await;
    if let Some(arn) = in_flight["serviceDeployments"][0]["serviceDeploymentArn"].as_str() {
        s.call(
            "StopServiceDeployment",
            json!({"serviceDeploymentArn": arn}),
        )
        .await;
    }
    let stopped = s
        .call(
            "ListTasks",
            json!({"cluster": "c1", "serviceName": "web", "desiredStatus": "STOPPED"}),
        )
        .await;
    let running = s
        .call("ListTasks", json!({"cluster": "c1", "serviceName": "web"}))
        .await;
    let mut tasks: Vec<Value> = stopped["taskArns"].as_array().unwrap().clone();
    tasks.extend(running["taskArns"].as_array().unwrap().iter().cloned());
    tasks.truncate(100);
    s.call(
        "DescribeTasks",
        json!({"cluster": "c1", "tasks": tasks, "include": ["TAGS"]}),
    )
    .await;
    let run = s
        .call(
            "RunTask",
            json!({"cluster": "c1", "taskDefinition": "web:2", "count": 1, "launchType": "FARGATE",
                   "networkConfiguration": network, "startedBy": "scenario", "tags": tag}),
        )
        .await;
    let task = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    s.call(
        "StopTask",
        json!({"cluster": "c1", "task": task, "reason": "done"}),
    )
    .await;
    // BLUE_GREEN behind a load balancer: followed through its stages to SUCCESSFUL, then a
    // LINEAR one stopped with a rollback.
    let hooks = json!([{"hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:hook",
                        "roleArn": "arn:aws:iam::000000000000:role/hook",
                        "lifecycleStages": ["POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"]}]);
    s.call(
        "CreateService",
        json!({
            "cluster": "c1", "serviceName": "bg", "taskDefinition": "web:2", "desiredCount": 1,
            "launchType": "FARGATE", "networkConfiguration": network,
            "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                                        "lifecycleHooks": hooks,
                                        "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
            "loadBalancers": [{
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/1",
                "containerName": "web", "containerPort": 80,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/green/2",
                    "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/1/2/3",
                    "testListenerRule": "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/1/2/4",
                    "roleArn": "arn:aws:iam::000000000000:role/lb"
                }
            }]
        }),
    )
    .await;
    s.wait_service_deployment("bg").await;
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "bg", "taskDefinition": "web:1"}),
    )
    .await;
    let done = s.wait_service_deployment("bg").await;
    assert_eq!(done["status"], "SUCCESSFUL", "{done:#}");
    assert_eq!(done["lifecycleStage"], "CLEAN_UP", "{done:#}");
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "bg", "taskDefinition": "web:2",
               "deploymentConfiguration": {"strategy": "LINEAR",
                   "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}}}),
    )
    .await;
    let in_flight = s
        .call(
            "ListServiceDeployments",
            json!({"cluster": "c1", "service": "bg", "status": ["PENDING", "IN_PROGRESS"]}),
        )
        .await;
    let arn = in_flight["serviceDeployments"][0]["serviceDeploymentArn"].clone();
    s.call(
        "StopServiceDeployment",
        json!({"serviceDeploymentArn": arn, "stopType": "ROLLBACK"}),
    )
    .await;
    s.call(
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [arn]}),
    )
    .await;
    let done = s.wait_service_deployment("bg").await;
    assert_eq!(done["status"], "ROLLBACK_SUCCESSFUL", "{done:#}");
    s.call(
        "DescribeServices",
        json!({"cluster": "c1", "services": ["bg"], "include": ["TAGS"]}),
    )
    .await;
    s.call(
        "DeleteService",
        json!({"cluster": "c1", "service": "bg", "force": true}),
    )
    .await;
    // One-off tasks (migrations) run to STOPPED with exit codes; a missing image never starts.
    s.call("RegisterTaskDefinition", task_definition("nginx:missing-1"))
        .await;
    let migration = json!({
        "cluster": "c1", "taskDefinition": "web:2", "networkConfiguration": network,
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        "startedBy": "migrations", "clientToken": "migration-1", "tags": tag,
        "overrides": {"containerOverrides": [{"name": "web", "command": ["./migrate"],
                                              "environment": [{"name": "STEP", "value": "1"}]}]}
    });
    let mut arns = Vec::new();
    for request in [
        migration.clone(),
        json!({"cluster": "c1", "taskDefinition": "web:4", "launchType": "FARGATE",
               "networkConfiguration": network, "startedBy": "migrations"}),
    ] {
        let run = s.call("RunTask", request).await;
        arns.push(run["tasks"][0]["taskArn"].clone());
    }
    let mut conflicting = migration.clone();
    conflicting["startedBy"] = json!("other");
    s.call("RunTask", conflicting).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = s
            .call(
                "DescribeTasks",
                json!({"cluster": "c1", "tasks": arns, "include": ["TAGS"]}),
            )
            .await;
        let tasks = out["tasks"].as_array().unwrap();
        if tasks.iter().all(|t| t["lastStatus"] == "STOPPED") {
            assert_eq!(tasks[0]["containers"][0]["exitCode"], 0, "{out:#}");
            assert!(tasks[1]["containers"][0]["reason"].is_string(), "{out:#}");
            break;
        }
        assert!(Instant::now() < deadline, "{out:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.call(
        "ListTasks",
        json!({"cluster": "c1", "startedBy": "migrations", "desiredStatus": "STOPPED"}),
    )
    .await;
    s.call("ListTagsForResource", json!({"resourceArn": arns[0]}))
        .await;
    let service_arn = "arn:aws:ecs:us-east-1:000000000000:service/c1/web";
    s.call(
        "TagResource",
        json!({"resourceArn": service_arn, "tags": [{"key": "k", "value": "v"}]}),
    )
    .await;
    s.call(
        "UntagResource",
        json!({"resourceArn": service_arn, "tagKeys": ["k"]}),
    )
    .await;
    s.call("ListTagsForResource", json!({"resourceArn": service_arn}))
        .await;
    // A capacity provider strategy: refused without forceNewDeployment, deployed with it.
    let spot = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]);
    for force in [false, true] {
        s.call(
            "UpdateService",
            json!({"cluster": "c1", "service": "web", "capacityProviderStrategy": spot,
                   "forceNewDeployment": force}),
        )
        .await;
    }
    s.call(
        "UpdateService",
        json!({"cluster": "c1", "service": "web", "desiredCount": 0}),
    )
    .await;
    s.call(
        "DeleteService",
        json!({"cluster": "c1", "service": "web", "force": true}),
    )
    .await;
    s.call(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:1"}),
    )
    .await;
    s.call(
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["web:1", "web:9", "web", "web:2"]}),
    )
    .await;
    s.call(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
    )
    .await;
    s.call(
        "ListTaskDefinitions",
        json!({"status": "DELETE_IN_PROGRESS"}),
    )
    .await;
    let eleven: Vec<String> = (1..=11).map(|i| format!("web:{i}")).collect();
    s.call("DeleteTaskDefinitions", json!({"taskDefinitions": eleven}))
        .await;
    s.call(
        "CreateService",
        json!({"cluster": "nope", "serviceName": "x", "taskDefinition": "web:2"}),
    )
    .await;
    s.call("DeleteCluster", json!({"cluster": "c1"})).await;
    s.answers
}

/// Capacity providers of both kinds through their life on a cluster of their own: created,
/// described (with a missing one, tags, a page), updated, refused deletion while associated,
/// taken off, deleted and described INACTIVE; the usual refusals.
async fn capacity_providers(s: &mut Scenario) {
    let group = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5e000000:autoScalingGroupName/asg";
    let asg = json!({"name": "asg", "tags": [{"key": "team", "value": "web"}],
                     "autoScalingGroupProvider": {"autoScalingGroupArn": group,
                         "managedScaling": {"status": "ENABLED", "targetCapacity": 90},
                         "managedTerminationProtection": "DISABLED"}});
    s.call("CreateCapacityProvider", asg.clone()).await;
    s.call("CreateCapacityProvider", asg).await;
    s.call("CreateCluster", json!({"clusterName": "cp"})).await;
    s.call(
        "CreateCapacityProvider",
        json!({"name": "mi", "cluster": "cp", "managedInstancesProvider": {
            "infrastructureRoleArn": "arn:aws:iam::000000000000:role/infra",
            "propagateTags": "CAPACITY_PROVIDER",
            "infrastructureOptimization": {"scaleInAfter": 300},
            "autoRepairConfiguration": {"actionsStatus": "ENABLED"},
            "instanceLaunchTemplate": {
                "ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/ecs",
                "networkConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]},
                "storageConfiguration": {"storageSizeGiB": 50},
                "monitoring": "BASIC",
                "instanceRequirements": {"vCpuCount": {"min": 2, "max": 8},
                                         "memoryMiB": {"min": 2048},
                                         "cpuManufacturers": ["intel", "amd"],
                                         "burstablePerformance": "excluded"}}}}),
    )
    .await;
    s.call("DescribeCapacityProviders", json!({"maxResults": 2}))
        .await;
    s.call(
        "DescribeCapacityProviders",
        json!({"capacityProviders": ["asg", "FARGATE", "nope"], "include": ["TAGS"]}),
    )
    .await;
    s.call("DescribeCapacityProviders", json!({"cluster": "cp"}))
        .await;
    s.call(
        "UpdateCapacityProvider",
        json!({"name": "asg", "autoScalingGroupProvider": {
            "managedScaling": {"instanceWarmupPeriod": 150}, "managedDraining": "DISABLED"}}),
    )
    .await;
    s.call(
        "UpdateCapacityProvider",
        json!({"name": "mi", "cluster": "cp", "managedInstancesProvider": {
            "infrastructureRoleArn": "arn:aws:iam::000000000000:role/infra",
            "instanceLaunchTemplate": {"monitoring": "DETAILED"}}}),
    )
    .await;
    let associate = |providers: Value| {
        json!({"cluster": "cp", "capacityProviders": providers,
               "defaultCapacityProviderStrategy": []})
    };
    s.call("PutClusterCapacityProviders", associate(json!(["asg"])))
        .await;
    s.call(
        "PutClusterCapacityProviders",
        json!({"cluster": "cp", "capacityProviders": ["nope"],
               "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let arn = "arn:aws:ecs:us-east-1:000000000000:capacity-provider/asg";
    s.call("ListTagsForResource", json!({"resourceArn": arn}))
        .await;
    let kept = s
        .call("DeleteCapacityProvider", json!({"capacityProvider": "asg"}))
        .await;
    assert_eq!(kept["capacityProvider"]["updateStatus"], "DELETE_FAILED");
    s.call("PutClusterCapacityProviders", associate(json!([])))
        .await;
    let deleting = s
        .call("DeleteCapacityProvider", json!({"capacityProvider": arn}))
        .await;
    assert_eq!(
        deleting["capacityProvider"]["updateStatus"],
        "DELETE_IN_PROGRESS"
    );
    s.call(
        "DeleteCapacityProvider",
        json!({"capacityProvider": "mi", "cluster": "cp"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = s
            .call(
                "DescribeCapacityProviders",
                json!({"capacityProviders": ["asg", "mi"]}),
            )
            .await;
        let providers = out["capacityProviders"].as_array().unwrap();
        if providers.iter().all(|p| p["status"] == "INACTIVE") {
            break;
        }
        assert!(Instant::now() < deadline, "{out:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.call(
        "DeleteCapacityProvider",
        json!({"capacityProvider": "FARGATE"}),
    )
    .await;
}

/// Checks `value` against `shape`, recursively; every problem is pushed as `path: what`.
fn check(shapes: &Value, shape: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let at = |what: String| format!("{path}: {what}");
    if value.is_null() {
        problems.push(at(format!("null where ECS sends nothing or a {shape}")));
        return;
    }
    let kind = match shape.strip_prefix("smithy.api#") {
        Some(prelude) => prelude.to_lowercase().replace("primitive", ""),
        None => shapes[shape]["type"].as_str().unwrap_or("?").to_string(),
    };
    let ok = match kind.as_str() {
        "structure" => {
            let Some(fields) = value.as_object() else {
                return problems.push(at(format!("{shape} must be an object")));
            };
            let members = &shapes[shape]["members"];
            for (key, field) in fields {
                match members[key]["target"].as_str() {
                    Some(target) => {
                        check(shapes, target, field, &format!("{path}.{key}"), problems)
                    }
                    None => problems.push(format!(
                        "{path}.{key}: {} has no member {key:?}",
                        shape.trim_start_matches(NS)
                    )),
                }
            }
            true
        }
        "list" => match value.as_array() {
            Some(items) => {
                let target = shapes[shape]["member"]["target"].as_str().unwrap();
                for (i, item) in items.iter().enumerate() {
                    check(shapes, target, item, &format!("{path}[{i}]"), problems);
                }
                true
            }
            None => false,
        },
        "map" => match value.as_object() {
            Some(entries) => {
                let target = shapes[shape]["value"]["target"].as_str().unwrap();
                for (key, item) in entries {
                    check(shapes, target, item, &format!("{path}.{key}"), problems);
                }
                true
            }
            None => false,
        },
        "enum" => match value.as_str() {
            Some(text) => {
                let known = shapes[shape]["members"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(|m| m["traits"]["smithy.api#enumValue"] == text);
                if !known {
                    problems.push(at(format!("{text:?} is not a {shape} value")));
                }
                true
            }
            None => false,
        },
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" | "long" => value.is_i64() || value.is_u64(),
        "double" | "float" => value.is_number(),
        // awsJson1_1 sends timestamps as epoch seconds.
        "timestamp" => value.is_number(),
        "document" => true,
        other => {
            problems.push(at(format!("unexpected shape type {other} ({shape})")));
            true
        }
    };
    if !ok {
        problems.push(at(format!("{value} is not a {kind} ({shape})")));
    }
}

#[tokio::test]
async fn every_answer_matches_the_smithy_model() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let model: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/ecs-2014-11-13.smithy.json")).unwrap(),
    )
    .unwrap();
    let shapes = &model["shapes"];
    let sim = Simulator::start(SimConfig {
        speed: 200.0,
        throttle: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let answers = scenario(sim.addr()).await;
    let mut problems = Vec::new();
    let mut operations = std::collections::BTreeSet::new();
    for answer in &answers {
        operations.insert(answer.operation.as_str());
        if answer.status == 200 {
            let output = shapes[format!("{NS}{}", answer.operation)]["output"]["target"]
                .as_str()
                .unwrap_or_else(|| panic!("{} is not in the model", answer.operation));
            check(
                shapes,
                output,
                &answer.body,
                &answer.operation,
                &mut problems,
            );
        } else {
            // Errors: `__type` names the error shape; the rest are its members.
            let code = answer.body["__type"].as_str().unwrap();
            let shape = format!("{NS}{code}");
            assert_eq!(
                shapes[&shape]["traits"]["smithy.api#error"], "client",
                "{code}"
            );
            let mut body = answer.body.clone();
            body.as_object_mut().unwrap().remove("__type");
            check(
                shapes,
                &shape,
                &body,
                &format!("{} error", answer.operation),
                &mut problems,
            );
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Every operation the simulator serves was answered at least once.
    assert_eq!(operations.len(), 31, "{operations:?}");
    let errors = answers.iter().filter(|a| a.status != 200).count();
    assert!(errors >= 3, "the scenario's errors were answered: {errors}");
}
