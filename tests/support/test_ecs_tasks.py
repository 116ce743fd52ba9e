"""Unit tests of the standalone task model against the documented behaviour it claims.

The first class drives the pure model (ecs_tasks_model.py) with a fake clock; the
second runs moto in-process (moto's mock_aws) with the bed installed and talks to it
through boto3 as any client would. Run with the moto virtual environment's Python:
`python -m unittest discover -s tests/support -p 'test_*.py'`.
"""

import json
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
import ecs_tasks_model as t  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

ecs_model_moto.install()
REGION = "us-east-1"
T0 = 1_800_000_000.0


def run(*containers: dict, overrides: dict | None = None, pace: float = 1.0, **labels) -> t.TaskRun:
    parts = [t.ContainerRun(c, overrides, pace, {}) for c in containers]
    return t.TaskRun("arn:task/1", "c", parts, T0, pace, **labels)


def container(image: str = "app:1", command: list | None = None, name: str = "app", essential: bool = True) -> dict:
    return {"name": name, "image": image, "command": command or [], "essential": essential}


class PureModelTest(unittest.TestCase):
    def states(self, task: t.TaskRun, seconds: list[float]) -> list[str]:
        out = []
        for s in seconds:
            task.advance(T0 + s)
            out.append(task.last_status)
        return out

    def test_a_task_is_pending_then_runs_two_steps_then_stops_with_exit_code_0(self):
        task = run(container())
        self.assertEqual((task.last_status, task.desired_status), ("PENDING", "RUNNING"))
        self.assertEqual(self.states(task, [0.5, 1, 2, 2.9, 3]), ["PENDING", "RUNNING", "RUNNING", "RUNNING", "STOPPED"])
        api = task.to_api()
        self.assertEqual((api["stopCode"], api["stoppedReason"]), ("EssentialContainerExited", "Essential container in task exited"))
        self.assertEqual(api["desiredStatus"], "STOPPED")
        self.assertEqual([api[k].timestamp() for k in ("createdAt", "startedAt", "stoppedAt")], [T0, T0 + 1, T0 + 3])
        self.assertEqual([(c["name"], c["lastStatus"], c["exitCode"]) for c in api["containers"]], [("app", "STOPPED", 0)])
        self.assertNotIn("reason", api["containers"][0])

    def test_run_seconds_round_up_to_whole_steps_of_the_pace(self):
        task = run(container(command=["sh", "-c", "migrate; bed-run-seconds=3"]), pace=0.5)
        task.advance(T0 + 0.5)
        self.assertEqual(task.last_status, "RUNNING")
        task.advance(T0 + 3.0)
        self.assertEqual(task.last_status, "RUNNING", "six steps of 0.5 s after the start")
        task.advance(T0 + 3.5)
        self.assertEqual(task.last_status, "STOPPED")
        self.assertEqual(task.to_api()["stoppedAt"].timestamp(), T0 + 3.5)
        self.assertEqual(run(container(command=["bed-run-seconds=1"]), pace=2.0).containers[0].run_steps, 1)

    def test_a_non_zero_exit_code_from_the_command_and_the_override_that_replaces_it(self):
        task = run(container(command=["bed-exit-code=3", "bed-run-seconds=1"]))
        task.advance(T0 + 10)
        api = task.to_api()
        self.assertEqual((api["containers"][0]["exitCode"], api["stopCode"]), (3, "EssentialContainerExited"))
        overrides = {"containerOverrides": [{"name": "app", "command": ["bed-exit-code=0"]}]}
        task = run(container(command=["bed-exit-code=3"]), overrides=overrides)
        task.advance(T0 + 10)
        self.assertEqual(task.containers[0].exit_code, 0, "the override's command, not the definition's")
        self.assertEqual(run(container(command=["xbed-exit-code=3"])).containers[0].planned_exit, 0, "a whole token only")

    def test_an_image_that_cannot_be_pulled_never_starts(self):
        task = run(container(image="registry.example/app:bed-nopull-1"))
        self.assertEqual(self.states(task, [1]), ["STOPPED"])
        api = task.to_api()
        self.assertEqual(api["stopCode"], "TaskFailedToStart")
        self.assertTrue(api["stoppedReason"].startswith("CannotPullContainerError:"), api["stoppedReason"])
        self.assertNotIn("startedAt", api)
        c = api["containers"][0]
        self.assertEqual(c["lastStatus"], "STOPPED")
        self.assertNotIn("exitCode", c)
        self.assertTrue(c["reason"].startswith("CannotPullContainerError:"))

    def test_a_failing_image_exits_with_1_as_it_starts(self):
        task = run(container(image="nginx:bed-fail"))
        self.assertEqual(self.states(task, [1]), ["STOPPED"])
        api = task.to_api()
        self.assertEqual((api["stopCode"], api["containers"][0]["exitCode"]), ("EssentialContainerExited", 1))
        self.assertEqual(api["startedAt"], api["stoppedAt"])

    def test_stop_while_running_is_user_initiated_and_kills_with_137_at_the_next_step(self):
        task = run(container(command=["bed-run-seconds=100"]))
        task.advance(T0 + 1)
        self.assertTrue(task.request_stop("migration cancelled", T0 + 1.2))
        api = task.to_api()
        self.assertEqual((api["lastStatus"], api["desiredStatus"], api["stopCode"]), ("RUNNING", "STOPPED", "UserInitiated"))
        self.assertEqual(api["stoppingAt"].timestamp(), T0 + 1.2)
        self.assertFalse(task.request_stop("again", T0 + 1.5), "a stopping task is left as it is")
        task.advance(T0 + 2)
        api = task.to_api()
        self.assertEqual((api["lastStatus"], api["stoppedReason"]), ("STOPPED", "migration cancelled"))
        self.assertEqual(api["containers"][0]["exitCode"], 137)

    def test_stop_while_pending_stops_without_exit_codes(self):
        task = run(container())
        task.request_stop(None, T0)
        task.advance(T0 + 1)
        api = task.to_api()
        self.assertEqual((api["lastStatus"], api["stopCode"], api["stoppedReason"]), ("STOPPED", "UserInitiated", "Task stopped by user"))
        self.assertNotIn("exitCode", api["containers"][0])

    def test_a_sidecar_exiting_leaves_the_task_running_the_essential_one_stops_it(self):
        task = run(container(command=["bed-run-seconds=5"]), container(name="side", command=["bed-run-seconds=1"], essential=False))
        task.advance(T0 + 3)
        self.assertEqual((task.last_status, task.containers[1].last_status), ("RUNNING", "STOPPED"))
        task = run(container(command=["bed-run-seconds=1"]), container(name="side", command=["bed-run-seconds=9"], essential=False))
        task.advance(T0 + 3)
        self.assertEqual(task.last_status, "STOPPED")
        self.assertEqual([c.exit_code for c in task.containers], [0, 137], "the sidecar is stopped with its task")

    def test_a_client_token_returns_the_first_answer_conflicts_on_other_parameters_and_expires(self):
        book = t.TaskBook()
        self.assertIsNone(book.recall("c", "tok", "p1", T0))
        book.remember("c", "tok", "p1", ["arn:1"], [], T0)
        self.assertEqual(book.recall("c", "tok", "p1", T0 + 60), (["arn:1"], []))
        self.assertIsNone(book.recall("other", "tok", "p1", T0), "a token is per cluster")
        with self.assertRaises(t.TokenConflict) as err:
            book.recall("c", "tok", "p2", T0)
        self.assertEqual(err.exception.arns, ["arn:1"])
        self.assertIsNone(book.recall("c", "tok", "p1", T0 + t.TOKEN_TTL_SECONDS), "24 hours later it is new")

    def test_list_filters_default_to_desired_status_running(self):
        task = run(container(), started_by="job-1", family="app")
        self.assertTrue(task.matches(started_by="job-1"))
        self.assertFalse(task.matches(started_by="job-2"))
        self.assertFalse(task.matches(desired_status="STOPPED"))
        task.request_stop(None, T0)
        self.assertFalse(task.matches(started_by="job-1"))
        self.assertTrue(task.matches(desired_status="STOPPED", started_by="job-1", family="app"))

    def test_resource_requirements_and_the_reason_an_instance_cannot_take_a_task(self):
        defs = [{"cpu": 256, "memory": 512, "portMappings": [{"containerPort": 80, "hostPort": 8080}]}, {"memoryReservation": 128}]
        need = t.requirements(None, None, defs, "bridge")
        self.assertEqual((need["CPU"], need["MEMORY"], need["PORTS"]), (256, 640, [8080]))
        task_level = t.requirements("0.5 vCPU", "1 GB", defs, "awsvpc")
        self.assertEqual((task_level["CPU"], task_level["MEMORY"], task_level["PORTS"]), (512, 1024, []))
        room = {"CPU": 4096, "MEMORY": 7482, "PORTS": ["22"]}
        self.assertIsNone(t.shortfall(room, need))
        self.assertEqual(t.shortfall({**room, "CPU": 100}, need), "RESOURCE:CPU")
        self.assertEqual(t.shortfall({**room, "MEMORY": 100}, need), "RESOURCE:MEMORY")
        self.assertEqual(t.shortfall({**room, "PORTS": ["8080"]}, need), "RESOURCE:PORTS")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class MotoTasksTest(unittest.TestCase):
    def setUp(self) -> None:
        self.mock = mock_aws()
        self.mock.start()
        self.clock = Clock()
        ecs_model.clock = self.clock
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.ecs.create_cluster(clusterName="c")
        vpc = self.ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        self.network = {"awsvpcConfiguration": {"subnets": [self.subnet], "assignPublicIp": "DISABLED"}}

    def tearDown(self) -> None:
        self.mock.stop()

    def fargate_td(self, command: list | None = None, image: str = "app:1") -> str:
        return self.ecs.register_task_definition(
            family="job", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "app", "image": image, "command": command or []}],
        )["taskDefinition"]["taskDefinitionArn"]

    def run_fargate(self, td: str, **extra) -> dict:
        return self.ecs.run_task(cluster="c", taskDefinition=td, launchType="FARGATE", networkConfiguration=self.network, **extra)

    def describe(self, arn: str, after: float = 0, **extra) -> dict:
        self.clock.now += after
        return self.ecs.describe_tasks(cluster="c", tasks=[arn], **extra)["tasks"][0]

    def join_instance(self) -> str:
        image = self.ec2.describe_images()["Images"][0]["ImageId"]
        instance = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        doc = json.dumps({"instanceId": instance["InstanceId"]})
        return self.ecs.register_container_instance(cluster="c", instanceIdentityDocument=doc)["containerInstance"]["containerInstanceArn"]

    def test_run_task_goes_pending_running_stopped_with_the_exit_code_of_the_command(self):
        out = self.run_fargate(self.fargate_td(["bed-run-seconds=2", "bed-exit-code=5"]), count=2, startedBy="job-1")
        self.assertEqual((len(out["tasks"]), out["failures"]), (2, []))
        first = out["tasks"][0]
        self.assertEqual((first["lastStatus"], first["desiredStatus"], first["startedBy"]), ("PENDING", "RUNNING", "job-1"))
        self.assertEqual(len(first["taskArn"].split("/")[-1]), 32)
        arn = first["taskArn"]
        self.assertEqual(self.describe(arn, 1)["lastStatus"], "RUNNING")
        self.assertEqual(self.ecs.describe_clusters(clusters=["c"])["clusters"][0]["runningTasksCount"], 2)
        self.assertEqual(self.describe(arn, 1)["lastStatus"], "RUNNING")
        task = self.describe(arn, 1)
        self.assertEqual((task["lastStatus"], task["stopCode"]), ("STOPPED", "EssentialContainerExited"))
        self.assertEqual([(c["name"], c["exitCode"]) for c in task["containers"]], [("app", 5)])
        eni = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "networkInterfaceId")
        enis = [e["NetworkInterfaceId"] for e in self.ec2.describe_network_interfaces()["NetworkInterfaces"]]
        self.assertNotIn(eni, enis, "a stopped task's interface is deleted")

    def test_a_retry_with_the_same_client_token_returns_the_same_tasks_and_starts_none(self):
        td = self.fargate_td()
        first = self.run_fargate(td, clientToken="retry-1", startedBy="job")
        self.clock.now += 1
        again = self.run_fargate(td, clientToken="retry-1", startedBy="job")
        self.assertEqual([x["taskArn"] for x in again["tasks"]], [x["taskArn"] for x in first["tasks"]])
        self.assertEqual(again["tasks"][0]["lastStatus"], "RUNNING", "the tasks as they are now")
        self.assertEqual(len(self.ecs.list_tasks(cluster="c", startedBy="job")["taskArns"]), 1)
        with self.assertRaises(ClientError) as err:
            self.run_fargate(td, clientToken="retry-1", startedBy="other")
        self.assertEqual(err.exception.response["Error"]["Code"], "ConflictException")
        self.assertEqual(err.exception.response["resourceIds"], [first["tasks"][0]["taskArn"]])
        self.assertEqual(len(self.run_fargate(td)["tasks"]), 1, "boto3 makes a new token for each call")

    def test_stop_task_is_user_initiated_the_container_exits_137_and_the_tags_go(self):
        out = self.run_fargate(self.fargate_td(["bed-run-seconds=60"]), startedBy="job", tags=[{"key": "k", "value": "v"}])
        arn = out["tasks"][0]["taskArn"]
        self.assertEqual(out["tasks"][0]["tags"], [{"key": "k", "value": "v"}])
        self.assertEqual(self.describe(arn, 1, include=["TAGS"])["tags"], [{"key": "k", "value": "v"}])
        stopped = self.ecs.stop_task(cluster="c", task=arn, reason="cancelled by the operator")["task"]
        self.assertEqual((stopped["lastStatus"], stopped["desiredStatus"], stopped["stopCode"]), ("RUNNING", "STOPPED", "UserInitiated"))
        self.assertEqual(self.ecs.list_tasks(cluster="c", startedBy="job")["taskArns"], [], "ListTasks defaults to RUNNING")
        self.assertEqual(self.ecs.list_tasks(cluster="c", startedBy="job", desiredStatus="STOPPED")["taskArns"], [arn])
        task = self.describe(arn, 1, include=["TAGS"])
        self.assertEqual((task["lastStatus"], task["stoppedReason"]), ("STOPPED", "cancelled by the operator"))
        self.assertEqual(task["containers"][0]["exitCode"], 137)
        self.assertEqual(task.get("tags", []), [])
        with self.assertRaises(ClientError) as err:
            self.ecs.stop_task(cluster="c", task="0" * 32)
        self.assertEqual(err.exception.response["Error"]["Code"], "InvalidParameterException")

    def test_a_failing_pull_and_an_unknown_task(self):
        arn = self.run_fargate(self.fargate_td(image="app:bed-nopull"))["tasks"][0]["taskArn"]
        task = self.describe(arn, 1)
        self.assertEqual((task["lastStatus"], task["stopCode"]), ("STOPPED", "TaskFailedToStart"))
        self.assertTrue(task["stoppedReason"].startswith("CannotPullContainerError:"))
        self.assertNotIn("exitCode", task["containers"][0])
        out = self.ecs.describe_tasks(cluster="c", tasks=[arn, "f" * 32])
        self.assertEqual(len(out["tasks"]), 1)
        self.assertEqual(out["failures"], [{"arn": f"arn:aws:ecs:{REGION}:123456789012:task/c/{'f' * 32}", "reason": "MISSING"}])
        self.ecs.create_cluster(clusterName="d")
        self.assertEqual(self.ecs.describe_tasks(cluster="d", tasks=[arn])["failures"][0]["reason"], "MISSING")

    def test_ec2_capacity_failures_come_back_in_failures_and_stopping_frees_the_room(self):
        td = self.ecs.register_task_definition(
            family="big", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 4000, "command": ["bed-run-seconds=1"]}]
        )["taskDefinition"]["taskDefinitionArn"]
        with self.assertRaises(ClientError) as err:
            self.ecs.run_task(cluster="c", taskDefinition=td, launchType="EC2")
        self.assertEqual(err.exception.response["Error"]["Code"], "InvalidParameterException")
        self.assertEqual(err.exception.response["Error"]["Message"], "No Container Instances were found in your cluster.")
        instance = self.join_instance()
        out = self.ecs.run_task(cluster="c", taskDefinition=td, launchType="EC2", count=2)
        self.assertEqual(len(out["tasks"]), 1, "7482 MiB take one task of 4000")
        self.assertEqual(out["tasks"][0]["containerInstanceArn"], instance)
        self.assertEqual(out["failures"], [{"arn": instance, "reason": "RESOURCE:MEMORY"}])
        self.assertEqual(self.ecs.run_task(cluster="c", taskDefinition=td)["tasks"], [], "EC2 is the default")
        self.clock.now += 2
        self.assertEqual(self.describe(out["tasks"][0]["taskArn"])["lastStatus"], "STOPPED")
        self.assertEqual(len(self.ecs.run_task(cluster="c", taskDefinition=td)["tasks"]), 1, "the stopped task gave its memory back")

    def test_parameter_errors_stay_exceptions(self):
        td = self.fargate_td()
        cases = [
            (dict(cluster="none", taskDefinition=td), "ClusterNotFoundException"),
            (dict(cluster="c", taskDefinition=td, launchType="FARGATE"), "InvalidParameterException"),
            (dict(cluster="c", taskDefinition=td, launchType="FARGATE", networkConfiguration=self.network, count=11), "InvalidParameterException"),
        ]
        for kwargs, code in cases:
            with self.assertRaises(ClientError) as err:
                self.ecs.run_task(**kwargs)
            self.assertEqual(err.exception.response["Error"]["Code"], code, kwargs)
        self.ecs.deregister_task_definition(taskDefinition=td)
        with self.assertRaises(ClientError) as err:
            self.run_fargate(td)
        self.assertEqual(err.exception.response["Error"]["Code"], "ClientException")

    def test_list_tasks_filters_by_started_by_family_and_desired_status_and_pages(self):
        td = self.fargate_td(["bed-run-seconds=60"])
        mine = [x["taskArn"] for x in self.run_fargate(td, count=3, startedBy="job-a")["tasks"]]
        other = self.run_fargate(td, startedBy="job-b")["tasks"][0]["taskArn"]
        self.assertEqual(sorted(self.ecs.list_tasks(cluster="c", startedBy="job-a")["taskArns"]), sorted(mine))
        self.assertEqual(len(self.ecs.list_tasks(cluster="c", family="job")["taskArns"]), 4)
        self.assertEqual(self.ecs.list_tasks(cluster="c", desiredStatus="PENDING")["taskArns"], [])
        page = self.ecs.list_tasks(cluster="c", maxResults=3)
        rest = self.ecs.list_tasks(cluster="c", maxResults=3, nextToken=page["nextToken"])
        self.assertEqual(sorted(page["taskArns"] + rest["taskArns"]), sorted(mine + [other]))
        self.ecs.create_cluster(clusterName="cc")
        self.assertEqual(self.ecs.list_tasks(cluster="cc")["taskArns"], [], "only the cluster's own tasks")

    def test_delete_cluster_waits_for_its_tasks_and_services_still_run_as_before(self):
        arn = self.run_fargate(self.fargate_td(["bed-run-seconds=60"]))["tasks"][0]["taskArn"]
        svc_td = self.ecs.register_task_definition(family="web", containerDefinitions=[{"name": "w", "image": "nginx:1", "memory": 64}])
        self.ecs.create_service(cluster="c", serviceName="s", taskDefinition=svc_td["taskDefinition"]["taskDefinitionArn"], desiredCount=2)
        self.clock.now += 2
        cluster = self.ecs.describe_clusters(clusters=["c"])["clusters"][0]
        self.assertEqual(cluster["runningTasksCount"], 3, "two service tasks and one standalone task")
        self.assertEqual(self.ecs.describe_services(cluster="c", services=["s"])["services"][0]["runningCount"], 2)
        self.ecs.delete_service(cluster="c", service="s", force=True)
        self.clock.now += 2
        with self.assertRaises(ClientError) as err:
            self.ecs.delete_cluster(cluster="c")
        self.assertEqual(err.exception.response["Error"]["Code"], "ClusterContainsTasksException")
        self.ecs.stop_task(cluster="c", task=arn)
        self.clock.now += 1
        self.ecs.delete_cluster(cluster="c")


if __name__ == "__main__":
    unittest.main()
