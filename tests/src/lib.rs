//! Test support for ecs-operator: a real Kubernetes control plane (etcd and
//! kube-apiserver), moto's server mode as AWS, and the operator binary, all on
//! loopback, plus the helpers the integration tests share.

pub mod argocd;
pub mod certs;
pub mod conditions;
pub mod control_plane;
pub mod fault_proxy;
pub mod fixtures;
pub mod fleet;
pub mod health_capture;
pub mod iam;
pub mod inventory;
pub mod moto;
pub mod operator;
pub mod plain_client;
pub mod process;
pub mod testbed;
pub mod wait;

pub use operator::OperatorProcess;
pub use testbed::{TestBed, TestContext};
pub use wait::eventually;
