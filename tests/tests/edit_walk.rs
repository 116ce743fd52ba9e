//! A model-based walk through edits: a seeded generator applies valid edits to two
//! Clusters, two TaskDefinitions and two Services (cluster and task definition
//! references, load balancer mode, listener, port, autoscaling, tags, image, create
//! and delete), one at a time. After each step converges, the inventory of AWS
//! resources carrying this test's ownership tags must equal what a pure function of
//! the current specs says: no orphan, no duplicate, no rule forwarding to a target
//! group nobody owns. After the walk everything is deleted and the inventory is empty.
//!
//! `ECS_OPERATOR_WALK_SEED` replays a walk; `ECS_OPERATOR_WALK_STEPS` makes it longer
//! (default 40).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::fixtures::{existing_listener, network};
use ecs_operator_tests::inventory::inventory;
use ecs_operator_tests::moto::SeededNetwork;
use ecs_operator_tests::{TestContext, eventually};
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*): the walk must replay from its
/// seed alone, and it needs nothing more than uniform choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lb {
    None,
    /// A rule on one of the two shared listeners.
    Rule(usize),
    /// A created load balancer with a listener on this port.
    Create(i32),
}

#[derive(Debug, Clone, PartialEq)]
struct Svc {
    cluster: usize,
    task: usize,
    lb: Lb,
    /// 0: none, 1: CPU, 2: CPU and memory.
    autoscaling: u8,
    propagate: bool,
    tag: u64,
}

#[derive(Debug, Clone)]
struct Model {
    services: BTreeMap<&'static str, Option<Svc>>,
    images: [u64; 2],
}

const SERVICES: [&str; 2] = ["alpha", "beta"];

fn random_lb(rng: &mut Rng) -> Lb {
    match rng.below(5) {
        0 => Lb::None,
        1 => Lb::Rule(0),
        2 => Lb::Rule(1),
        3 => Lb::Create(80),
        _ => Lb::Create(8080),
    }
}

fn random_service(rng: &mut Rng) -> Svc {
    Svc {
        cluster: rng.below(2) as usize,
        task: rng.below(2) as usize,
        lb: random_lb(rng),
        autoscaling: rng.below(3) as u8,
        propagate: rng.below(2) == 0,
        tag: rng.below(1000),
    }
}

/// One valid edit, described for the log.
fn edit(model: &mut Model, rng: &mut Rng) -> String {
    let name = SERVICES[rng.below(2) as usize];
    let slot = model.services.get_mut(name).unwrap();
    let Some(s) = slot.as_mut() else {
        *slot = Some(random_service(rng));
        return format!("create {name}: {:?}", slot.as_ref().unwrap());
    };
    match rng.below(8) {
        0 => {
            *slot = None;
            format!("delete {name}")
        }
        1 => {
            s.cluster = 1 - s.cluster;
            format!("{name}: move to cluster {}", s.cluster)
        }
        2 => {
            s.task = 1 - s.task;
            format!("{name}: task definition {}", s.task)
        }
        3 | 4 => {
            s.lb = random_lb(rng);
            format!("{name}: load balancer {:?}", s.lb)
        }
        5 => {
            s.autoscaling = rng.below(3) as u8;
            format!("{name}: autoscaling {}", s.autoscaling)
        }
        6 => {
            s.propagate = !s.propagate;
            s.tag = rng.below(1000);
            format!("{name}: propagateTags {} and tag {}", s.propagate, s.tag)
        }
        _ => {
            let t = rng.below(2) as usize;
            model.images[t] += 1;
            format!("task definition {t}: image {}", model.images[t])
        }
    }
}

struct World {
    ctx: TestContext,
    net: SeededNetwork,
    listeners: [String; 2],
}

impl World {
    fn cluster(&self, i: usize) -> String {
        format!("{}-c{i}", self.ctx.prefix)
    }

    fn base(&self, model: &Model) -> String {
        let mut out = String::new();
        for i in 0..2 {
            out += &format!(
                "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: c{i}}}
spec: {{clusterName: {}, capacityProviders: [FARGATE]}}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: t{i}}}
spec:
  family: {p}-t{i}
  networkMode: awsvpc
  requiresCompatibilities: [FARGATE]
  revisionHistoryLimit: 0
  cpu: '256'
  memory: '512'
  containers:
    - name: api
      image: nginx:{image}
      portMappings: [{{containerPort: 3000}}]
---
",
                self.cluster(i),
                p = self.ctx.prefix,
                image = model.images[i],
            );
        }
        out
    }

    fn service(&self, name: &str, s: &Svc) -> String {
        let priority = if name == "alpha" { 10 } else { 20 };
        let lb = match &s.lb {
            Lb::None => String::new(),
            Lb::Rule(l) => format!(
                "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    listenerArn: {}
    rule: {{priority: {priority}, pathPatterns: ['/{name}/*']}}
",
                self.listeners[*l]
            ),
            Lb::Create(port) => format!(
                "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    rule: {{priority: {priority}, pathPatterns: ['/{name}/*']}}
    create:
      scheme: internet-facing
      subnets: [{}]
      listener: {{port: {port}}}
",
                self.net.subnet_ids.join(", ")
            ),
        };
        let count = match s.autoscaling {
            0 => "  desiredCount: 2\n".to_string(),
            1 => "  autoscaling: {minCapacity: 2, maxCapacity: 4, targetCpuUtilization: 60}\n".to_string(),
            _ => "  autoscaling: {minCapacity: 2, maxCapacity: 4, targetCpuUtilization: 60, targetMemoryUtilization: 70}\n"
                .to_string(),
        };
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec:
  clusterRef: {{name: c{}}}
  taskDefinitionRef: {{name: t{}}}
  launchType: FARGATE
  tags: {{walk: 'v{}'}}
{}{count}{net}{lb}---
",
            s.cluster,
            s.task,
            s.tag,
            if s.propagate { "  propagateTags: SERVICE\n" } else { "" },
            net = network(&self.net),
        )
    }

    /// What AWS should hold for `model`, described one resource a line.
    fn expected(&self, model: &Model) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for i in 0..2 {
            out.insert(format!("cluster {}", self.cluster(i)));
        }
        for (name, s) in model.services.iter().filter_map(|(n, s)| s.as_ref().map(|s| (n, s))) {
            let cluster = self.cluster(s.cluster);
            out.insert(format!("service {cluster}/{name}"));
            if s.lb != Lb::None {
                out.insert(format!("target group of {name}"));
            }
            match &s.lb {
                Lb::None => {}
                Lb::Rule(l) => {
                    out.insert(format!("rule on shared listener {l} to {name}"));
                }
                Lb::Create(port) => {
                    out.insert(format!("load balancer of {name}"));
                    out.insert(format!("listener of {name} on {port}"));
                    out.insert(format!("rule on the listener of {name} to {name}"));
                }
            }
            if s.autoscaling > 0 {
                out.insert(format!("scalable target service/{cluster}/{name}"));
                out.insert(format!("policy {name}-cpu"));
            }
            if s.autoscaling > 1 {
                out.insert(format!("policy {name}-memory"));
            }
        }
        out
    }

    /// What AWS holds of this test's resources, in the same words as `expected`.
    async fn inventory(&self) -> Result<BTreeSet<String>, String> {
        let shared: Vec<(String, String)> =
            self.listeners.iter().enumerate().map(|(i, l)| (l.clone(), format!("shared listener {i}"))).collect();
        inventory(&self.ctx, &[self.cluster(0), self.cluster(1)], &shared).await
    }

    /// Every ACTIVE revision of the two families is a TaskDefinition's current one
    /// or one a Service's status names.
    async fn revisions_in_use_only(&self) -> Result<(), String> {
        let ecs = aws_sdk_ecs::Client::new(&self.ctx.aws);
        let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace);
        let tds: Api<ecs_operator::crd::TaskDefinition> = Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace);
        let mut used: BTreeSet<String> = BTreeSet::new();
        for s in services.list(&Default::default()).await.map_err(|x| x.to_string())? {
            let st = s.status.unwrap_or_default();
            used.extend(st.task_definition_arn);
            used.extend(st.deployments.into_iter().map(|d| d.task_definition));
        }
        for t in tds.list(&Default::default()).await.map_err(|x| x.to_string())? {
            used.extend(t.status.and_then(|s| s.arn));
        }
        for i in 0..2 {
            let family = format!("{}-t{i}", self.ctx.prefix);
            let active = ecs
                .list_task_definitions()
                .family_prefix(&family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .send()
                .await
                .map_err(|x| x.to_string())?;
            for arn in active.task_definition_arns() {
                if !used.contains(arn) {
                    return Err(format!("{arn} is ACTIVE but neither current nor used"));
                }
            }
        }
        Ok(())
    }

    async fn converge(&self, model: &Model, seed: u64, step: usize, what: &str) {
        let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace);
        for (name, s) in &model.services {
            if s.is_some() {
                wait_converged(&services, name).await;
            }
        }
        let expected = self.expected(model);
        eventually(Duration::from_secs(90), &format!("seed {seed}, step {step} ({what}): inventory"), || async {
            let have = self.inventory().await?;
            if have != expected {
                let missing: Vec<_> = expected.difference(&have).collect();
                let extra: Vec<_> = have.difference(&expected).collect();
                return Err(format!("missing {missing:?}, left behind {extra:?}"));
            }
            self.revisions_in_use_only().await
        })
        .await;
    }

    fn apply(&self, model: &Model) {
        let mut yaml = self.base(model);
        for (name, s) in &model.services {
            match s {
                Some(s) => yaml += &self.service(name, s),
                None => {
                    self.ctx
                        .kubectl_ok(&["delete", &format!("ecssvc/{name}"), "--ignore-not-found", "--timeout=90s"])
                        .unwrap();
                }
            }
        }
        self.ctx.apply_ok(&yaml).unwrap();
    }
}

#[tokio::test]
async fn any_sequence_of_edits_leaves_exactly_what_the_specs_describe() {
    let seed: u64 = std::env::var("ECS_OPERATOR_WALK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    });
    let steps: usize = std::env::var("ECS_OPERATOR_WALK_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    eprintln!("edit walk: seed {seed}, {steps} steps (replay with ECS_OPERATOR_WALK_SEED={seed})");
    let started = Instant::now();
    let ctx = TestContext::new("edit-walk").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let listeners = [existing_listener(&ctx, &net, "l0", 80).await, existing_listener(&ctx, &net, "l1", 80).await];
    let world = World { ctx, net, listeners };
    let mut rng = Rng(seed);
    let mut model = Model { services: SERVICES.iter().map(|s| (*s, None)).collect(), images: [1, 1] };
    world.apply(&model);
    world.converge(&model, seed, 0, "start").await;
    for step in 1..=steps {
        let what = edit(&mut model, &mut rng);
        eprintln!("edit walk step {step}: {what}");
        world.apply(&model);
        world.converge(&model, seed, step, &what).await;
    }
    // Delete everything: nothing of this test may remain.
    for kind in ["ecssvc", "taskdef", "ecscluster"] {
        world.ctx.kubectl_ok(&["delete", kind, "--all", "--timeout=120s"]).unwrap();
    }
    let have = world.inventory().await.unwrap();
    assert!(have.is_empty(), "seed {seed}: left behind after deleting everything: {have:?}");
    // Every AWS operation the walk made is one the documented IAM policy allows.
    let denied = ecs_operator_tests::iam::not_allowed(&op.metrics().unwrap()).unwrap();
    assert!(denied.is_empty(), "operations missing from docs/iam-policy.json: {denied:?}");
    eprintln!("edit walk: seed {seed}, {steps} steps passed in {:.0?}", started.elapsed());
}
