//! Which AWS API family (token bucket) an operation draws from, and the
//! operator's own client-side quota for it: a share of the account's published
//! bucket, so that the operator alone never gets throttled and leaves room for
//! the deploy pipelines and consoles that use the same account and region.

/// A group of operations that AWS throttles together (one token bucket), per
/// account and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    EcsClusterRead,
    EcsClusterModify,
    EcsCapacityProviderRead,
    EcsCapacityProviderModify,
    EcsServiceRead,
    EcsServiceModify,
    EcsServiceDeployments,
    EcsTaskDefinitionRead,
    EcsTaskDefinitionModify,
    EcsClusterResourceRead,
    EcsClusterResourceModify,
    EcsTagRead,
    EcsTagModify,
    /// Every ELB action also draws from one bucket per account.
    ElbAccount,
    ElbNonMutating,
    ElbMutating,
    ElbRegistration,
    ElbResourceIntensive,
    AutoscalingRead,
    AutoscalingWrite,
}

/// A token bucket: `burst` calls at once, `per_second` sustained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub burst: u32,
    pub per_second: f64,
}

/// The share of each published bucket the operator allows itself.
pub const SHARE: f64 = 0.8;

impl Family {
    /// Every family: the order of `docs/operating.md`'s table.
    pub const ALL: [Family; 20] = [
        Family::EcsClusterRead,
        Family::EcsClusterModify,
        Family::EcsCapacityProviderRead,
        Family::EcsCapacityProviderModify,
        Family::EcsServiceRead,
        Family::EcsServiceModify,
        Family::EcsServiceDeployments,
        Family::EcsTaskDefinitionRead,
        Family::EcsTaskDefinitionModify,
        Family::EcsClusterResourceRead,
        Family::EcsClusterResourceModify,
        Family::EcsTagRead,
        Family::EcsTagModify,
        Family::ElbAccount,
        Family::ElbNonMutating,
        Family::ElbMutating,
        Family::ElbRegistration,
        Family::ElbResourceIntensive,
        Family::AutoscalingRead,
        Family::AutoscalingWrite,
    ];

    /// The buckets `operation` of AWS service `service` (the SDK's names: `ecs`,
    /// `elasticloadbalancing`, `application-autoscaling`) draws from; empty for
    /// an operation the operator does not rate-limit.
    pub fn of(service: &str, operation: &str) -> Vec<Family> {
        match service {
            "ecs" => ecs_family(operation).into_iter().collect(),
            "elasticloadbalancing" => {
                let category = match operation {
                    "CreateLoadBalancer" | "SetSubnets" => Family::ElbResourceIntensive,
                    "RegisterTargets" | "DeregisterTargets" => Family::ElbRegistration,
                    op if op.starts_with("Describe") => Family::ElbNonMutating,
                    _ => Family::ElbMutating,
                };
                vec![Family::ElbAccount, category]
            }
            "application-autoscaling" => {
                vec![if operation.starts_with("Describe") { Family::AutoscalingRead } else { Family::AutoscalingWrite }]
            }
            _ => Vec::new(),
        }
    }

    /// The account's bucket as AWS publishes it (ECS: "Request throttling for
    /// the Amazon ECS API"; ELB: "Request throttling for the ELB API").
    /// Application Auto Scaling publishes none: those two are the operator's
    /// own cautious figures.
    pub fn published(self) -> Quota {
        let (burst, per_second) = match self {
            Family::EcsClusterRead => (50, 20.0),
            Family::EcsClusterModify => (20, 1.0),
            Family::EcsCapacityProviderRead => (50, 20.0),
            Family::EcsCapacityProviderModify => (10, 1.0),
            Family::EcsServiceRead => (100, 20.0),
            Family::EcsServiceModify => (50, 5.0),
            Family::EcsServiceDeployments => (50, 20.0),
            Family::EcsTaskDefinitionRead => (50, 20.0),
            Family::EcsTaskDefinitionModify => (20, 1.0),
            Family::EcsClusterResourceRead => (100, 20.0),
            Family::EcsClusterResourceModify => (100, 40.0),
            Family::EcsTagRead => (50, 20.0),
            Family::EcsTagModify => (20, 10.0),
            Family::ElbAccount => (40, 10.0),
            Family::ElbNonMutating => (40, 10.0),
            Family::ElbMutating => (20, 3.0),
            Family::ElbRegistration => (20, 4.0),
            Family::ElbResourceIntensive => (10, 0.2),
            Family::AutoscalingRead => (20, 5.0),
            Family::AutoscalingWrite => (10, 2.0),
        };
        Quota { burst, per_second }
    }

    /// The operator's own quota: `SHARE` of the published bucket, so that the
    /// operator alone never empties it and leaves room for the deploy
    /// pipelines and consoles of the same account.
    pub fn quota(self) -> Quota {
        let published = self.published();
        let burst = (f64::from(published.burst) * SHARE).floor().max(1.0);
        Quota { burst: burst as u32, per_second: published.per_second * SHARE }
    }

    /// The name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Family::EcsClusterRead => "ecs-cluster-read",
            Family::EcsClusterModify => "ecs-cluster-modify",
            Family::EcsCapacityProviderRead => "ecs-capacity-provider-read",
            Family::EcsCapacityProviderModify => "ecs-capacity-provider-modify",
            Family::EcsServiceRead => "ecs-service-read",
            Family::EcsServiceModify => "ecs-service-modify",
            Family::EcsServiceDeployments => "ecs-service-deployments",
            Family::EcsTaskDefinitionRead => "ecs-task-definition-read",
            Family::EcsTaskDefinitionModify => "ecs-task-definition-modify",
            Family::EcsClusterResourceRead => "ecs-cluster-resource-read",
            Family::EcsClusterResourceModify => "ecs-cluster-resource-modify",
            Family::EcsTagRead => "ecs-tag-read",
            Family::EcsTagModify => "ecs-tag-modify",
            Family::ElbAccount => "elbv2-account",
            Family::ElbNonMutating => "elbv2-non-mutating",
            Family::ElbMutating => "elbv2-mutating",
            Family::ElbRegistration => "elbv2-registration",
            Family::ElbResourceIntensive => "elbv2-resource-intensive",
            Family::AutoscalingRead => "application-autoscaling-read",
            Family::AutoscalingWrite => "application-autoscaling-write",
        }
    }
}

fn ecs_family(operation: &str) -> Option<Family> {
    Some(match operation {
        "DescribeClusters" | "ListClusters" => Family::EcsClusterRead,
        "CreateCluster"
        | "DeleteCluster"
        | "UpdateCluster"
        | "UpdateClusterSettings"
        | "PutClusterCapacityProviders" => Family::EcsClusterModify,
        "DescribeCapacityProviders" => Family::EcsCapacityProviderRead,
        "CreateCapacityProvider" | "UpdateCapacityProvider" | "DeleteCapacityProvider" => {
            Family::EcsCapacityProviderModify
        }
        "DescribeServices" | "ListServices" => Family::EcsServiceRead,
        "CreateService" | "UpdateService" | "DeleteService" => Family::EcsServiceModify,
        "DescribeServiceDeployments" | "ListServiceDeployments" => Family::EcsServiceDeployments,
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            Family::EcsTaskDefinitionRead
        }
        "RegisterTaskDefinition" | "DeregisterTaskDefinition" => Family::EcsTaskDefinitionModify,
        "DescribeTasks" | "ListTasks" | "DescribeContainerInstances" | "ListContainerInstances" => {
            Family::EcsClusterResourceRead
        }
        "RunTask" | "StartTask" | "StopTask" => Family::EcsClusterResourceModify,
        "ListTagsForResource" => Family::EcsTagRead,
        "TagResource" | "UntagResource" => Family::EcsTagModify,
        _ => return None,
    })
}

/// The operation an AWS request calls, read off the wire: the `X-Amz-Target`
/// header of the JSON protocols (ECS, Application Auto Scaling), else the
/// `Action` parameter of the query protocol's form body (ELBv2).
pub fn operation_of(target: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    if let Some(target) = target {
        return target.rsplit_once('.').map(|(_, op)| op.to_string()).filter(|op| !op.is_empty());
    }
    let body = std::str::from_utf8(body?).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .filter(|op| !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_the_adapters_call_has_a_bucket() {
        // The operations of docs/iam-policy.json (the adapters' operations).
        let policy: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/iam-policy.json")).expect("the policy is JSON");
        let mut seen = 0;
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            for action in statement["Action"].as_array().into_iter().flatten() {
                let Some((service, operation)) = action.as_str().and_then(|a| a.split_once(':')) else { continue };
                if service == "iam" {
                    continue;
                }
                assert!(!Family::of(service, operation).is_empty(), "{action} has no rate-limit family");
                seen += 1;
            }
        }
        assert!(seen > 40, "read {seen} operations from the policy");
    }

    #[test]
    fn families_follow_the_published_groups() {
        assert_eq!(Family::of("ecs", "DescribeServices"), vec![Family::EcsServiceRead]);
        assert_eq!(Family::of("ecs", "UpdateService"), vec![Family::EcsServiceModify]);
        assert_eq!(Family::of("ecs", "DeregisterTaskDefinition"), vec![Family::EcsTaskDefinitionModify]);
        assert_eq!(
            Family::of("elasticloadbalancing", "DescribeRules"),
            vec![Family::ElbAccount, Family::ElbNonMutating]
        );
        assert_eq!(Family::of("elasticloadbalancing", "CreateRule"), vec![Family::ElbAccount, Family::ElbMutating]);
        assert_eq!(
            Family::of("elasticloadbalancing", "CreateLoadBalancer"),
            vec![Family::ElbAccount, Family::ElbResourceIntensive]
        );
        assert_eq!(Family::of("application-autoscaling", "RegisterScalableTarget"), vec![Family::AutoscalingWrite]);
        assert!(Family::of("s3", "GetObject").is_empty());
        assert!(Family::of("ecs", "SomethingNew").is_empty());
    }

    #[test]
    fn each_quota_stays_below_its_bucket_and_allows_progress() {
        for family in Family::ALL {
            let (ours, aws) = (family.quota(), family.published());
            assert!(ours.burst >= 1 && ours.burst < aws.burst, "{family:?}: {ours:?} against {aws:?}");
            assert!(ours.per_second > 0.0 && ours.per_second < aws.per_second, "{family:?}");
        }
    }

    #[test]
    fn the_test_beds_buckets_are_the_published_ones() {
        // tests/support/aws_buckets.json makes the fault proxy throttle as AWS
        // does; it must model the same buckets as this table.
        let bed: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/support/aws_buckets.json")).expect("the file is JSON");
        let buckets = bed["buckets"].as_array().expect("a list of buckets");
        for family in
            Family::ALL.into_iter().filter(|f| !matches!(f, Family::AutoscalingRead | Family::AutoscalingWrite))
        {
            let b = buckets
                .iter()
                .find(|b| b["name"] == family.name())
                .unwrap_or_else(|| panic!("{family:?} not on the bed"));
            let aws = family.published();
            assert_eq!(b["capacity"].as_u64(), Some(u64::from(aws.burst)), "{family:?}");
            assert_eq!(b["refill"].as_f64(), Some(aws.per_second), "{family:?}");
            for op in b["operations"].as_array().into_iter().flatten().filter_map(|o| o.as_str()) {
                let (service, operation) = op.split_once(':').expect("service:operation");
                let ours = Family::of(service, operation);
                assert!(ours.contains(&family), "{op} is in bucket {} on the bed, in {ours:?} here", family.name());
            }
        }
    }

    #[test]
    fn the_operation_is_read_from_the_target_header_or_the_query_body() {
        assert_eq!(
            operation_of(Some("AmazonEC2ContainerServiceV20141113.DescribeServices"), None).as_deref(),
            Some("DescribeServices")
        );
        assert_eq!(
            operation_of(None, Some(b"Action=DescribeRules&Version=2015-12-01&ListenerArn=x")).as_deref(),
            Some("DescribeRules")
        );
        assert_eq!(operation_of(None, Some(b"Version=2015-12-01&Action=CreateRule")).as_deref(), Some("CreateRule"));
        assert_eq!(operation_of(None, Some(b"Version=2015-12-01")), None);
        assert_eq!(operation_of(None, Some(b"Action=Bad%20Op")), None);
        assert_eq!(operation_of(None, None), None);
        assert_eq!(operation_of(Some("NoDot"), None), None);
    }
}
