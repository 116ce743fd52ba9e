"""Unit tests of autoscaling_moto: deleting what is not there is ObjectNotFoundException,
and deregistering a scalable target deletes its policies, as the API reference says.

Run with the moto virtual environment's Python: `python -m unittest discover -s tests/support`.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

import autoscaling_moto  # noqa: E402
import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

autoscaling_moto.install()
REGION = "us-east-1"
TARGET = {
    "ServiceNamespace": "ecs",
    "ResourceId": "service/bed/api",
    "ScalableDimension": "ecs:service:DesiredCount",
}


class DocumentedDeletesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.mock = mock_aws()
        self.mock.start()
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="bed")
        ecs.create_service(cluster="bed", serviceName="api", desiredCount=1)
        self.aas = boto3.client("application-autoscaling", region_name=REGION)
        self.aas.register_scalable_target(MinCapacity=1, MaxCapacity=3, **TARGET)

    def tearDown(self) -> None:
        self.mock.stop()

    def put_policy(self, name: str) -> None:
        config = {
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        }
        self.aas.put_scaling_policy(
            PolicyName=name, PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=config, **TARGET
        )

    def policy_names(self) -> list[str]:
        found = self.aas.describe_scaling_policies(**TARGET)["ScalingPolicies"]
        return [p["PolicyName"] for p in found]

    def code(self, call) -> str:
        with self.assertRaises(ClientError) as caught:
            call()
        return caught.exception.response["Error"]["Code"]

    def test_a_policy_deleted_twice_is_object_not_found_the_second_time(self) -> None:
        self.put_policy("api-cpu")
        self.aas.delete_scaling_policy(PolicyName="api-cpu", **TARGET)
        self.assertEqual(self.policy_names(), [])
        again = self.code(lambda: self.aas.delete_scaling_policy(PolicyName="api-cpu", **TARGET))
        self.assertEqual(again, "ObjectNotFoundException")

    def test_deregistering_a_target_deletes_its_policies_and_a_second_time_is_object_not_found(self) -> None:
        self.put_policy("api-cpu")
        self.put_policy("api-memory")
        self.aas.deregister_scalable_target(**TARGET)
        self.assertEqual(self.policy_names(), [])
        self.assertEqual(self.aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"], [])
        again = self.code(lambda: self.aas.deregister_scalable_target(**TARGET))
        self.assertEqual(again, "ObjectNotFoundException")
        gone = self.code(lambda: self.aas.delete_scaling_policy(PolicyName="api-cpu", **TARGET))
        self.assertEqual(gone, "ObjectNotFoundException")


if __name__ == "__main__":
    unittest.main()
