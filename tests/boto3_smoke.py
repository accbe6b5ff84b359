"""boto3, unchanged, against the simulator: create, register, update, and wait with boto3's
own `services_stable` waiter. Usage: boto3_smoke.py ENDPOINT"""
import sys

import boto3

ecs = boto3.client(
    "ecs",
    region_name="us-east-1",
    endpoint_url=sys.argv[1],
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="not-a-secret",
)
waiter = ecs.get_waiter("services_stable")


def register(image):
    out = ecs.register_task_definition(
        family="app",
        containerDefinitions=[{"name": "app", "image": image, "memory": 128}],
    )
    return out["taskDefinition"]["taskDefinitionArn"]


ecs.create_cluster(clusterName="c1")
first = register("nginx:1")
ecs.create_service(cluster="c1", serviceName="web", taskDefinition=first, desiredCount=2)
waiter.wait(cluster="c1", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
second = register("nginx:2")
ecs.update_service(cluster="c1", service="web", taskDefinition="app:2")
waiter.wait(cluster="c1", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
service = ecs.describe_services(cluster="c1", services=["web"])["services"][0]
assert service["taskDefinition"] == second, service["taskDefinition"]
assert service["runningCount"] == 2 and len(service["deployments"]) == 1, service
assert service["deployments"][0]["rolloutState"] == "COMPLETED", service["deployments"]
print("rolled out app:2")
