//! The AWS resources a Service owns, as recorded in its status: recording them as
//! they come into being, and which recorded ones the current spec no longer wants.
//! Cleanup works from this record, never from the current spec, which may already
//! point elsewhere.

use super::service::ObservedService;
use crate::crd::service::{OwnedKind, OwnedResource};

/// Adds `resource` to `records` unless it is there already.
pub fn record(records: &mut Vec<OwnedResource>, resource: OwnedResource) {
    if !records.contains(&resource) {
        records.push(resource);
        records.sort();
    }
}

/// Removes `resource` from `records`.
pub fn forget(records: &mut Vec<OwnedResource>, resource: &OwnedResource) {
    records.retain(|r| r != resource);
}

/// The recorded resources that are not `wanted`, in the order to delete them:
/// scaling policies, scalable targets, ECS services, listener rules, listeners,
/// load balancers, target groups (each after whatever uses it).
pub fn stale(records: &[OwnedResource], wanted: &[OwnedResource]) -> Vec<OwnedResource> {
    let mut out: Vec<OwnedResource> = records.iter().filter(|r| !wanted.contains(r)).cloned().collect();
    out.sort_by_key(|r| r.kind);
    out
}

pub fn resource(kind: OwnedKind, id: &str, region: &str, parent: Option<&str>) -> OwnedResource {
    OwnedResource { kind, id: id.to_string(), region: region.to_string(), parent: parent.map(str::to_string) }
}

/// An ECS service: its ARN, region and cluster ARN.
pub fn ecs_service(arn: &str, region: &str, cluster_arn: &str) -> OwnedResource {
    resource(OwnedKind::EcsService, arn, region, Some(cluster_arn))
}

/// The service name in a service ARN (`...:service/<cluster>/<name>` or the older
/// `...:service/<name>`).
pub fn service_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What deleting an ECS service needs next, from what ECS reports of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRemoval {
    /// Gone (or INACTIVE): done.
    Gone,
    /// There: delete it (with `force`, so ECS stops its tasks without a scale
    /// to zero first).
    Delete,
    /// Deleted and draining: wait.
    Draining,
}

pub fn service_removal(observed: Option<&ObservedService>) -> ServiceRemoval {
    match observed.filter(|o| o.exists()) {
        None => ServiceRemoval::Gone,
        Some(o) if o.status == "DRAINING" => ServiceRemoval::Draining,
        Some(_) => ServiceRemoval::Delete,
    }
}

/// Whether a newly placed service has taken over, so that the one it replaces may
/// go (make before break): its PRIMARY deployment completed and it runs at least
/// as many tasks as it wants.
pub fn has_taken_over(new: Option<&ObservedService>) -> bool {
    new.filter(|o| o.exists() && o.status == "ACTIVE").is_some_and(|o| {
        let primary = o.deployments.iter().find(|d| d.status == "PRIMARY");
        let completed = primary.is_some_and(|p| p.rollout_state.as_deref().is_none_or(|s| s == "COMPLETED"));
        completed && o.running_count >= o.desired_count
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::service::ObservedDeployment;

    fn r(kind: OwnedKind, id: &str) -> OwnedResource {
        resource(kind, id, "eu-west-1", None)
    }

    #[test]
    fn stale_resources_come_in_dependency_order_and_wanted_ones_stay() {
        let records = vec![
            r(OwnedKind::TargetGroup, "tg"),
            r(OwnedKind::LoadBalancer, "lb"),
            r(OwnedKind::ListenerRule, "rule-old"),
            r(OwnedKind::ListenerRule, "rule-new"),
            r(OwnedKind::Listener, "listener"),
            ecs_service("svc-old", "eu-west-1", "cluster-a"),
            ecs_service("svc-new", "eu-west-1", "cluster-b"),
            r(OwnedKind::ScalableTarget, "service/a/api"),
            r(OwnedKind::ScalingPolicy, "api-cpu"),
        ];
        let wanted = vec![ecs_service("svc-new", "eu-west-1", "cluster-b"), r(OwnedKind::ListenerRule, "rule-new")];
        let kinds: Vec<(OwnedKind, String)> = stale(&records, &wanted).into_iter().map(|s| (s.kind, s.id)).collect();
        assert_eq!(
            kinds,
            vec![
                (OwnedKind::ScalingPolicy, "api-cpu".into()),
                (OwnedKind::ScalableTarget, "service/a/api".into()),
                (OwnedKind::EcsService, "svc-old".into()),
                (OwnedKind::ListenerRule, "rule-old".into()),
                (OwnedKind::Listener, "listener".into()),
                (OwnedKind::LoadBalancer, "lb".into()),
                (OwnedKind::TargetGroup, "tg".into()),
            ]
        );
        assert!(stale(&records, &records).is_empty());
        // The same id in another region is another resource.
        let elsewhere = resource(OwnedKind::TargetGroup, "tg", "us-east-1", None);
        assert_eq!(stale(std::slice::from_ref(&elsewhere), &records), vec![elsewhere]);
    }

    #[test]
    fn records_have_no_duplicates() {
        let mut records = Vec::new();
        record(&mut records, r(OwnedKind::Listener, "l"));
        record(&mut records, r(OwnedKind::Listener, "l"));
        record(&mut records, r(OwnedKind::TargetGroup, "t"));
        assert_eq!(records.len(), 2);
        forget(&mut records, &r(OwnedKind::Listener, "l"));
        assert_eq!(records, vec![r(OwnedKind::TargetGroup, "t")]);
    }

    #[test]
    fn service_names_from_arns() {
        assert_eq!(service_name_of("arn:aws:ecs:eu-west-1:1:service/web/api"), "api");
        assert_eq!(service_name_of("arn:aws:ecs:eu-west-1:1:service/api"), "api");
    }

    fn svc(status: &str, desired: i32, running: i32, rollout: Option<&str>) -> ObservedService {
        ObservedService {
            status: status.into(),
            desired_count: desired,
            running_count: running,
            deployments: vec![ObservedDeployment {
                status: "PRIMARY".into(),
                rollout_state: rollout.map(str::to_string),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn removal_steps_follow_what_ecs_reports() {
        assert_eq!(service_removal(None), ServiceRemoval::Gone);
        assert_eq!(service_removal(Some(&svc("INACTIVE", 0, 0, None))), ServiceRemoval::Gone);
        assert_eq!(service_removal(Some(&svc("ACTIVE", 2, 2, None))), ServiceRemoval::Delete);
        assert_eq!(service_removal(Some(&svc("ACTIVE", 0, 0, None))), ServiceRemoval::Delete);
        assert_eq!(service_removal(Some(&svc("DRAINING", 0, 1, None))), ServiceRemoval::Draining);
    }

    #[test]
    fn a_replacement_takes_over_once_its_rollout_completed() {
        assert!(!has_taken_over(None));
        assert!(!has_taken_over(Some(&svc("ACTIVE", 2, 1, Some("IN_PROGRESS")))));
        assert!(!has_taken_over(Some(&svc("ACTIVE", 2, 1, Some("COMPLETED")))));
        assert!(!has_taken_over(Some(&svc("ACTIVE", 2, 2, Some("FAILED")))));
        assert!(has_taken_over(Some(&svc("ACTIVE", 2, 2, Some("COMPLETED")))));
        assert!(has_taken_over(Some(&svc("ACTIVE", 2, 2, None))));
    }
}
