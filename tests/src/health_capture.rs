//! Captures objects the operator really wrote, as test data for the Argo CD health
//! checks (`argocd/resource_customizations/ecs.operator.dev/<Kind>/testdata/`).
//!
//! Off unless `ECS_OPERATOR_HEALTH_TESTDATA` names the directory that holds the kind
//! folders (`scripts/capture-health-testdata.sh` sets it). The waits of the
//! condition helpers call [`capture`] with every object they return, so the bed
//! tests' states (Ready, rollouts, rollbacks, Invalid, Conflict, waiting for a
//! reference, ...) become test data without extra test code. The first object seen
//! in a state is kept; a state is named by what the health check reads.

use kube::Resource;
use serde::Serialize;
use std::path::PathBuf;

/// The environment variable that turns capturing on.
pub const CAPTURE_DIR_VAR: &str = "ECS_OPERATOR_HEALTH_TESTDATA";

/// The state an object is in, as a file name: `no-status`, `stale-generation`,
/// `synced-<reason>` (Synced False), `degraded-<reason>` (Degraded True), else
/// `ready-<reason>`.
pub fn state_name(obj: &serde_json::Value) -> String {
    let status = obj.pointer("/status");
    let conditions = status.and_then(|s| s.get("conditions")).and_then(|c| c.as_array());
    let Some(conditions) = conditions.filter(|c| !c.is_empty()) else {
        return "no-status".into();
    };
    let generation = obj.pointer("/metadata/generation").and_then(|g| g.as_i64());
    let observed = status.and_then(|s| s.get("observedGeneration")).and_then(|g| g.as_i64());
    if generation.is_some() && observed < generation {
        return "stale-generation".into();
    }
    let find = |type_: &str| conditions.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some(type_));
    let field = |c: &serde_json::Value, f: &str| c.get(f).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    if let Some(c) = find("Synced").filter(|c| field(c, "status") == "False") {
        return format!("synced-{}", field(c, "reason"));
    }
    if let Some(c) = find("Degraded").filter(|c| field(c, "status") == "True") {
        return format!("degraded-{}", field(c, "reason"));
    }
    match find("Ready") {
        Some(c) => format!("ready-{}", field(c, "reason")),
        None => "no-ready-condition".into(),
    }
}

/// Writes `obj` as test data for its kind's health check, when capturing is on and
/// its state has no file yet. Fields no health check reads and that only make a
/// diff noisy (managed fields, uid, resource version) are left out.
pub fn capture<K: Resource<DynamicType = ()> + Serialize>(obj: &K) {
    let Some(dir) = std::env::var_os(CAPTURE_DIR_VAR).map(PathBuf::from) else {
        return;
    };
    let Ok(mut value) = serde_json::to_value(obj) else {
        return;
    };
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for noisy in ["managedFields", "uid", "resourceVersion"] {
            meta.remove(noisy);
        }
    }
    let folder = dir.join(K::kind(&()).as_ref()).join("testdata");
    let path = folder.join(format!("{}.yaml", state_name(&value)));
    if path.exists() {
        return;
    }
    let written = std::fs::create_dir_all(&folder)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_yaml::to_string(&value).map_err(|e| e.to_string()))
        .and_then(|yaml| std::fs::write(&path, yaml).map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("capturing {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(generation: i64, observed: i64, conditions: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"generation": generation}, "status": {"observedGeneration": observed, "conditions": conditions}})
    }

    #[test]
    fn names_states_by_what_the_health_check_reads() {
        assert_eq!(state_name(&json!({"metadata": {"generation": 1}})), "no-status");
        assert_eq!(state_name(&obj(2, 1, json!([{"type": "Ready", "status": "True"}]))), "stale-generation");
        let synced_invalid = json!([{"type": "Synced", "status": "False", "reason": "Invalid"},
                                    {"type": "Degraded", "status": "True", "reason": "RolledBack"}]);
        assert_eq!(state_name(&obj(1, 1, synced_invalid)), "synced-Invalid");
        let rolled_back = json!([{"type": "Synced", "status": "True", "reason": "Synced"},
                                 {"type": "Degraded", "status": "True", "reason": "RolledBack"},
                                 {"type": "Ready", "status": "False", "reason": "NotOnWantedRevision"}]);
        assert_eq!(state_name(&obj(1, 1, rolled_back)), "degraded-RolledBack");
        let rolling = json!([{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False", "reason": "RolloutInProgress"}]);
        assert_eq!(state_name(&obj(3, 3, rolling)), "ready-RolloutInProgress");
    }
}
