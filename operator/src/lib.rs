//! ecs-operator: reconciles Amazon ECS clusters, task definitions and services from
//! Kubernetes custom resources.
//!
//! - [`crd`]: the custom resources (their doc comments are the `kubectl explain` text);
//! - [`core`]: the functional core (validation, translation, diffing, status), no I/O;
//! - [`aws`]: the only code that calls AWS;
//! - [`controller`]: the kube-runtime controllers around the core;
//! - [`run`], [`cli`], [`server`], [`metrics`]: the process.

pub mod aws;
pub mod cli;
pub mod controller;
pub mod core;
pub mod crd;
pub mod leader;
pub mod metrics;
pub mod probes;
pub mod run;
pub mod server;
