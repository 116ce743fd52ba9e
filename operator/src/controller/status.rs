//! Status writes: server-side apply on the status subresource, skipped when
//! nothing changed.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "ecs-operator";

/// Writes `status` unless it equals `previous`.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, previous: Option<&S>, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if previous == Some(status) {
        return Ok(());
    }
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await?;
    Ok(())
}
