//! The functional core: validation, translation of specs into AWS requests,
//! diffing desired against observed state, and status computation. No I/O.

pub mod api_family;
pub mod cluster;
pub mod conditions;
pub mod load_balancer;
pub mod observation;
pub mod owned;
pub mod ownership;
#[cfg(test)]
mod properties;
pub mod region;
pub mod service;
pub mod service_status;
pub mod tags;
pub mod task;
pub mod task_definition;
pub mod task_definition_request;
pub mod task_request;
