//! The IAM policy the docs give users (docs/iam-policy.json).

use crate::testbed::repo_root;
use std::collections::BTreeSet;

/// Every `service:Operation` the documented policy allows.
pub fn policy_actions() -> Result<BTreeSet<String>, String> {
    let path = repo_root().join("docs/iam-policy.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)))
        .collect())
}

/// The operations in the operator's `ecs_operator_aws_requests_total` that the
/// documented policy does not allow (whatever the service prefix).
pub fn not_allowed(metrics: &str) -> Result<Vec<String>, String> {
    let allowed: BTreeSet<String> =
        policy_actions()?.into_iter().filter_map(|a| a.split(':').nth(1).map(str::to_string)).collect();
    let called: BTreeSet<String> = metrics
        .lines()
        .filter(|l| l.starts_with("ecs_operator_aws_requests_total{"))
        .filter_map(|l| Some(l.split("operation=\"").nth(1)?.split('"').next()?.to_string()))
        .collect();
    Ok(called.into_iter().filter(|op| !allowed.contains(op)).collect())
}
