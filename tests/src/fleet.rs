//! A fleet of Services behind load balancers, for the fault, kill and restart
//! tests: one Cluster and one TaskDefinition, each Service either without a load
//! balancer, with a rule on a listener shared by the fleet (made outside the
//! operator), or with a load balancer of its own. What AWS must hold for a fleet is
//! a pure function of its specs, in the words of `inventory`.

use crate::fixtures::{existing_listener, network};
use crate::inventory::inventory;
use crate::moto::SeededNetwork;
use crate::{TestContext, conditions, eventually};
use ecs_operator::crd::Service;
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How a Service reaches its load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lb {
    None,
    /// A rule on the fleet's shared listener.
    SharedRule,
    /// A load balancer, listener and rule of its own.
    Own,
}

/// One Service of the fleet, as its spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub lb: Lb,
    pub desired: u32,
    /// A tag value, changed by edits.
    pub tag: u32,
}

/// The fleet's Services by name (`s00`, `s01`, ...); `None` once deleted.
pub type Specs = BTreeMap<String, Option<Member>>;

/// A fleet in one test's namespace.
pub struct Fleet<'a> {
    pub ctx: &'a TestContext,
    pub net: SeededNetwork,
    pub listener: String,
}

impl std::fmt::Debug for Fleet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("namespace", &self.ctx.namespace).field("listener", &self.listener).finish()
    }
}

impl<'a> Fleet<'a> {
    /// Seeds the network and the shared listener.
    pub async fn new(ctx: &'a TestContext) -> Result<Self, String> {
        let net = ctx.bed.seed_network(&ctx.prefix).map_err(|e| e.to_string())?;
        let listener = existing_listener(ctx, &net, "shared", 80).await;
        Ok(Self { ctx, net, listener })
    }

    pub fn cluster(&self) -> String {
        format!("{}-fleet", self.ctx.prefix)
    }

    /// `n` Services: every fifth with a load balancer of its own, the others with
    /// a rule on the shared listener.
    pub fn specs(n: usize) -> Specs {
        (0..n)
            .map(|i| {
                let lb = if i.is_multiple_of(5) { Lb::Own } else { Lb::SharedRule };
                (format!("s{i:02}"), Some(Member { lb, desired: 1, tag: 0 }))
            })
            .collect()
    }

    /// The Cluster and TaskDefinition.
    pub fn base(&self) -> String {
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: fleet}}
spec: {{clusterName: {cluster}, capacityProviders: [FARGATE]}}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: fleet}}
spec:
  family: {p}-fleet
  networkMode: awsvpc
  requiresCompatibilities: [FARGATE]
  cpu: '256'
  memory: '512'
  containers:
    - name: api
      image: nginx:1.27
      portMappings: [{{containerPort: 3000}}]
",
            cluster = self.cluster(),
            p = self.ctx.prefix,
        )
    }

    /// The manifest of Service `name`; `index` sets its rule priority.
    pub fn service(&self, name: &str, m: &Member) -> String {
        let index: u32 = name.trim_start_matches('s').parse().unwrap_or(0);
        let priority = index + 1;
        let lb = match m.lb {
            Lb::None => String::new(),
            Lb::SharedRule => format!(
                "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    listenerArn: {}
    rule: {{priority: {priority}, pathPatterns: ['/{name}/*']}}
",
                self.listener
            ),
            Lb::Own => format!(
                "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    rule: {{priority: {priority}, pathPatterns: ['/{name}/*']}}
    create:
      scheme: internal
      subnets: [{}]
      listener: {{port: 80}}
",
                self.net.subnet_ids.join(", ")
            ),
        };
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec:
  clusterRef: {{name: fleet}}
  taskDefinitionRef: {{name: fleet}}
  launchType: FARGATE
  desiredCount: {desired}
  tags: {{fleet: 'v{tag}'}}
{net}{lb}---
",
            desired = m.desired,
            tag = m.tag,
            net = network(&self.net),
        )
    }

    /// Every live Service's manifest, one document each.
    pub fn services(&self, specs: &Specs) -> String {
        specs.iter().filter_map(|(n, m)| m.as_ref().map(|m| self.service(n, m))).collect()
    }

    /// What AWS must hold for `specs`.
    pub fn expected(&self, specs: &Specs) -> BTreeSet<String> {
        let cluster = self.cluster();
        let mut out = BTreeSet::from([format!("cluster {cluster}")]);
        for (name, m) in specs.iter().filter_map(|(n, m)| m.as_ref().map(|m| (n, m))) {
            out.insert(format!("service {cluster}/{name}"));
            match m.lb {
                Lb::None => {}
                Lb::SharedRule => {
                    out.insert(format!("target group of {name}"));
                    out.insert(format!("rule on the shared listener to {name}"));
                }
                Lb::Own => {
                    out.insert(format!("target group of {name}"));
                    out.insert(format!("load balancer of {name}"));
                    out.insert(format!("listener of {name} on 80"));
                    out.insert(format!("rule on the listener of {name} to {name}"));
                }
            }
        }
        out
    }

    /// What AWS holds of this fleet.
    pub async fn inventory(&self) -> Result<BTreeSet<String>, String> {
        inventory(self.ctx, &[self.cluster()], &[(self.listener.clone(), "the shared listener".into())]).await
    }

    /// Waits until every live Service is Ready and Synced for its generation and the
    /// inventory equals `expected(specs)`; `what` names the wait in a failure.
    pub async fn converge(&self, specs: &Specs, timeout: Duration, what: &str) {
        let services: Api<Service> = Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace);
        let expected = self.expected(specs);
        eventually(timeout, what, || async {
            let listed = services.list(&Default::default()).await.map_err(|e| e.to_string())?;
            let live: BTreeSet<&str> = specs.iter().filter(|(_, m)| m.is_some()).map(|(n, _)| n.as_str()).collect();
            let behind: Vec<String> = listed
                .items
                .iter()
                .filter(|s| live.contains(s.metadata.name.as_deref().unwrap_or_default()))
                .filter(|s| !conditions::is_converged(*s))
                .map(|s| {
                    format!(
                        "{} ({})",
                        s.metadata.name.as_deref().unwrap_or_default(),
                        conditions::not_converged_because(s)
                    )
                })
                .collect();
            let present = listed.items.len();
            if !behind.is_empty() || present != live.len() {
                return Err(format!("{present} Services, {} wanted; not converged: {behind:?}", live.len()));
            }
            let have = self.inventory().await?;
            if have != expected {
                let missing: Vec<_> = expected.difference(&have).collect();
                let extra: Vec<_> = have.difference(&expected).collect();
                return Err(format!("missing {missing:?}, left behind {extra:?}"));
            }
            Ok(())
        })
        .await
    }
}
