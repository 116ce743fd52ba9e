//! Bad input: invalid manifests are each refused at apply (the CRD schema and its
//! CEL rules) or marked `Synced=False` with reason `Invalid` and a message that says
//! what to change, with 0 AWS calls and no panic. Two sources:
//! - tests/fixtures/invalid-manifests.yaml: written by hand from ECS's and ELBv2's
//!   documented limits, each with its expected outcome and message;
//! - generated from the CRD schemas: for every field with an enum, a minimum, a
//!   maximum or a maximum length, a value just outside it, set on a valid object
//!   (server-side dry run: the apiserver must refuse it and name the field).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::{Cluster, Service, Task, TaskDefinition};
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::operator::sum_aws_requests;
use ecs_operator_tests::testbed::repo_root;
use ecs_operator_tests::{TestContext, eventually};
use kube::Api;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    why: String,
    outcome: String,
    message: String,
    manifest: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/invalid-manifests.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Valid specs of each kind, referencing the base objects, that generated cases
/// break one field of.
fn valid_spec(kind: &str) -> Value {
    match kind {
        "Cluster" => json!({"capacityProviders": ["FARGATE"]}),
        "TaskDefinition" => json!({
            "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
            "containers": [{"name": "app", "image": "nginx:1.27", "portMappings": [{"containerPort": 8080}]}]
        }),
        "Task" => json!({
            "clusterRef": {"name": "base"}, "taskDefinitionRef": {"name": "base"}, "launchType": "FARGATE",
            "networkConfiguration": {"subnets": ["subnet-0123456789abcdef0"], "securityGroups": ["sg-0123456789abcdef0"]},
            "overrides": [{"name": "app", "command": ["./migrate"]}]
        }),
        _ => json!({
            "clusterRef": {"name": "base"}, "taskDefinitionRef": {"name": "base"}, "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": {"subnets": ["subnet-0123456789abcdef0"], "securityGroups": ["sg-0123456789abcdef0"]}
        }),
    }
}

/// One generated case: a field path under spec and a value outside its schema.
#[derive(Debug)]
struct Generated {
    kind: String,
    path: Vec<String>,
    value: Value,
    rule: String,
}

fn walk(kind: &str, schema: &Value, path: &mut Vec<String>, out: &mut Vec<Generated>) {
    if path.len() > 6 {
        return;
    }
    let mut push = |value: Value, rule: String| {
        out.push(Generated { kind: kind.into(), path: path.clone(), value, rule });
    };
    if let Some(values) = schema["enum"].as_array()
        && values.iter().all(Value::is_string)
    {
        push(json!("NotOneOfTheAllowedValues"), "enum".into());
    }
    // The schemas write bounds as floats (`minimum: 1.0`), also on integers.
    let beyond = |bound: f64, step: f64| {
        if schema["type"] == "integer" { json!((bound + step) as i64) } else { json!(bound + step) }
    };
    if let Some(min) = schema["minimum"].as_f64() {
        push(beyond(min, -1.0), format!("minimum {min}"));
    }
    if let Some(max) = schema["maximum"].as_f64() {
        push(beyond(max, 1.0), format!("maximum {max}"));
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        push(json!("a".repeat(max as usize + 1)), format!("maxLength {max}"));
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            path.push(name.clone());
            walk(kind, sub, path, out);
            path.pop();
        }
    }
    if let Some(items) = schema.get("items") {
        path.push("[0]".into());
        walk(kind, items, path, out);
        path.pop();
    }
}

fn generated() -> Vec<Generated> {
    let text = std::fs::read_to_string(repo_root().join("crds/ecs.operator.dev.yaml")).unwrap();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let crd = Value::deserialize(doc).unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        walk(&kind, spec, &mut Vec::new(), &mut out);
    }
    out
}

/// `spec` with `value` at `path`, creating objects (and one-element arrays) on the way.
fn set(spec: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *spec = value;
        return;
    };
    if first == "[0]" {
        if !spec.is_array() || spec.as_array().is_some_and(Vec::is_empty) {
            *spec = json!([{}]);
        }
        set(&mut spec[0], rest, value);
    } else {
        if !spec.is_object() {
            *spec = json!({});
        }
        let next = spec.as_object_mut().unwrap().entry(first.clone()).or_insert(Value::Null);
        if rest.is_empty() {
            *next = value;
        } else {
            set(next, rest, value);
        }
    }
}

#[tokio::test]
async fn invalid_manifests_are_refused_or_marked_invalid_without_any_aws_call() {
    let ctx = TestContext::new("bad-input").await.unwrap();
    // No resync during the test: every AWS call after the base objects converged
    // would come from an invalid manifest.
    let mut op = ctx.start_operator(&["--resync-seconds", "86400"]).unwrap();
    let base = std::fs::read_to_string(repo_root().join("tests/fixtures/invalid-manifests-base.yaml")).unwrap();
    ctx.apply_ok(&base).unwrap();
    wait_converged(&Api::<Cluster>::namespaced(ctx.client.clone(), &ctx.namespace), "base").await;
    wait_converged(&Api::<TaskDefinition>::namespaced(ctx.client.clone(), &ctx.namespace), "base").await;
    let calls_before = sum_aws_requests(&op.metrics().unwrap(), |_| true);

    let all = cases();
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    for case in &all {
        let out = ctx.apply(&case.manifest).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match (case.outcome.as_str(), out.status.success()) {
            ("refused", false) if stderr.contains(&case.message) => {}
            ("refused", false) => failures.push(format!("{}: refused without {:?}: {stderr}", case.name, case.message)),
            ("refused", true) => failures.push(format!("{}: accepted, should be refused ({})", case.name, case.why)),
            (_, true) => accepted.push(case),
            (_, false) => failures.push(format!("{}: refused, should reach the operator: {stderr}", case.name)),
        }
    }
    // The accepted ones: Invalid with the expected message, each.
    let conditions = || async {
        let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
        let synced = |o: &Value| -> Option<(String, String, String)> {
            let name = o["metadata"]["name"].as_str()?.to_string();
            let c = o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Synced")?;
            Some((name, c["reason"].as_str()?.to_string(), c["message"].as_str()?.to_string()))
        };
        let lists = [
            list_json::<Cluster>(&ctx).await,
            list_json::<TaskDefinition>(&ctx).await,
            list_json::<Service>(&ctx).await,
            list_json::<Task>(&ctx).await,
        ];
        for list in lists {
            for o in list?.as_array().into_iter().flatten() {
                if let Some((name, reason, message)) = synced(o) {
                    seen.insert(name, (reason, message));
                }
            }
        }
        Ok::<_, String>(seen)
    };
    let invalid = eventually(Duration::from_secs(90), "every accepted invalid manifest reported Invalid", || async {
        let seen = conditions().await?;
        let waiting: Vec<&str> = accepted
            .iter()
            .filter(|c| seen.get(&c.name).is_none_or(|(r, _)| r != "Invalid"))
            .map(|c| c.name.as_str())
            .collect();
        if waiting.is_empty() {
            Ok(seen)
        } else {
            Err(format!("not Invalid yet: {waiting:?} ({:?})", waiting.first().and_then(|w| seen.get(*w))))
        }
    })
    .await;
    for case in &accepted {
        let (_, message) = &invalid[&case.name];
        if !message.contains(&case.message) {
            failures.push(format!("{}: Invalid, but the message lacks {:?}: {message}", case.name, case.message));
        }
    }

    // Generated from the schemas, on valid objects: refused, naming the field.
    let gen_cases = generated();
    for g in &gen_cases {
        let mut spec = valid_spec(&g.kind);
        set(&mut spec, &g.path, g.value.clone());
        let manifest = json!({
            "apiVersion": "ecs.operator.dev/v1alpha1", "kind": g.kind,
            "metadata": {"name": "generated"}, "spec": spec
        });
        let out = ctx
            .bed
            .kubectl(
                &["--namespace", &ctx.namespace, "apply", "--dry-run=server", "-f", "-"],
                Some(&manifest.to_string()),
            )
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let field = g.path.iter().rev().find(|p| *p != "[0]").cloned().unwrap_or_default();
        if out.status.success() {
            failures.push(format!("generated {} spec.{} ({}): accepted", g.kind, g.path.join("."), g.rule));
        } else if !stderr.contains(&field) {
            failures.push(format!(
                "generated {} spec.{} ({}): refused without naming {field}: {stderr}",
                g.kind,
                g.path.join("."),
                g.rule
            ));
        }
    }

    let calls_after = sum_aws_requests(&op.metrics().unwrap(), |_| true);
    assert!(op.exited().is_none(), "the operator is still running");
    assert!(!op.log_tail(100_000).contains("panicked"), "the operator panicked");
    let refused = all.len() - accepted.len();
    eprintln!(
        "bad input: {} hand-written manifests ({refused} refused at apply, {} Invalid), {} generated from the CRD schemas \
         (refused); AWS calls during them: {}",
        all.len(),
        accepted.len(),
        gen_cases.len(),
        calls_after - calls_before
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len() + gen_cases.len(),
        failures.join("\n")
    );
    assert_eq!(calls_after, calls_before, "invalid input made AWS calls");
    assert!(all.len() + gen_cases.len() >= 100);
    let _ = op.stop();
}

/// Every object of kind `K` in the test's namespace, as JSON.
async fn list_json<K>(ctx: &TestContext) -> Result<Value, String>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let items = Api::<K>::namespaced(ctx.client.clone(), &ctx.namespace)
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .items;
    serde_json::to_value(items).map_err(|e| e.to_string())
}
