"""Unit tests of the ECS scheduler model against the documented behaviour it claims.

They run moto in-process (moto's mock_aws) with the model installed and a fake clock,
and talk to it through boto3 as any client would. Run with the moto virtual
environment's Python: `python -m unittest discover -s tests/support`.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["ECS_BED_STEP_SECONDS"] = "1"

import boto3  # noqa: E402
import ecs_model  # noqa: E402
import ecs_model_moto  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

ecs_model_moto.install()
REGION = "us-east-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class ModelTest(unittest.TestCase):
    def setUp(self) -> None:
        self.mock = mock_aws()
        self.mock.start()
        self.clock = Clock()
        ecs_model.clock = self.clock
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.ecs.create_cluster(clusterName="c")

    def tearDown(self) -> None:
        self.mock.stop()

    def td(self, image: str, family: str = "app") -> str:
        out = self.ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "app", "image": image, "memory": 128}]
        )
        return out["taskDefinition"]["taskDefinitionArn"]

    def create(self, desired: int = 2, **extra) -> dict:
        return self.ecs.create_service(
            cluster="c", serviceName="s", taskDefinition=self.td("nginx:1"), desiredCount=desired, **extra
        )["service"]

    def after(self, seconds: float) -> dict:
        self.clock.now += seconds
        return self.ecs.describe_services(cluster="c", services=["s"])["services"][0]

    def messages(self, service: dict) -> list:
        return [e["message"] for e in service["events"]]

    def test_create_starts_an_in_progress_primary_that_completes_when_all_tasks_run(self):
        created = self.create(desired=3)
        self.assertEqual(len(created["deployments"]), 1)
        primary = created["deployments"][0]
        self.assertEqual((primary["status"], primary["rolloutState"]), ("PRIMARY", "IN_PROGRESS"))
        self.assertEqual((created["runningCount"], created["pendingCount"]), (0, 0))
        s = self.after(1)
        self.assertEqual((s["runningCount"], s["pendingCount"]), (0, 3), "launched tasks are PENDING first")
        self.assertIn("(service s) has started 3 tasks:", s["events"][0]["message"])
        s = self.after(1)
        self.assertEqual((s["runningCount"], s["pendingCount"]), (3, 0))
        d = s["deployments"][0]
        self.assertEqual((d["rolloutState"], d["rolloutStateReason"]), ("COMPLETED", f"ECS deployment {d['id']} completed."))
        self.assertEqual(s["events"][0]["message"], "(service s) has reached a steady state.")
        self.assertEqual(d["id"], primary["id"])

    def test_a_new_task_definition_makes_a_new_primary_and_the_old_one_drains_then_goes(self):
        self.create(desired=2)
        first = self.after(2)["deployments"][0]
        td2 = self.td("nginx:2")
        updated = self.ecs.update_service(cluster="c", service="s", taskDefinition=td2)["service"]
        self.assertEqual([d["status"] for d in updated["deployments"]], ["PRIMARY", "ACTIVE"])
        self.assertEqual(updated["deployments"][1]["id"], first["id"])
        self.assertEqual(updated["taskDefinition"], td2)
        seen_both_running = False
        for _ in range(6):
            s = self.after(1)
            if len(s["deployments"]) == 2 and s["deployments"][1]["runningCount"] > 0 and s["deployments"][0]["runningCount"] > 0:
                seen_both_running = True
        self.assertTrue(seen_both_running, "minimumHealthyPercent 100: old tasks run until new ones do")
        self.assertEqual(len(s["deployments"]), 1, "the drained deployment leaves the list")
        self.assertEqual((s["deployments"][0]["taskDefinition"], s["deployments"][0]["rolloutState"]), (td2, "COMPLETED"))
        self.assertEqual(s["runningCount"], 2)

    def test_a_desired_count_change_scales_the_primary_without_a_new_deployment(self):
        self.create(desired=1)
        before = self.after(2)["deployments"][0]["id"]
        s = self.ecs.update_service(cluster="c", service="s", desiredCount=5)["service"]
        self.assertEqual(s["runningCount"], 1, "moto's jump to the desired count is gone")
        s = self.after(2)
        self.assertEqual([d["id"] for d in s["deployments"]], [before])
        self.assertEqual((s["desiredCount"], s["runningCount"]), (5, 5))
        self.ecs.update_service(cluster="c", service="s", desiredCount=0)
        s = self.after(1)
        self.assertEqual(s["runningCount"], 0)
        self.assertIn("has stopped 5 running tasks", " ".join(self.messages(s)))

    def test_force_new_deployment_makes_a_new_deployment_of_the_same_revision(self):
        self.create(desired=1)
        before = self.after(2)["deployments"][0]
        s = self.ecs.update_service(cluster="c", service="s", forceNewDeployment=True)["service"]
        self.assertEqual([d["status"] for d in s["deployments"]], ["PRIMARY", "ACTIVE"])
        self.assertNotEqual(s["deployments"][0]["id"], before["id"])
        self.assertEqual(s["deployments"][0]["taskDefinition"], before["taskDefinition"])

    def test_a_failing_image_with_circuit_breaker_and_rollback_fails_then_returns_to_the_last_completed(self):
        breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200, "minimumHealthyPercent": 100}
        self.create(desired=2, deploymentConfiguration=breaker)
        good = self.after(2)["deployments"][0]
        bad_td = self.td("nginx:bed-fail")
        self.ecs.update_service(cluster="c", service="s", taskDefinition=bad_td)
        failed = None
        for _ in range(12):
            s = self.after(1)
            failed = next((d for d in s["deployments"] if d["rolloutState"] == "FAILED"), None)
            if failed:
                break
        self.assertIsNotNone(failed)
        # The threshold for 2 desired tasks is the minimum, 3.
        self.assertGreaterEqual(failed["failedTasks"], ecs_model.failure_threshold(2))
        self.assertEqual(ecs_model.failure_threshold(2), 3)
        self.assertEqual(failed["rolloutStateReason"], "ECS deployment circuit breaker: tasks failed to start.")
        self.assertEqual(failed["status"], "ACTIVE", "the rollback deployment is the PRIMARY now")
        self.assertEqual(s["taskDefinition"], good["taskDefinition"])
        text = self.messages(s)
        self.assertIn(f"(service s) (deployment {failed['id']}) deployment failed: tasks failed to start.", text)
        self.assertIn(f"(service s) (deployment {failed['id']}) rolling back to deployment {good['id']}.", text)
        self.assertTrue(any("Essential container in task exited" in t for t in text))
        for _ in range(6):
            s = self.after(1)
        self.assertEqual(len(s["deployments"]), 1)
        self.assertEqual((s["deployments"][0]["taskDefinition"], s["deployments"][0]["rolloutState"]), (good["taskDefinition"], "COMPLETED"))
        self.assertEqual(s["runningCount"], 2, "the old tasks never stopped below the healthy floor")
        arn = s["serviceArn"]
        listed = self.ecs.list_service_deployments(cluster="c", service=arn)["serviceDeployments"]
        self.assertIn("ROLLBACK_SUCCESSFUL", [d["status"] for d in listed])

    def test_a_failing_image_without_circuit_breaker_keeps_trying(self):
        self.create(desired=1)
        self.after(2)
        self.ecs.update_service(cluster="c", service="s", taskDefinition=self.td("nginx:bed-fail"))
        s = self.after(8)
        primary = s["deployments"][0]
        self.assertEqual(primary["rolloutState"], "IN_PROGRESS")
        self.assertGreaterEqual(primary["failedTasks"], 3)
        self.assertEqual(s["runningCount"], 1, "the old task keeps serving")

    def test_the_circuit_breaker_threshold_is_half_the_desired_count_between_3_and_200(self):
        self.assertEqual([ecs_model.failure_threshold(n) for n in (0, 1, 6, 7, 10, 1000)], [3, 3, 3, 4, 5, 200])

    def test_daemon_services_want_one_task_per_active_container_instance(self):
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instances = ec2.run_instances(ImageId=image, MinCount=3, MaxCount=3)["Instances"]
        import json

        arns = []
        for instance in instances:
            doc = json.dumps({"instanceId": instance["InstanceId"]})
            arns.append(self.ecs.register_container_instance(cluster="c", instanceIdentityDocument=doc)["containerInstance"]["containerInstanceArn"])
        self.ecs.create_service(cluster="c", serviceName="s", taskDefinition=self.td("agent:1"), schedulingStrategy="DAEMON")
        s = self.after(2)
        self.assertEqual((s["desiredCount"], s["runningCount"]), (3, 3))
        self.ecs.deregister_container_instance(cluster="c", containerInstance=arns[0], force=True)
        s = self.after(1)
        self.assertEqual((s["desiredCount"], s["runningCount"]), (2, 2))

    def test_placement_deployment_configuration_and_capacity_providers_are_kept(self):
        created = self.create(
            desired=1,
            placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
            placementConstraints=[{"type": "distinctInstance"}],
            deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50},
            capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            healthCheckGracePeriodSeconds=30,
            enableECSManagedTags=True,
            enableExecuteCommand=True,
        )
        for s in (created, self.after(1)):
            self.assertEqual(s["placementStrategy"], [{"type": "spread", "field": "attribute:ecs.availability-zone"}])
            self.assertEqual(s["placementConstraints"], [{"type": "distinctInstance"}])
            self.assertEqual(s["deploymentConfiguration"]["maximumPercent"], 150)
            self.assertEqual(s["capacityProviderStrategy"][0]["capacityProvider"], "FARGATE")
            self.assertEqual(s["healthCheckGracePeriodSeconds"], 30)
            self.assertEqual((s["enableECSManagedTags"], s["enableExecuteCommand"]), (True, True))

    def test_delete_cluster_with_services_and_delete_service_above_zero_fail_as_ecs_does(self):
        self.create(desired=2)
        self.after(2)
        with self.assertRaises(ClientError) as err:
            self.ecs.delete_cluster(cluster="c")
        self.assertEqual(err.exception.response["Error"]["Code"], "ClusterContainsServicesException")
        with self.assertRaises(ClientError) as err:
            self.ecs.delete_service(cluster="c", service="s")
        self.assertEqual(err.exception.response["Error"]["Code"], "InvalidParameterException")
        deleted = self.ecs.delete_service(cluster="c", service="s", force=True)["service"]
        self.assertEqual(deleted["status"], "DRAINING")
        self.assertEqual(self.ecs.list_services(cluster="c")["serviceArns"], [deleted["serviceArn"]])
        with self.assertRaises(ClientError) as err:
            self.ecs.update_service(cluster="c", service="s", desiredCount=1)
        self.assertEqual(err.exception.response["Error"]["Code"], "ServiceNotActiveException")
        s = self.after(1)
        self.assertEqual((s["status"], s["runningCount"]), ("DRAINING", 0))
        s = self.after(1)
        self.assertEqual(s["status"], "INACTIVE")
        self.assertEqual(self.ecs.list_services(cluster="c")["serviceArns"], [])
        self.ecs.delete_cluster(cluster="c")

    def test_create_on_a_taken_name_is_answered_for_its_own_token_and_fails_otherwise(self):
        td = self.td("nginx:1")

        def create(**extra) -> dict:
            return self.ecs.create_service(cluster="c", serviceName="s", taskDefinition=td, desiredCount=1, **extra)[
                "service"
            ]

        first = create(clientToken="token-1")
        again = create(clientToken="token-1")
        self.assertEqual(again["serviceArn"], first["serviceArn"])
        self.assertEqual(again["deployments"], first["deployments"], "the same service, not a new one")
        for extra in ({"clientToken": "token-2"}, {}):
            with self.assertRaises(ClientError) as err:
                create(**extra)
            self.assertEqual(err.exception.response["Error"]["Code"], "InvalidParameterException")
            self.assertIn("not idempotent", err.exception.response["Error"]["Message"])
        # DRAINING still holds the name, even for the token that made it.
        self.ecs.delete_service(cluster="c", service="s", force=True)
        with self.assertRaises(ClientError) as err:
            create(clientToken="token-1")
        self.assertEqual(err.exception.response["Error"]["Code"], "InvalidParameterException")
        # INACTIVE frees it.
        self.after(1)
        self.assertEqual(self.after(1)["status"], "INACTIVE")
        created = create(clientToken="token-3")
        self.assertEqual(created["status"], "ACTIVE")

    def test_events_have_ids_and_times_newest_first_and_are_capped_at_100(self):
        self.create(desired=1)
        for n in range(120):
            self.ecs.update_service(cluster="c", service="s", desiredCount=1 + n % 2)
            s = self.after(1)
        events = s["events"]
        self.assertEqual(len(events), 100)
        self.assertEqual(len({e["id"] for e in events}), 100)
        times = [e["createdAt"] for e in events]
        self.assertEqual(times, sorted(times, reverse=True))

    def test_a_blue_green_deployment_walks_the_lifecycle_stages(self):
        config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 2}
        self.create(desired=2, deploymentConfiguration=config)
        s = self.after(20)
        self.assertEqual(s["deployments"][0]["rolloutState"], "COMPLETED")
        self.ecs.update_service(cluster="c", service="s", taskDefinition=self.td("nginx:2"))
        arn = self.ecs.list_service_deployments(cluster="c", service="s")["serviceDeployments"][0]["serviceDeploymentArn"]
        stages = []
        for _ in range(20):
            d = self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
            if not stages or stages[-1] != d["lifecycleStage"]:
                stages.append(d["lifecycleStage"])
            self.clock.now += 1
        self.assertEqual(stages, list(ecs_model.BLUE_GREEN_STAGES))
        self.assertEqual(d["status"], "SUCCESSFUL")
        s = self.after(0)
        self.assertEqual((len(s["deployments"]), s["runningCount"]), (1, 2))

    def test_running_tasks_are_the_healthy_targets_of_the_services_target_group(self):
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        elb = boto3.client("elbv2", region_name=REGION)
        tg = elb.create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
        arn = tg["TargetGroups"][0]["TargetGroupArn"]

        def states():
            return sorted(t["TargetHealth"]["State"] for t in elb.describe_target_health(TargetGroupArn=arn)[
                "TargetHealthDescriptions"])

        lbs = [{"targetGroupArn": arn, "containerName": "app", "containerPort": 8080}]
        self.create(desired=2, loadBalancers=lbs)
        self.assertEqual(states(), [], "nothing runs yet")
        s = self.after(2)
        self.assertEqual(s["runningCount"], 2)
        self.assertEqual(states(), ["healthy", "healthy"])
        ports = {t["Target"]["Port"] for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}
        self.assertEqual(ports, {8080})
        self.ecs.update_service(cluster="c", service="s", desiredCount=1)
        self.after(1)
        self.assertEqual(states(), ["healthy"], "a stopped task is deregistered")
        self.ecs.delete_service(cluster="c", service="s", force=True)
        self.after(1)
        self.assertEqual(states(), [], "a deleted service's tasks are deregistered")

    def test_deregistering_a_missing_scalable_target_is_object_not_found(self):
        aas = boto3.client("application-autoscaling", region_name=REGION)
        with self.assertRaises(ClientError) as err:
            aas.deregister_scalable_target(
                ServiceNamespace="ecs", ResourceId="service/c/none", ScalableDimension="ecs:service:DesiredCount"
            )
        self.assertEqual(err.exception.response["Error"]["Code"], "ObjectNotFoundException")


if __name__ == "__main__":
    unittest.main()
