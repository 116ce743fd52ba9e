"""Seeds an AWS endpoint (moto in the test bed and the sandbox) with the network a
real ECS example needs: a VPC, two subnets in different availability zones and a
security group, plus a spare subnet (a third zone) and a spare security group for
tests that move a load balancer, and an ACM certificate for HTTPS listeners. Prints
their IDs as one JSON object.

Runs with the boto3 that moto[server] brings; reaches the endpoint through the
standard AWS_ENDPOINT_URL / AWS_REGION / credential variables, like any AWS client.
"""

import json
import sys

import boto3


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "ecs-operator-sandbox"
    ec2 = boto3.client("ec2")
    all_zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    zones = all_zones[:2]
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=tags)["Vpc"]["VpcId"]
    subnets = []
    for index, zone in enumerate(zones):
        subnet = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.42.{index}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{name}-{zone}"}]}
            ],
        )["Subnet"]["SubnetId"]
        subnets.append(subnet)
    group = ec2.create_security_group(
        GroupName=f"{name}-web", Description="ecs-operator example: HTTP in", VpcId=vpc
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    spare_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.9.0/24", AvailabilityZone=all_zones[-1])[
        "Subnet"
    ]["SubnetId"]
    spare_group = ec2.create_security_group(
        GroupName=f"{name}-spare", Description="ecs-operator example: spare group", VpcId=vpc
    )["GroupId"]
    certificate = boto3.client("acm").request_certificate(DomainName=f"{name}.example.com")["CertificateArn"]
    print(
        json.dumps(
            {
                "vpcId": vpc,
                "subnetIds": subnets,
                "securityGroupId": group,
                "zones": zones,
                "spareSubnetId": spare_subnet,
                "spareSecurityGroupId": spare_group,
                "certificateArn": certificate,
            }
        )
    )


if __name__ == "__main__":
    main()
