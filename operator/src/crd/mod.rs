//! The custom resources, whose doc comments become `kubectl explain` text.

pub mod cluster;
pub mod common;
pub mod task_definition;

pub use cluster::{Cluster, ClusterSpec, ClusterStatus};
pub use common::{AdoptionPolicy, DeletionPolicy, Tags};
pub use task_definition::{TaskDefinition, TaskDefinitionSpec, TaskDefinitionStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in the order they are installed.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![Cluster::crd(), TaskDefinition::crd()]
}

/// The CRDs as one multi-document YAML stream, as committed under `crds/`.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(crd)?);
    }
    Ok(out)
}
