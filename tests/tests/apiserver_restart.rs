//! API server restart: kube-apiserver and etcd are stopped and started again
//! (same ports, same data) while Services are being edited, three times, with edits
//! applied right before each stop and right after each start (while the operator's
//! watches are still reconnecting). No edit is missed: every object reaches
//! observedGeneration == generation, and AWS holds exactly what the last specs say,
//! down to the tags of each ECS service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::fleet::{Fleet, Lb, Specs};
use ecs_operator_tests::{TestContext, eventually};
use std::time::{Duration, Instant};

const RESTARTS: usize = 3;

fn bump(specs: &mut Specs, round: usize) {
    for (i, m) in specs.values_mut().filter_map(Option::as_mut).enumerate() {
        m.tag += 1;
        // Load balancers on and off too, for a third of the fleet.
        if i % 3 == round % 3 {
            m.lb = match m.lb {
                Lb::SharedRule => Lb::None,
                Lb::None => Lb::SharedRule,
                Lb::Own => Lb::Own,
            };
        }
    }
}

async fn tags_match(fleet: &Fleet<'_>, specs: &Specs) -> Result<(), String> {
    let ecs = aws_sdk_ecs::Client::new(&fleet.ctx.aws);
    let names: Vec<String> = specs.keys().cloned().collect();
    for chunk in names.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(fleet.cluster())
            .set_services(Some(chunk.to_vec()))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        for s in out.services() {
            let name = s.service_name().unwrap_or_default();
            let want = specs.get(name).and_then(|m| m.as_ref()).map(|m| format!("v{}", m.tag));
            let have = s.tags().iter().find(|t| t.key() == Some("fleet")).and_then(|t| t.value()).map(str::to_string);
            if have != want {
                return Err(format!("{name}: tag fleet={have:?}, spec says {want:?}"));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn edits_around_apiserver_restarts_are_all_applied() {
    let ctx = TestContext::new("apiserver-restart").await.unwrap();
    let op = ctx.start_operator(&[]).unwrap();
    let fleet = Fleet::new(&ctx).await.unwrap();
    let mut specs = Fleet::specs(10);
    ctx.apply_ok(&(fleet.base() + "---\n" + &fleet.services(&specs))).unwrap();
    fleet.converge(&specs, Duration::from_secs(120), "the fleet before any restart").await;
    let mut downtime = Vec::new();
    for round in 0..RESTARTS {
        bump(&mut specs, 2 * round);
        ctx.apply_ok(&fleet.services(&specs)).unwrap();
        let stopped = Instant::now();
        ctx.bed.control_plane.restart(Duration::from_secs(2)).unwrap();
        downtime.push(stopped.elapsed());
        // Right away, while the operator's watches reconnect.
        bump(&mut specs, 2 * round + 1);
        eventually(Duration::from_secs(30), "an apply after the restart", || async {
            ctx.apply(&fleet.services(&specs)).map_err(|e| e.to_string()).and_then(|o| {
                if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
            })
        })
        .await;
    }
    let converging = Instant::now();
    // Each watch backs off on its own: 16 s after the last restart here. With
    // kube-runtime's backoff shared by a controller's watches it took 106 s, 140 s,
    // and more than 180 s in three runs.
    fleet.converge(&specs, Duration::from_secs(90), "every edit applied after the restarts").await;
    eventually(Duration::from_secs(60), "ECS tags equal the last edit", || tags_match(&fleet, &specs)).await;
    assert!(op.health("/healthz").unwrap().contains(" 200 "), "the operator stayed healthy");
    eprintln!(
        "apiserver restart: {RESTARTS} restarts (down {}), {} edits; converged {:.1} s after the last restart",
        downtime.iter().map(|d| format!("{:.1} s", d.as_secs_f64())).collect::<Vec<_>>().join(", "),
        2 * RESTARTS,
        converging.elapsed().as_secs_f64()
    );
}
