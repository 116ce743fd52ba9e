//! Translation of a TaskDefinition spec into the RegisterTaskDefinition request.

use super::task_definition::{SPEC_HASH_TAG, family, parse_cpu, parse_memory};
use crate::crd::task_definition::{
    AppProtocol, Compatibility, ContainerDefinition as SpecContainer, CpuArchitecture, DependencyCondition,
    NetworkMode as SpecNetworkMode, TaskDefinitionSpec, TransportProtocol, Volume as SpecVolume,
};
use aws_sdk_ecs::types::{
    ApplicationProtocol, Compatibility as EcsCompatibility, ContainerCondition, ContainerDefinition,
    ContainerDependency, CpuArchitecture as EcsCpuArchitecture, EfsAuthorizationConfig, EfsAuthorizationConfigIam,
    EfsTransitEncryption, EfsVolumeConfiguration, EphemeralStorage, HealthCheck, HostVolumeProperties, KeyValuePair,
    LogConfiguration, LogDriver, MountPoint, NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret, Tag,
    TransportProtocol as EcsTransportProtocol, Ulimit, UlimitName, Volume,
};
use std::collections::BTreeMap;

/// Everything RegisterTaskDefinition needs, as SDK types.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    pub family: String,
    pub containers: Vec<ContainerDefinition>,
    pub network_mode: Option<NetworkMode>,
    pub requires_compatibilities: Vec<EcsCompatibility>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub runtime_platform: Option<RuntimePlatform>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub volumes: Vec<Volume>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub tags: Vec<Tag>,
}

/// An SDK builder refused a value the schema should have excluded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the task definition request: {0}")]
pub struct TranslateError(String);

fn build_err(e: impl std::fmt::Display) -> TranslateError {
    TranslateError(e.to_string())
}

fn key_values(map: &BTreeMap<String, String>) -> Vec<KeyValuePair> {
    map.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()
}

fn secrets(map: &BTreeMap<String, String>) -> Result<Vec<Secret>, TranslateError> {
    map.iter().map(|(k, v)| Secret::builder().name(k).value_from(v).build().map_err(build_err)).collect()
}

fn network_mode(mode: SpecNetworkMode) -> NetworkMode {
    match mode {
        SpecNetworkMode::Awsvpc => NetworkMode::Awsvpc,
        SpecNetworkMode::Bridge => NetworkMode::Bridge,
        SpecNetworkMode::Host => NetworkMode::Host,
        SpecNetworkMode::None => NetworkMode::None,
    }
}

fn compatibility(c: Compatibility) -> EcsCompatibility {
    match c {
        Compatibility::Fargate => EcsCompatibility::Fargate,
        Compatibility::Ec2 => EcsCompatibility::Ec2,
        Compatibility::External => EcsCompatibility::External,
        Compatibility::ManagedInstances => EcsCompatibility::from("MANAGED_INSTANCES"),
    }
}

fn container(c: &SpecContainer, mode: Option<SpecNetworkMode>) -> Result<ContainerDefinition, TranslateError> {
    let same_port_on_host = matches!(mode, Some(SpecNetworkMode::Awsvpc | SpecNetworkMode::Host));
    let ports = c
        .port_mappings
        .iter()
        .map(|p| {
            // awsvpc and host mode: the host port is the container port. bridge: 0 or
            // unset asks for a dynamic host port.
            let host_port = if same_port_on_host { Some(p.container_port) } else { p.host_port.filter(|h| *h != 0) };
            PortMapping::builder()
                .container_port(p.container_port)
                .set_host_port(host_port)
                .protocol(match p.protocol.unwrap_or(TransportProtocol::Tcp) {
                    TransportProtocol::Tcp => EcsTransportProtocol::Tcp,
                    TransportProtocol::Udp => EcsTransportProtocol::Udp,
                })
                .set_name(p.name.clone())
                .set_app_protocol(p.app_protocol.map(|a| match a {
                    AppProtocol::Http => ApplicationProtocol::Http,
                    AppProtocol::Http2 => ApplicationProtocol::Http2,
                    AppProtocol::Grpc => ApplicationProtocol::Grpc,
                }))
                .build()
        })
        .collect();
    let health_check = match &c.health_check {
        Some(h) => Some(
            HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval)
                .set_timeout(h.timeout)
                .set_retries(h.retries)
                .set_start_period(h.start_period)
                .build()
                .map_err(build_err)?,
        ),
        None => None,
    };
    let log_configuration = match &c.log_configuration {
        Some(l) => Some(
            LogConfiguration::builder()
                .log_driver(LogDriver::from(l.log_driver.as_str()))
                .set_options((!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()))
                .set_secret_options((!l.secret_options.is_empty()).then(|| secrets(&l.secret_options)).transpose()?)
                .build()
                .map_err(build_err)?,
        ),
        None => None,
    };
    let depends_on = c
        .depends_on
        .iter()
        .map(|d| {
            ContainerDependency::builder()
                .container_name(&d.container_name)
                .condition(match d.condition {
                    DependencyCondition::Start => ContainerCondition::Start,
                    DependencyCondition::Complete => ContainerCondition::Complete,
                    DependencyCondition::Success => ContainerCondition::Success,
                    DependencyCondition::Healthy => ContainerCondition::Healthy,
                })
                .build()
                .map_err(build_err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ulimits = c
        .ulimits
        .iter()
        .map(|u| {
            Ulimit::builder()
                .name(UlimitName::from(u.name.as_str()))
                .soft_limit(u.soft_limit)
                .hard_limit(u.hard_limit)
                .build()
                .map_err(build_err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_port_mappings(Some(ports))
        .set_environment(Some(key_values(&c.environment)))
        .set_secrets(Some(secrets(&c.secrets)?))
        .set_command((!c.command.is_empty()).then(|| c.command.clone()))
        .set_entry_point((!c.entry_point.is_empty()).then(|| c.entry_point.clone()))
        .set_working_directory(c.working_directory.clone())
        .essential(c.essential)
        .set_health_check(health_check)
        .set_log_configuration(log_configuration)
        .set_depends_on((!depends_on.is_empty()).then_some(depends_on))
        .set_mount_points(Some(
            c.mount_points
                .iter()
                .map(|m| {
                    MountPoint::builder()
                        .source_volume(&m.source_volume)
                        .container_path(&m.container_path)
                        .read_only(m.read_only)
                        .build()
                })
                .collect(),
        ))
        .set_ulimits((!ulimits.is_empty()).then_some(ulimits))
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_user(c.user.clone())
        .set_stop_timeout(c.stop_timeout)
        .build())
}

fn volume(v: &SpecVolume) -> Result<Volume, TranslateError> {
    let efs = match &v.efs {
        Some(e) => Some(
            EfsVolumeConfiguration::builder()
                .file_system_id(&e.file_system_id)
                .set_root_directory(e.root_directory.clone())
                .transit_encryption(if e.transit_encryption {
                    EfsTransitEncryption::Enabled
                } else {
                    EfsTransitEncryption::Disabled
                })
                .set_authorization_config((e.access_point_id.is_some() || e.iam).then(|| {
                    EfsAuthorizationConfig::builder()
                        .set_access_point_id(e.access_point_id.clone())
                        .iam(if e.iam {
                            EfsAuthorizationConfigIam::Enabled
                        } else {
                            EfsAuthorizationConfigIam::Disabled
                        })
                        .build()
                }))
                .build()
                .map_err(build_err)?,
        ),
        None => None,
    };
    Ok(Volume::builder()
        .name(&v.name)
        .set_host(v.host_path.as_ref().map(|p| HostVolumeProperties::builder().source_path(p).build()))
        .set_efs_volume_configuration(efs)
        .build())
}

/// The RegisterTaskDefinition request for a validated spec. `tags` are the user's
/// tags plus the ownership tags; the spec hash tag is added here.
pub fn register_request(
    object_name: &str,
    spec: &TaskDefinitionSpec,
    tags: &BTreeMap<String, String>,
    hash: &str,
) -> Result<RegisterRequest, TranslateError> {
    let mut all_tags = tags.clone();
    all_tags.insert(SPEC_HASH_TAG.to_string(), hash.to_string());
    Ok(RegisterRequest {
        family: family(object_name, spec),
        containers: spec.containers.iter().map(|c| container(c, spec.network_mode)).collect::<Result<_, _>>()?,
        network_mode: spec.network_mode.map(network_mode),
        requires_compatibilities: spec.requires_compatibilities.iter().copied().map(compatibility).collect(),
        cpu: spec.cpu.as_deref().and_then(parse_cpu).map(|c| c.to_string()),
        memory: spec.memory.as_deref().and_then(parse_memory).map(|m| m.to_string()),
        runtime_platform: spec.runtime_platform.as_ref().map(|p| {
            RuntimePlatform::builder()
                .set_cpu_architecture(p.cpu_architecture.map(|a| match a {
                    CpuArchitecture::X86_64 => EcsCpuArchitecture::X8664,
                    CpuArchitecture::Arm64 => EcsCpuArchitecture::Arm64,
                }))
                .set_operating_system_family(p.operating_system_family.as_deref().map(OsFamily::from))
                .build()
        }),
        task_role_arn: spec.task_role_arn.clone(),
        execution_role_arn: spec.execution_role_arn.clone(),
        volumes: spec.volumes.iter().map(volume).collect::<Result<_, _>>()?,
        ephemeral_storage: spec.ephemeral_storage_gib.map(|gib| EphemeralStorage::builder().size_in_gib(gib).build()),
        tags: all_tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
    })
}
