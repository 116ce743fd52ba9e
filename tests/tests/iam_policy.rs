//! The IAM policy in docs/iam-policy.json allows exactly the AWS operations the
//! adapters (operator/src/aws) can call, plus iam:PassRole for the roles a task
//! definition or a blue/green Service names. Every SDK call in the adapters goes
//! through `AwsError::from_sdk("<Operation>", ..)`, and each file's `.send()` count
//! must equal its `from_sdk` count, so that no call escapes the list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::testbed::repo_root;
use std::collections::BTreeSet;

/// The adapters and the IAM service prefix of the client each one uses.
const ADAPTERS: [(&str, &str); 6] = [
    ("ecs_cluster.rs", "ecs"),
    ("ecs_service.rs", "ecs"),
    ("ecs_task.rs", "ecs"),
    ("ecs_task_definition.rs", "ecs"),
    ("elbv2.rs", "elasticloadbalancing"),
    ("autoscaling.rs", "application-autoscaling"),
];

fn operations_in(source: &str) -> Vec<String> {
    source.split("from_sdk(\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_string).collect()
}

/// `service:Operation` for every operation the adapters can call.
fn adapter_actions() -> BTreeSet<String> {
    let dir = repo_root().join("operator/src/aws");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let sends = source.matches(".send()").count();
        let ops = operations_in(&source);
        assert_eq!(sends, ops.len(), "{file}: every .send() must be named by one from_sdk(\"<Operation>\")");
        if ops.is_empty() {
            continue;
        }
        let service = ADAPTERS
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, s)| *s)
            .unwrap_or_else(|| panic!("{file} calls AWS: add it to ADAPTERS with its IAM service prefix"));
        actions.extend(ops.into_iter().map(|op| format!("{service}:{op}")));
    }
    actions
}

fn policy_actions() -> BTreeSet<String> {
    ecs_operator_tests::iam::policy_actions().unwrap()
}

#[test]
fn the_documented_iam_policy_allows_exactly_what_the_adapters_call() {
    let mut wanted = adapter_actions();
    wanted.insert("iam:PassRole".into());
    let have = policy_actions();
    let missing: Vec<_> = wanted.difference(&have).collect();
    let unused: Vec<_> = have.difference(&wanted).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "docs/iam-policy.json differs from the adapters: missing {missing:?}, not called {unused:?}"
    );
    assert!(wanted.len() > 40, "the scan found the adapters' operations: {wanted:?}");
}

#[test]
fn pass_role_is_limited_to_ecs() {
    let text = std::fs::read_to_string(repo_root().join("docs/iam-policy.json")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pass = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == "iam:PassRole"))
        .unwrap();
    let services = &pass["Condition"]["StringEquals"]["iam:PassedToService"];
    assert_eq!(*services, serde_json::json!(["ecs-tasks.amazonaws.com", "ecs.amazonaws.com"]));
}
