//! Reading and waiting for the conditions of any ecs-operator object.

use crate::health_capture::capture;
use crate::wait::eventually;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// How long waits for a condition last.
pub const CONDITION_WAIT: Duration = Duration::from_secs(90);

/// The condition `type_` of any object that has `status.conditions`.
pub fn condition_of<K: Serialize>(obj: &K, type_: &str) -> Option<Condition> {
    let value = serde_json::to_value(obj).ok()?;
    let all: Vec<Condition> = serde_json::from_value(value.pointer("/status/conditions")?.clone()).ok()?;
    all.into_iter().find(|c| c.type_ == type_)
}

/// Waits until the condition `type_` of `name` has `reason`, and returns it.
pub async fn wait_for_reason<K>(api: &Api<K>, name: &str, type_: &str, reason: &str) -> Condition
where
    K: Clone + DeserializeOwned + Serialize + Debug + kube::Resource<DynamicType = ()>,
{
    eventually(CONDITION_WAIT, &format!("{name}: {type_} with reason {reason}"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        match condition_of(&obj, type_) {
            Some(c) if c.reason == reason => {
                capture(&obj);
                Ok(c)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until `name` is Ready for `generation`, and returns the object.
pub async fn wait_ready<K>(api: &Api<K>, name: &str, generation: i64) -> K
where
    K: Clone + DeserializeOwned + Serialize + Debug + kube::Resource<DynamicType = ()>,
{
    eventually(CONDITION_WAIT, &format!("{name} generation {generation} Ready"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        match condition_of(&obj, "Ready") {
            Some(c) if c.status == "True" && c.observed_generation == Some(generation) => {
                capture(&obj);
                Ok(obj)
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Whether `obj` is Ready and Synced for its current generation.
pub fn is_converged<K: Serialize + kube::Resource>(obj: &K) -> bool {
    let generation = obj.meta().generation;
    ["Ready", "Synced"].iter().all(|type_| {
        condition_of(obj, type_).is_some_and(|c| c.status == "True" && c.observed_generation == generation)
    })
}

/// Why `obj` is not converged, for a failure message: its Ready and Synced
/// conditions with reason, message and the generation each was written for.
pub fn not_converged_because<K: Serialize + kube::Resource>(obj: &K) -> String {
    let generation = obj.meta().generation.unwrap_or_default();
    let parts: Vec<String> = ["Ready", "Synced"]
        .iter()
        .map(|type_| match condition_of(obj, type_) {
            Some(c) => format!(
                "{type_}={} {} (for generation {} of {generation}): {}",
                c.status,
                c.reason,
                c.observed_generation.unwrap_or_default(),
                c.message
            ),
            None => format!("{type_} missing"),
        })
        .collect();
    parts.join("; ")
}

/// Waits until `name` is Ready and Synced for its current generation (the last
/// edit applied in full), and returns the object.
pub async fn wait_converged<K>(api: &Api<K>, name: &str) -> K
where
    K: Clone + DeserializeOwned + Serialize + Debug + kube::Resource<DynamicType = ()>,
{
    eventually(CONDITION_WAIT, &format!("{name} Ready and Synced for its generation"), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let generation = obj.meta().generation;
        let current = |type_: &str| {
            condition_of(&obj, type_).is_some_and(|c| c.status == "True" && c.observed_generation == generation)
        };
        if current("Ready") && current("Synced") {
            capture(&obj);
            Ok(obj)
        } else {
            Err(format!("{:?} / {:?}", condition_of(&obj, "Ready"), condition_of(&obj, "Synced")))
        }
    })
    .await
}
