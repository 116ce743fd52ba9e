//! The custom resources, whose doc comments become `kubectl explain` text.

pub mod cluster;
pub mod common;
pub mod service;
pub mod task;
pub mod task_definition;

pub use cluster::{Cluster, ClusterSpec, ClusterStatus};
pub use common::{AdoptionPolicy, DeletionPolicy, Tags};
pub use service::{Service, ServiceSpec, ServiceStatus};
pub use task::{Task, TaskSpec, TaskStatus};
pub use task_definition::{TaskDefinition, TaskDefinitionSpec, TaskDefinitionStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD the operator serves, in the order they are installed.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![Cluster::crd(), TaskDefinition::crd(), Service::crd(), Task::crd()]
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

#[cfg(test)]
mod tests {
    #[test]
    fn committed_crds_match_the_rust_types() {
        // The run-time CARGO_MANIFEST_DIR (cargo sets it for tests) is this
        // checkout's, even when the binary came from a cache built elsewhere.
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let committed = std::fs::read_to_string(format!("{dir}/../crds/ecs.operator.dev.yaml"))
            .expect("crds/ecs.operator.dev.yaml exists");
        let generated = super::to_yaml(&super::all()).expect("CRDs render");
        assert!(
            committed == generated,
            "crds/ecs.operator.dev.yaml is stale: run `cargo run -p ecs-operator -- crds > crds/ecs.operator.dev.yaml`"
        );
    }
}
