//! Who owns an AWS resource, read from its tags, and what the operator may do with it.

use crate::crd::AdoptionPolicy;
use std::collections::BTreeMap;

/// Tag naming the Kubernetes object that owns a resource: `<namespace>/<Kind>/<name>`.
pub const OWNER_TAG: &str = "ecs.operator.dev/owner";
/// Tag naming the operator installation that owns a resource.
pub const INSTANCE_TAG: &str = "ecs.operator.dev/instance";
/// Prefix of every tag the operator reserves for itself.
pub const RESERVED_PREFIX: &str = "ecs.operator.dev/";

/// The owner of the resources one object creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `<namespace>/<Kind>/<name>`.
    pub id: String,
    /// The operator installation (`--instance-id`).
    pub instance: String,
}

impl Owner {
    pub fn new(namespace: &str, kind: &str, name: &str, instance: &str) -> Self {
        Self { id: format!("{namespace}/{kind}/{name}"), instance: instance.to_string() }
    }

    /// The ownership tags to put on what this owner creates.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(OWNER_TAG.to_string(), self.id.clone()), (INSTANCE_TAG.to_string(), self.instance.clone())])
    }
}

/// Who owns a resource, by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Created (or adopted) by this object through this operator installation.
    Ours,
    /// No owner tag: created outside the operator.
    Unowned,
    /// Owned by another object or another operator installation.
    Other(String),
}

pub fn ownership(tags: &BTreeMap<String, String>, owner: &Owner) -> Ownership {
    match (tags.get(OWNER_TAG), tags.get(INSTANCE_TAG)) {
        (None, _) => Ownership::Unowned,
        (Some(id), instance) if *id == owner.id && instance == Some(&owner.instance) => Ownership::Ours,
        (Some(id), instance) => {
            Ownership::Other(format!("{id} (operator instance {})", instance.map(String::as_str).unwrap_or("unknown")))
        }
    }
}

/// What the operator does with an existing resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ours: manage it.
    Manage,
    /// Unowned and the user opted in: tag it as ours, then manage it.
    Adopt,
    /// Leave it alone and say why.
    Conflict(String),
}

/// Decides what to do with `resource` (described for messages) given its ownership.
pub fn decide(ownership: &Ownership, policy: AdoptionPolicy, resource: &str) -> Decision {
    match (ownership, policy) {
        (Ownership::Ours, _) => Decision::Manage,
        (Ownership::Unowned, AdoptionPolicy::AdoptUnowned) => Decision::Adopt,
        (Ownership::Unowned, AdoptionPolicy::Never) => Decision::Conflict(format!(
            "{resource} already exists and was not created by ecs-operator; set spec.adoptionPolicy: AdoptUnowned \
             to manage it, or choose another name"
        )),
        (Ownership::Other(other), _) => {
            Decision::Conflict(format!("{resource} already exists and belongs to {other}; choose another name"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("shop", "Cluster", "web", "default")
    }

    #[test]
    fn reads_ownership_from_tags() {
        assert_eq!(ownership(&BTreeMap::new(), &owner()), Ownership::Unowned);
        assert_eq!(ownership(&owner().tags(), &owner()), Ownership::Ours);
        let other = Owner::new("shop", "Cluster", "api", "default").tags();
        assert!(matches!(ownership(&other, &owner()), Ownership::Other(o) if o.contains("shop/Cluster/api")));
        let other_instance = Owner::new("shop", "Cluster", "web", "staging").tags();
        assert!(matches!(ownership(&other_instance, &owner()), Ownership::Other(o) if o.contains("staging")));
    }

    #[test]
    fn adopts_only_unowned_resources_and_only_when_asked() {
        assert_eq!(decide(&Ownership::Ours, AdoptionPolicy::Never, "x"), Decision::Manage);
        assert_eq!(decide(&Ownership::Unowned, AdoptionPolicy::AdoptUnowned, "x"), Decision::Adopt);
        assert!(matches!(decide(&Ownership::Unowned, AdoptionPolicy::Never, "ECS cluster web"),
            Decision::Conflict(m) if m.contains("ECS cluster web") && m.contains("adoptionPolicy")));
        assert!(matches!(decide(&Ownership::Other("a/b/c".into()), AdoptionPolicy::AdoptUnowned, "x"),
            Decision::Conflict(m) if m.contains("a/b/c")));
    }
}
