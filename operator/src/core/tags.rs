//! Tag validation and diffing.

use super::ownership::RESERVED_PREFIX;
use std::collections::BTreeMap;

/// What to change so that a resource's tags equal the desired ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDiff {
    /// Tags to add or overwrite.
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    pub remove: Vec<String>,
}

impl TagDiff {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// Tags are authoritative: keys not desired are removed, except `aws:` tags, which
/// AWS manages and no API may remove.
pub fn diff(desired: &BTreeMap<String, String>, observed: &BTreeMap<String, String>) -> TagDiff {
    TagDiff {
        set: desired
            .iter()
            .filter(|(k, v)| observed.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        remove: observed.keys().filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:")).cloned().collect(),
    }
}

/// Problems with user-supplied tags, as messages saying what to change.
pub fn validate(tags: &BTreeMap<String, String>, field: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // AWS allows 50 tags per resource; the operator adds two of its own.
    if tags.len() > 48 {
        problems.push(format!(
            "{field} has {} tags; at most 48 are allowed (AWS allows 50, the operator uses 2)",
            tags.len()
        ));
    }
    for (key, value) in tags {
        if key.starts_with("aws:") || key.starts_with(RESERVED_PREFIX) {
            problems.push(format!("{field}: tag key {key:?} uses a reserved prefix (aws: or {RESERVED_PREFIX})"));
        }
        if key.is_empty() || key.chars().count() > 128 {
            problems.push(format!("{field}: tag key {key:?} must be 1 to 128 characters"));
        }
        if value.chars().count() > 256 {
            problems.push(format!("{field}: the value of tag {key:?} is longer than 256 characters"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn equal_tags_need_no_change_whatever_their_order() {
        let a = tags(&[("b", "2"), ("a", "1")]);
        let b = tags(&[("a", "1"), ("b", "2")]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn sets_changed_and_new_tags_and_removes_stale_ones_but_not_aws_ones() {
        let desired = tags(&[("team", "shop"), ("env", "prod")]);
        let observed = tags(&[("team", "web"), ("old", "x"), ("aws:cloudformation:stack-name", "s")]);
        let d = diff(&desired, &observed);
        assert_eq!(d.set, tags(&[("team", "shop"), ("env", "prod")]));
        assert_eq!(d.remove, vec!["old".to_string()]);
    }

    #[test]
    fn rejects_reserved_and_oversized_tags() {
        let problems =
            validate(&tags(&[("aws:x", "1"), ("ecs.operator.dev/owner", "me"), ("ok", "fine")]), "spec.tags");
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("reserved prefix"));
        let long_value = "v".repeat(257);
        assert_eq!(validate(&tags(&[("k", &long_value)]), "spec.tags").len(), 1);
        let many: BTreeMap<String, String> = (0..49).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(validate(&many, "spec.tags")[0].contains("at most 48"));
    }
}
