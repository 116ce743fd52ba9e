//! Types shared by every custom resource of the operator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The API group of every kind the operator serves.
pub const GROUP: &str = "ecs.operator.dev";
/// The API version of every kind the operator serves.
pub const VERSION: &str = "v1alpha1";
/// The finalizer that keeps an object until its AWS resources are handled.
pub const FINALIZER: &str = "ecs.operator.dev/cleanup";

/// What happens to the AWS resources when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Remove the AWS resources the operator created for this object (the default).
    #[default]
    Delete,
    /// Leave the AWS resources in place; only the Kubernetes object goes away.
    Retain,
}

/// What the operator does when an AWS resource with the same name already exists
/// and was not created by this object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AdoptionPolicy {
    /// Never touch it: the object reports a `Conflict` condition (the default).
    #[default]
    Never,
    /// Take it over if no other object owns it: the operator tags it as its own
    /// and manages it from then on, including deleting it under `deletionPolicy: Delete`.
    AdoptUnowned,
}

/// AWS tags as a map. Order never matters; keys starting with `aws:` and
/// `ecs.operator.dev/` are reserved.
pub type Tags = BTreeMap<String, String>;

/// The condition types the operator sets.
pub mod condition {
    /// The AWS resource exists and is in the state the spec asks for.
    pub const READY: &str = "Ready";
    /// The last reconcile brought AWS in line with the spec without error.
    pub const SYNCED: &str = "Synced";
    /// A service rollout is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// A service rollout failed or was rolled back.
    pub const DEGRADED: &str = "Degraded";
}
