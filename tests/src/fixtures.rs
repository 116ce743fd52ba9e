//! Manifests and AWS look-ups the Service tests share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::TestContext;
use crate::moto::SeededNetwork;

/// A Cluster `web` (ECS name `cluster`) and a TaskDefinition `api` (family
/// `<prefix>-api`) for one container on port 3000.
pub fn cluster_and_task(ctx: &TestContext, cluster: &str, image: &str, network_mode: &str, compat: &str) -> String {
    let fargate = compat == "FARGATE";
    let family = format!("{}-api", ctx.prefix);
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: web}}
spec: {{clusterName: {cluster}{providers}}}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: api}}
spec:
  family: {family}
  networkMode: {network_mode}
  requiresCompatibilities: [{compat}]
{sizes}  containers:
    - name: api
      image: {image}
      memoryReservation: 128
{hard}      portMappings: [{{containerPort: 3000{host}}}]
",
        // moto is stricter than ECS here: with EC2 compatibility it wants a hard
        // memory limit even when memoryReservation is set.
        hard = if fargate { "" } else { "      memory: 256\n" },
        providers = if fargate { ", capacityProviders: [FARGATE]" } else { "" },
        sizes = if fargate { "  cpu: '256'\n  memory: '512'\n" } else { "" },
        host = if network_mode == "bridge" { ", hostPort: 0" } else { "" },
    )
}

pub async fn describe(ctx: &TestContext, cluster: &str, name: &str) -> Option<aws_sdk_ecs::types::Service> {
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let out = ecs.describe_services().cluster(cluster).services(name).send().await.ok()?;
    out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned()
}

/// An ALB and an HTTP listener answering 404, made outside the operator.
pub async fn existing_listener(ctx: &TestContext, net: &SeededNetwork, name: &str, port: i32) -> String {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum};
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let lb = elb
        .create_load_balancer()
        .name(format!("{}-{name}", ctx.prefix))
        .set_subnets(Some(net.subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    let not_found = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(FixedResponseActionConfig::builder().status_code("404").build())
        .build();
    let listener = elb
        .create_listener()
        .load_balancer_arn(lb.load_balancers()[0].load_balancer_arn().unwrap())
        .port(port)
        .protocol(ProtocolEnum::Http)
        .default_actions(not_found)
        .send()
        .await
        .unwrap();
    listener.listeners()[0].listener_arn().unwrap().to_string()
}

pub fn network(n: &SeededNetwork) -> String {
    format!(
        "  networkConfiguration: {{subnets: [{}], securityGroups: [{}]}}\n",
        n.subnet_ids.join(", "),
        n.security_group_id
    )
}

/// A Fargate Service `api` with 2 tasks on the Cluster `web` and the TaskDefinition
/// `api` (see [`cluster_and_task`]), on the seeded network, with `extra` spec lines.
pub fn fargate_service(net: &SeededNetwork, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  desiredCount: 2
  launchType: FARGATE
{net}{extra}",
        net = network(net)
    )
}
