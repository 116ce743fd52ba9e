"""Unit tests of elbv2_moto: ELBv2's create calls repeated with the same settings return
the same resource, and with other settings fail as the API reference says.

Run with the moto virtual environment's Python: `python -m unittest discover -s tests/support`.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

import boto3  # noqa: E402
import elbv2_moto  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

elbv2_moto.install()
REGION = "us-east-1"


class IdempotentCreateTest(unittest.TestCase):
    def setUp(self) -> None:
        self.mock = mock_aws()
        self.mock.start()
        ec2 = boto3.client("ec2", region_name=REGION)
        self.vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in ((1, "a"), (2, "b"), (3, "c"))
        ]
        self.group = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)["GroupId"]
        self.elb = boto3.client("elbv2", region_name=REGION)

    def tearDown(self) -> None:
        self.mock.stop()

    def load_balancer(self, subnets: list[str]) -> dict:
        return self.elb.create_load_balancer(Name="lb", Subnets=subnets, SecurityGroups=[self.group])["LoadBalancers"][0]

    def target_group(self, port: int) -> dict:
        return self.elb.create_target_group(
            Name="tg", Protocol="HTTP", Port=port, VpcId=self.vpc, TargetType="ip", HealthCheckPath="/"
        )["TargetGroups"][0]

    def listener(self, lb: str, port: int, target: str) -> dict:
        actions = [{"Type": "forward", "TargetGroupArn": target}]
        return self.elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=actions)[
            "Listeners"
        ][0]

    def code(self, call) -> str:
        with self.assertRaises(ClientError) as caught:
            call()
        return caught.exception.response["Error"]["Code"]

    def test_a_repeated_load_balancer_is_the_same_one_and_other_settings_are_refused(self) -> None:
        first = self.load_balancer(self.subnets[:2])
        again = self.load_balancer(list(reversed(self.subnets[:2])))
        self.assertEqual(first["LoadBalancerArn"], again["LoadBalancerArn"])
        self.assertEqual(len(self.elb.describe_load_balancers()["LoadBalancers"]), 1)
        self.assertEqual(self.code(lambda: self.load_balancer(self.subnets)), "DuplicateLoadBalancerName")

    def test_a_repeated_target_group_is_the_same_one_and_other_settings_are_refused(self) -> None:
        first = self.target_group(80)
        self.assertEqual(first["TargetGroupArn"], self.target_group(80)["TargetGroupArn"])
        self.assertEqual(len(self.elb.describe_target_groups()["TargetGroups"]), 1)
        self.assertEqual(self.code(lambda: self.target_group(8080)), "DuplicateTargetGroupName")

    def test_a_repeated_listener_is_the_same_one_and_another_on_its_port_is_refused(self) -> None:
        lb = self.load_balancer(self.subnets[:2])["LoadBalancerArn"]
        tg = self.target_group(80)["TargetGroupArn"]
        first = self.listener(lb, 80, tg)
        self.assertEqual(first["ListenerArn"], self.listener(lb, 80, tg)["ListenerArn"])
        self.assertEqual(len(self.elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]), 1)
        other = self.elb.create_target_group(Name="other", Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="ip")
        other_arn = other["TargetGroups"][0]["TargetGroupArn"]
        self.assertEqual(self.code(lambda: self.listener(lb, 80, other_arn)), "DuplicateListener")
        second = self.listener(lb, 8080, tg)
        self.assertNotEqual(first["ListenerArn"], second["ListenerArn"])


if __name__ == "__main__":
    unittest.main()
