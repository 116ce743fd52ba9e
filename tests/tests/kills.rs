//! Kills: the operator is SIGKILLed at 20 seeded random moments while 30 Services
//! behind load balancers are created, edited (tags, desired count, load balancer
//! on and off) and deleted, and restarted each time. At the end the AWS inventory
//! equals exactly what the specs say: no orphan, no duplicate; deleting everything
//! then leaves nothing.
//!
//! `ECS_OPERATOR_KILL_SEED` replays a run; `ECS_OPERATOR_KILLS` changes the number
//! of kills (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::fleet::{Fleet, Lb, Member, Specs};
use ecs_operator_tests::{OperatorProcess, TestContext, eventually};
use std::time::{Duration, Instant};

/// xorshift64*: the run replays from its seed alone.
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

/// One seeded edit of `specs`, described; the manifests to apply and the Services
/// to delete follow from `specs` afterwards.
fn edit(specs: &mut Specs, rng: &mut Rng) -> String {
    let names: Vec<String> = specs.keys().cloned().collect();
    let name = names[rng.below(names.len() as u64) as usize].clone();
    let index: usize = name.trim_start_matches('s').parse().unwrap_or(0);
    let entry = specs.get_mut(&name).unwrap();
    match entry {
        None => {
            let lb = if index.is_multiple_of(5) { Lb::Own } else { Lb::SharedRule };
            *entry = Some(Member { lb, desired: 1, tag: 0 });
            format!("recreate {name}")
        }
        Some(m) => match rng.below(4) {
            0 => {
                *entry = None;
                format!("delete {name}")
            }
            1 => {
                m.tag += 1;
                format!("tag {name} v{}", m.tag)
            }
            2 => {
                m.desired = 1 + (m.desired % 3);
                format!("scale {name} to {}", m.desired)
            }
            _ => {
                m.lb = match m.lb {
                    Lb::SharedRule => Lb::None,
                    Lb::None => Lb::SharedRule,
                    Lb::Own => Lb::Own,
                };
                format!("load balancer of {name}: {:?}", m.lb)
            }
        },
    }
}

fn start(ctx: &TestContext, incarnation: usize) -> OperatorProcess {
    let log = ctx.bed.dir.join(format!("{}-operator-{incarnation}.log", ctx.namespace));
    OperatorProcess::start(ctx.bed, &ctx.namespace, &log, &["--resync-seconds", "10"]).unwrap()
}

#[tokio::test]
async fn thirty_services_end_exactly_as_specified_after_twenty_kills() {
    let seed: u64 = std::env::var("ECS_OPERATOR_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1202);
    let kills: usize = std::env::var("ECS_OPERATOR_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    eprintln!("kills: seed {seed}, {kills} kills (replay with ECS_OPERATOR_KILL_SEED={seed})");
    let started = Instant::now();
    let ctx = TestContext::new("kills").await.unwrap();
    let fleet = Fleet::new(&ctx).await.unwrap();
    let mut rng = Rng(seed | 1);
    let mut specs = Fleet::specs(30);
    let mut op = start(&ctx, 0);
    ctx.apply_ok(&(fleet.base() + "---\n" + &fleet.services(&specs))).unwrap();
    let mut survived = 0;
    for kill in 1..=kills {
        // A few edits, then a kill at a seeded moment (0.2 to 4 s later): in the
        // middle of creates, updates and deletions.
        let mut done = Vec::new();
        for _ in 0..1 + rng.below(3) {
            done.push(edit(&mut specs, &mut rng));
        }
        let deleted: Vec<String> =
            specs.iter().filter(|(_, m)| m.is_none()).map(|(n, _)| format!("ecssvc/{n}")).collect();
        if !deleted.is_empty() {
            let mut args = vec!["delete", "--ignore-not-found", "--wait=false"];
            args.extend(deleted.iter().map(String::as_str));
            ctx.kubectl_ok(&args).unwrap();
        }
        let live = fleet.services(&specs);
        if !live.is_empty() {
            ctx.apply_ok(&live).unwrap();
        }
        let wait = Duration::from_millis(200 + rng.below(3800));
        tokio::time::sleep(wait).await;
        op.kill();
        survived += 1;
        eprintln!("kills: {kill}: {} then SIGKILL after {:.1} s", done.join(", "), wait.as_secs_f64());
        op = start(&ctx, kill);
    }
    let final_edits = Instant::now();
    // A "recreate" applied while the deleted object still waited on its finalizer
    // only patched the terminating object, which then went away: Kubernetes, not
    // the operator, dropped it. Once nothing is terminating, apply the specs again,
    // as a GitOps tool's next sync would.
    eventually(Duration::from_secs(180), "no Service terminating", || async {
        let terminating = ctx
            .kubectl_ok(&["get", "ecssvc", "-o", "jsonpath={.items[?(@.metadata.deletionTimestamp)].metadata.name}"])
            .map_err(|e| e.to_string())?;
        if terminating.trim().is_empty() { Ok(()) } else { Err(terminating) }
    })
    .await;
    let live = fleet.services(&specs);
    if !live.is_empty() {
        ctx.apply_ok(&live).unwrap();
    }
    fleet.converge(&specs, Duration::from_secs(300), &format!("seed {seed}: the specs after {kills} kills")).await;
    eprintln!(
        "kills: {survived} kills survived; {} Services live; converged {:.1} s after the last restart",
        specs.values().filter(|m| m.is_some()).count(),
        final_edits.elapsed().as_secs_f64()
    );
    // Deleting everything leaves nothing, with one more kill in the middle.
    ctx.kubectl_ok(&["delete", "ecssvc,taskdef,ecscluster", "--all", "--wait=false"]).unwrap();
    tokio::time::sleep(Duration::from_millis(200 + rng.below(2000))).await;
    op.kill();
    let _op = start(&ctx, kills + 1);
    eventually(Duration::from_secs(180), "every object deleted", || async {
        let left = ctx.kubectl_ok(&["get", "ecssvc,taskdef,ecscluster", "-o", "name"]).map_err(|e| e.to_string())?;
        if left.trim().is_empty() { Ok(()) } else { Err(left) }
    })
    .await;
    let have = fleet.inventory().await.unwrap();
    assert!(have.is_empty(), "seed {seed}: left behind after deleting everything: {have:?}");
    eprintln!("kills: seed {seed} passed in {:.0?}", started.elapsed());
}
