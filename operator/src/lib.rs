//! ecs-operator: reconciles Amazon ECS clusters, task definitions and services from
//! Kubernetes custom resources.

pub mod crd;
