//! TaskDefinition: validation beyond the schema, the normalised spec and its hash,
//! revision retention, and status.

use super::conditions::{self, ConditionUpdate};
use super::tags;
use crate::crd::common::condition::{READY, SYNCED};
use crate::crd::task_definition::{Compatibility, KeptRevision, NetworkMode, TaskDefinitionSpec, TaskDefinitionStatus};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Tag recording the hash of the normalised spec a revision was registered from.
pub const SPEC_HASH_TAG: &str = "ecs.operator.dev/spec-hash";

/// A revision as DescribeTaskDefinition reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRevision {
    pub arn: String,
    pub revision: i32,
    pub active: bool,
    pub tags: BTreeMap<String, String>,
}

/// The family of an object: `spec.family`, else the object's name.
pub fn family(object_name: &str, spec: &TaskDefinitionSpec) -> String {
    spec.family.clone().unwrap_or_else(|| object_name.to_string())
}

/// The family in a task definition ARN (`...:task-definition/<family>:<revision>`).
pub fn family_of_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":task-definition/")?.1.rsplit_once(':').map(|(family, _)| family)
}

/// The revision number in a task definition ARN.
pub fn revision_of_arn(arn: &str) -> Option<i32> {
    arn.rsplit_once(':')?.1.parse().ok()
}

// Valid Fargate task sizes: CPU units to the allowed memory values in MiB.
fn fargate_memory_allowed(cpu: u32, memory: u32) -> bool {
    let gib = |g: u32| g * 1024;
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1..=4).map(gib).any(|m| m == memory),
        1024 => (2..=8).map(gib).any(|m| m == memory),
        2048 => (4..=16).map(gib).any(|m| m == memory),
        4096 => (8..=30).map(gib).any(|m| m == memory),
        8192 => (16..=60).step_by(4).map(gib).any(|m| m == memory),
        16384 => (32..=120).step_by(8).map(gib).any(|m| m == memory),
        _ => false,
    }
}

/// Task CPU in units: "256", "0.25 vCPU", "1 vcpu".
pub fn parse_cpu(value: &str) -> Option<u32> {
    let v = value.trim().to_ascii_lowercase();
    if let Some(number) = v.strip_suffix("vcpu") {
        let vcpu: f64 = number.trim().parse().ok()?;
        let units = vcpu * 1024.0;
        return (units >= 0.0 && units.fract() == 0.0 && units <= f64::from(u32::MAX)).then_some(units as u32);
    }
    v.parse().ok()
}

/// Task memory in MiB: "512", "1 GB", "2gb".
pub fn parse_memory(value: &str) -> Option<u32> {
    let v = value.trim().to_ascii_lowercase();
    if let Some(number) = v.strip_suffix("gb") {
        let gb: f64 = number.trim().parse().ok()?;
        let mib = gb * 1024.0;
        return (mib >= 0.0 && mib.fract() == 0.0 && mib <= f64::from(u32::MAX)).then_some(mib as u32);
    }
    v.strip_suffix("mb").unwrap_or(&v).trim().parse().ok()
}

fn secret_source_ok(value: &str) -> bool {
    value.starts_with("arn:") && (value.contains(":secretsmanager:") || value.contains(":ssm:"))
        || (!value.is_empty() && !value.starts_with("arn:") && !value.contains(char::is_whitespace))
}

/// Problems the schema cannot catch, as messages saying what to change.
pub fn validate(object_name: &str, spec: &TaskDefinitionSpec) -> Vec<String> {
    let mut problems = tags::validate(&spec.tags, "spec.tags");
    let fam = family(object_name, spec);
    if fam.is_empty() || fam.len() > 255 || !fam.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems
            .push(format!("the family {fam:?} must be 1-255 letters, digits, hyphens or underscores; set spec.family"));
    }
    let cpu = spec.cpu.as_deref().map(|c| (c, parse_cpu(c)));
    let memory = spec.memory.as_deref().map(|m| (m, parse_memory(m)));
    if let Some((raw, None)) = cpu {
        problems.push(format!("spec.cpu {raw:?} is not a number of CPU units (\"256\") or vCPUs (\"0.25 vCPU\")"));
    }
    if let Some((raw, None)) = memory {
        problems.push(format!("spec.memory {raw:?} is not a number of MiB (\"512\") or GB (\"1 GB\")"));
    }
    if spec.requires_compatibilities.contains(&Compatibility::Fargate)
        && let (Some((_, Some(cpu))), Some((_, Some(memory)))) = (cpu, memory)
        && !fargate_memory_allowed(cpu, memory)
    {
        problems.push(format!(
            "Fargate does not offer cpu {cpu} with memory {memory} MiB; valid pairs: 256 with 512/1024/2048, \
             512 with 1-4 GB, 1024 with 2-8 GB, 2048 with 4-16 GB, 4096 with 8-30 GB (1 GB steps), \
             8192 with 16-60 GB (4 GB steps), 16384 with 32-120 GB (8 GB steps)"
        ));
    }
    let task_memory = memory.and_then(|(_, m)| m);
    let names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let volumes: BTreeSet<&str> = spec.volumes.iter().map(|v| v.name.as_str()).collect();
    let mut reserved_total: u32 = 0;
    for c in &spec.containers {
        let reserved = c.memory_reservation.or(c.memory).and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
        reserved_total = reserved_total.saturating_add(reserved);
        if let (Some(task), Some(hard)) = (task_memory, c.memory)
            && u32::try_from(hard).is_ok_and(|h| h > task)
        {
            problems.push(format!("container {:?}: memory {hard} MiB is above the task memory {task} MiB", c.name));
        }
        for dep in &c.depends_on {
            if dep.container_name == c.name {
                problems.push(format!("container {:?} cannot depend on itself", c.name));
            } else if !names.contains(dep.container_name.as_str()) {
                problems.push(format!(
                    "container {:?} depends on {:?}, which is not a container of this task",
                    c.name, dep.container_name
                ));
            }
        }
        for mount in &c.mount_points {
            if !volumes.contains(mount.source_volume.as_str()) {
                problems.push(format!(
                    "container {:?} mounts volume {:?}, which is not in spec.volumes",
                    c.name, mount.source_volume
                ));
            }
        }
        for (name, source) in c.secrets.iter().chain(c.log_configuration.iter().flat_map(|l| l.secret_options.iter())) {
            if !secret_source_ok(source) {
                problems.push(format!(
                    "container {:?}: secret {name:?} must come from a Secrets Manager secret ARN or an SSM \
                     parameter name or ARN, not {source:?}",
                    c.name
                ));
            }
        }
        let mut ports = BTreeSet::new();
        for p in &c.port_mappings {
            let protocol = p.protocol.map(|p| format!("{p:?}")).unwrap_or_else(|| "Tcp".into());
            if !ports.insert((p.container_port, protocol)) {
                problems.push(format!("container {:?} maps port {} twice", c.name, p.container_port));
            }
        }
    }
    if let Some(task) = task_memory
        && reserved_total > task
    {
        problems.push(format!(
            "the containers reserve {reserved_total} MiB in total, more than the task memory {task} MiB"
        ));
    }
    if spec.network_mode == Some(NetworkMode::Awsvpc) || spec.requires_compatibilities.contains(&Compatibility::Fargate)
    {
        for v in &spec.volumes {
            if v.host_path.is_some() && spec.requires_compatibilities.contains(&Compatibility::Fargate) {
                problems.push(format!("volume {:?}: Fargate does not support hostPath volumes", v.name));
            }
        }
    }
    for v in &spec.volumes {
        if let Some(efs) = &v.efs
            && (efs.access_point_id.is_some() || efs.iam)
            && !efs.transit_encryption
        {
            problems.push(format!("volume {:?}: EFS accessPointId and iam need transitEncryption: true", v.name));
        }
    }
    problems
}

/// A stable hash of the normalised spec. Maps are `BTreeMap`s (sorted); container
/// and volume lists are keyed by name and sorted here; fields that do not change
/// what ECS registers (deletion and adoption policy, history limit) are left out.
pub fn spec_hash(object_name: &str, spec: &TaskDefinitionSpec) -> String {
    let mut canonical = spec.clone();
    canonical.containers.sort_by(|a, b| a.name.cmp(&b.name));
    canonical.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    canonical.requires_compatibilities.sort();
    canonical.requires_compatibilities.dedup();
    canonical.revision_history_limit = 0;
    canonical.deletion_policy = Default::default();
    canonical.adoption_policy = Default::default();
    canonical.region = None;
    let fam = family(object_name, spec);
    canonical.family = Some(fam.clone());
    // "1 vCPU" and "1024" register the same task definition.
    let cpu = canonical.cpu.as_deref().and_then(parse_cpu);
    let memory = canonical.memory.as_deref().and_then(parse_memory);
    canonical.cpu = None;
    canonical.memory = None;
    let awsvpc_or_host = matches!(canonical.network_mode, Some(NetworkMode::Awsvpc | NetworkMode::Host));
    for c in &mut canonical.containers {
        for p in &mut c.port_mappings {
            if awsvpc_or_host && p.host_port.is_none() {
                p.host_port = Some(p.container_port);
            }
            if p.host_port == Some(0) {
                p.host_port = None;
            }
        }
    }
    let value = serde_json::json!({ "spec": canonical, "cpu": cpu, "memory": memory });
    let digest = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&digest[..8])
}

/// Revisions to deregister: keep the current one and the `limit` newest older ones,
/// and never one a service deployment still uses (`in_use`, ARNs).
pub fn revisions_to_deregister(
    kept: &[KeptRevision],
    current_arn: Option<&str>,
    limit: usize,
    in_use: &BTreeSet<String>,
) -> Vec<KeptRevision> {
    let mut older: Vec<&KeptRevision> = kept.iter().filter(|k| Some(k.arn.as_str()) != current_arn).collect();
    older.sort_by_key(|k| std::cmp::Reverse(k.revision));
    older.into_iter().skip(limit).filter(|k| !in_use.contains(&k.arn)).cloned().collect()
}

/// How the last reconcile ended, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Synced,
    Invalid(String),
    Conflict(String),
    /// AWS refused the request; retrying the same spec cannot help.
    AwsError(String),
    /// AWS failed in a way that retrying may fix (throttling, a server error).
    AwsRetrying(String),
    /// Deletion waits, for example for Services still running a revision.
    DeletionBlocked(String),
}

/// The status to write after a reconcile.
#[allow(clippy::too_many_arguments)]
pub fn status(
    previous: Option<&TaskDefinitionStatus>,
    generation: Option<i64>,
    family: &str,
    region: &str,
    current: Option<(&str, i32, &str)>,
    kept: Vec<KeptRevision>,
    outcome: &Outcome,
    now: Timestamp,
) -> TaskDefinitionStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    // Once a revision exists, family and region say where it lives (for cleanup),
    // whatever the operator's default region says later.
    if status.arn.is_none() || current.is_some() {
        status.family = Some(family.to_string());
        status.region = Some(region.to_string());
    }
    if let Some((arn, revision, hash)) = current {
        status.arn = Some(arn.to_string());
        status.revision = Some(revision);
        status.spec_hash = Some(hash.to_string());
    }
    let mut kept = kept;
    kept.sort_by_key(|k| std::cmp::Reverse(k.revision));
    kept.dedup();
    status.revisions = kept;
    let (synced, reason, message) = match outcome {
        Outcome::Synced => (true, "Synced", "the newest revision matches the spec".to_string()),
        Outcome::Invalid(m) => (false, "Invalid", m.clone()),
        Outcome::Conflict(m) => (false, "Conflict", m.clone()),
        Outcome::AwsError(m) => (false, "AwsError", m.clone()),
        Outcome::AwsRetrying(m) => (false, "AwsRetrying", m.clone()),
        Outcome::DeletionBlocked(m) => (false, "DeletionBlocked", m.clone()),
    };
    conditions::set(
        &mut status.conditions,
        ConditionUpdate { type_: SYNCED, status: synced, reason, message: message.clone() },
        generation,
        now,
    );
    let ready = match (outcome, current) {
        (Outcome::Synced, Some((arn, _, _))) => {
            ConditionUpdate { type_: READY, status: true, reason: "Registered", message: format!("{arn} is ACTIVE") }
        }
        (Outcome::Synced, None) => ConditionUpdate {
            type_: READY,
            status: false,
            reason: "NotRegistered",
            message: "no revision is registered yet".into(),
        },
        _ => ConditionUpdate { type_: READY, status: false, reason, message },
    };
    conditions::set(&mut status.conditions, ready, generation, now);
    status
}

#[cfg(test)]
#[path = "task_definition_tests.rs"]
mod tests;
