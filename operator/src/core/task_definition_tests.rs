// Fixtures and tests of the TaskDefinition core. Where moto accepts task
// definitions real ECS rejects (invalid Fargate sizes, memory below the
// reservation, dangling dependsOn), these tests are where the real rule is checked.

use super::*;
use crate::core::task_definition_request::register_request;
use crate::crd::task_definition::{
    ContainerDefinition, ContainerDependency, DependencyCondition, EfsVolume, HealthCheck, LogConfiguration,
    MountPoint, PortMapping, Volume,
};

fn container(name: &str) -> ContainerDefinition {
    ContainerDefinition {
        name: name.into(),
        image: format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{name}:1.0"),
        cpu: None,
        memory: None,
        memory_reservation: Some(256),
        port_mappings: vec![PortMapping {
            container_port: 3000,
            host_port: None,
            protocol: None,
            name: None,
            app_protocol: None,
        }],
        environment: BTreeMap::from([("NODE_ENV".into(), "production".into()), ("LOG_LEVEL".into(), "info".into())]),
        secrets: BTreeMap::from([(
            "DB_PASSWORD".into(),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf".into(),
        )]),
        command: vec![],
        entry_point: vec![],
        working_directory: None,
        essential: true,
        health_check: Some(HealthCheck {
            command: vec!["CMD-SHELL".into(), "curl -f http://localhost:3000/health || exit 1".into()],
            interval: Some(15),
            timeout: None,
            retries: None,
            start_period: None,
        }),
        log_configuration: Some(LogConfiguration {
            log_driver: "awslogs".into(),
            options: BTreeMap::from([("awslogs-group".into(), "/ecs/api".into())]),
            secret_options: BTreeMap::new(),
        }),
        depends_on: vec![],
        mount_points: vec![],
        ulimits: vec![],
        readonly_root_filesystem: None,
        user: None,
        stop_timeout: None,
    }
}

fn fargate_spec() -> TaskDefinitionSpec {
    TaskDefinitionSpec {
        network_mode: Some(NetworkMode::Awsvpc),
        requires_compatibilities: vec![Compatibility::Fargate],
        cpu: Some("256".into()),
        memory: Some("512".into()),
        containers: vec![container("api")],
        revision_history_limit: 5,
        ..Default::default()
    }
}

#[test]
fn a_realistic_fargate_spec_is_valid() {
    assert_eq!(validate("api", &fargate_spec()), Vec::<String>::new());
}

#[test]
fn invalid_fargate_sizes_are_explained() {
    let spec = TaskDefinitionSpec { cpu: Some("256".into()), memory: Some("4096".into()), ..fargate_spec() };
    let problems = validate("api", &spec);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("Fargate does not offer cpu 256 with memory 4096"));
    for (cpu, mem) in
        [("0.25 vCPU", "0.5 GB"), ("1 vCPU", "2 GB"), ("4096", "30720"), ("8192", "16384"), ("16384", "122880")]
    {
        let spec = TaskDefinitionSpec { cpu: Some(cpu.into()), memory: Some(mem.into()), ..fargate_spec() };
        assert!(validate("api", &spec).is_empty(), "{cpu}/{mem} is valid");
    }
    let spec = TaskDefinitionSpec { cpu: Some("8192".into()), memory: Some("18432".into()), ..fargate_spec() };
    assert_eq!(validate("api", &spec).len(), 1, "8 vCPU goes in 4 GB steps");
}

#[test]
fn unparseable_sizes_are_explained() {
    let spec = TaskDefinitionSpec { cpu: Some("lots".into()), memory: Some("big".into()), ..fargate_spec() };
    let problems = validate("api", &spec);
    assert!(problems.iter().any(|p| p.contains("spec.cpu \"lots\"")));
    assert!(problems.iter().any(|p| p.contains("spec.memory \"big\"")));
}

#[test]
fn container_references_must_resolve() {
    let mut spec = fargate_spec();
    spec.containers[0].depends_on =
        vec![ContainerDependency { container_name: "sidecar".into(), condition: DependencyCondition::Healthy }];
    spec.containers[0].mount_points =
        vec![MountPoint { source_volume: "data".into(), container_path: "/data".into(), read_only: false }];
    let problems = validate("api", &spec);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("depends on \"sidecar\""));
    assert!(problems[1].contains("mounts volume \"data\""));
}

#[test]
fn memory_must_fit_the_task() {
    let mut spec = fargate_spec();
    spec.containers[0].memory = Some(1024);
    spec.containers[0].memory_reservation = Some(600);
    let problems = validate("api", &spec);
    assert!(problems.iter().any(|p| p.contains("memory 1024 MiB is above the task memory 512")));
    assert!(problems.iter().any(|p| p.contains("reserve 600 MiB in total")));
}

#[test]
fn secrets_must_name_a_secret_or_parameter() {
    let mut spec = fargate_spec();
    spec.containers[0].secrets.insert("TOKEN".into(), "arn:aws:s3:::bucket/token".into());
    spec.containers[0].secrets.insert("API_KEY".into(), "/prod/api-key".into());
    let problems = validate("api", &spec);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("TOKEN"));
}

#[test]
fn efs_authorization_needs_transit_encryption_and_fargate_has_no_host_paths() {
    let mut spec = fargate_spec();
    spec.volumes = vec![
        Volume {
            name: "shared".into(),
            host_path: None,
            efs: Some(EfsVolume {
                file_system_id: "fs-1234".into(),
                root_directory: None,
                transit_encryption: false,
                access_point_id: Some("fsap-1".into()),
                iam: false,
            }),
        },
        Volume { name: "host".into(), host_path: Some("/var/run".into()), efs: None },
    ];
    let problems = validate("api", &spec);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn the_hash_ignores_order_defaults_and_policies() {
    let base = fargate_spec();
    let h = spec_hash("api", &base);
    assert_eq!(h.len(), 16);

    let mut reordered = base.clone();
    reordered.containers.push(container("sidecar"));
    let mut reordered_other = reordered.clone();
    reordered_other.containers.reverse();
    assert_eq!(spec_hash("api", &reordered), spec_hash("api", &reordered_other));

    let mut defaults_spelled_out = base.clone();
    defaults_spelled_out.containers[0].port_mappings[0].host_port = Some(3000);
    defaults_spelled_out.cpu = Some("0.25 vCPU".into());
    defaults_spelled_out.family = Some("api".into());
    defaults_spelled_out.revision_history_limit = 2;
    defaults_spelled_out.deletion_policy = crate::crd::DeletionPolicy::Retain;
    assert_eq!(spec_hash("api", &defaults_spelled_out), h);

    let mut changed = base.clone();
    changed.containers[0].image = "nginx:1.27".into();
    assert_ne!(spec_hash("api", &changed), h);
    let mut env_changed = base;
    env_changed.containers[0].environment.insert("NEW".into(), "1".into());
    assert_ne!(spec_hash("api", &env_changed), h);
}

#[test]
fn the_request_carries_the_spec_in_ecs_terms() {
    let spec = TaskDefinitionSpec { cpu: Some("1 vCPU".into()), memory: Some("2 GB".into()), ..fargate_spec() };
    let tags = BTreeMap::from([("team".to_string(), "shop".to_string())]);
    let req = register_request("api", &spec, &tags, "abc").unwrap();
    assert_eq!(req.family, "api");
    assert_eq!(req.cpu.as_deref(), Some("1024"));
    assert_eq!(req.memory.as_deref(), Some("2048"));
    assert_eq!(req.network_mode, Some(aws_sdk_ecs::types::NetworkMode::Awsvpc));
    let c = &req.containers[0];
    assert_eq!(c.port_mappings()[0].host_port(), Some(3000), "awsvpc: host port = container port");
    assert_eq!(c.environment().len(), 2);
    assert_eq!(c.environment()[0].name(), Some("LOG_LEVEL"), "environment is sorted");
    assert_eq!(c.secrets()[0].value_from(), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf");
    assert_eq!(c.essential(), Some(true));
    assert!(req.tags.iter().any(|t| t.key() == Some(SPEC_HASH_TAG) && t.value() == Some("abc")));
    assert!(req.tags.iter().any(|t| t.key() == Some("team")));
}

#[test]
fn bridge_mode_keeps_dynamic_host_ports() {
    let mut spec = TaskDefinitionSpec {
        network_mode: Some(NetworkMode::Bridge),
        requires_compatibilities: vec![Compatibility::Ec2],
        cpu: None,
        memory: None,
        ..fargate_spec()
    };
    spec.containers[0].port_mappings[0].host_port = Some(0);
    let req = register_request("api", &spec, &BTreeMap::new(), "h").unwrap();
    assert_eq!(req.containers[0].port_mappings()[0].host_port(), None);
}

#[test]
fn arns_name_family_and_revision() {
    let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/api-worker:12";
    assert_eq!(family_of_arn(arn), Some("api-worker"));
    assert_eq!(revision_of_arn(arn), Some(12));
    assert_eq!(family_of_arn("arn:aws:ecs:us-east-1:1:cluster/x"), None);
}

fn kept(revisions: &[i32]) -> Vec<KeptRevision> {
    revisions
        .iter()
        .map(|r| KeptRevision { revision: *r, arn: format!("arn:aws:ecs:us-east-1:1:task-definition/api:{r}") })
        .collect()
}

#[test]
fn retention_keeps_the_current_and_the_newest_older_revisions() {
    let all = kept(&[1, 2, 3, 4, 5, 6]);
    let current = all[5].arn.clone();
    let gone = revisions_to_deregister(&all, Some(&current), 2, &BTreeSet::new());
    assert_eq!(gone.iter().map(|k| k.revision).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert!(revisions_to_deregister(&all, Some(&current), 10, &BTreeSet::new()).is_empty());
    // Limit 0: only the current one stays.
    assert_eq!(revisions_to_deregister(&all, Some(&current), 0, &BTreeSet::new()).len(), 5);
}

#[test]
fn retention_never_removes_a_revision_a_deployment_uses() {
    let all = kept(&[1, 2, 3, 4]);
    let in_use = BTreeSet::from([all[0].arn.clone()]);
    let gone = revisions_to_deregister(&all, Some(&all[3].arn), 1, &in_use);
    assert_eq!(gone.iter().map(|k| k.revision).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn status_reports_the_revision_and_kept_history() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let arn = "arn:aws:ecs:us-east-1:1:task-definition/api:3";
    let s = status(None, Some(4), "api", "us-east-1", Some((arn, 3, "h")), kept(&[2, 3]), &Outcome::Synced, now);
    assert_eq!(s.revision, Some(3));
    assert_eq!(s.revisions[0].revision, 3, "newest first");
    let ready = conditions::find(&s.conditions, READY).unwrap();
    assert_eq!((ready.status.as_str(), ready.observed_generation), ("True", Some(4)));
    let s = status(Some(&s), Some(5), "api", "us-east-1", None, kept(&[2, 3]), &Outcome::Invalid("bad".into()), now);
    assert_eq!(s.revision, Some(3), "an invalid spec keeps the last good revision in status");
    let synced = conditions::find(&s.conditions, SYNCED).unwrap();
    assert_eq!((synced.reason.as_str(), synced.message.as_str()), ("Invalid", "bad"));
}

#[test]
fn aws_errors_say_whether_retrying_can_help() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let reason = |outcome: &Outcome| {
        let s = status(None, Some(1), "api", "us-east-1", None, vec![], outcome, now);
        let synced = conditions::find(&s.conditions, SYNCED).unwrap().reason.clone();
        let ready = conditions::find(&s.conditions, READY).unwrap().reason.clone();
        (synced, ready)
    };
    let retrying = reason(&Outcome::AwsRetrying("RegisterTaskDefinition failed: ThrottlingException".into()));
    assert_eq!(retrying, ("AwsRetrying".to_string(), "AwsRetrying".to_string()));
    let refused = reason(&Outcome::AwsError("RegisterTaskDefinition failed: AccessDeniedException".into()));
    assert_eq!(refused, ("AwsError".to_string(), "AwsError".to_string()));
}
