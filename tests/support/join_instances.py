"""Joins container instances to an ECS cluster the way EC2 instances running the ECS
agent do: launches N EC2 instances and registers each with RegisterContainerInstance
(its identity document names the instance). Prints the container instance ARNs as a
JSON list.

Usage: join_instances.py CLUSTER N. Reaches the endpoint through the standard AWS
environment variables, like any AWS client.
"""

import json
import sys

import boto3


def main() -> None:
    cluster, count = sys.argv[1], int(sys.argv[2])
    ec2 = boto3.client("ec2")
    ecs = boto3.client("ecs")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instances = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count)["Instances"]
    arns = []
    for instance in instances:
        document = json.dumps({"instanceId": instance["InstanceId"]})
        registered = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=document)
        arns.append(registered["containerInstance"]["containerInstanceArn"])
    print(json.dumps(arns))


if __name__ == "__main__":
    main()
