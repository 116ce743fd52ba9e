//! Property tests of the pure core (proptest): validation and translation never
//! panic on any input, and what they promise holds for every generated input, not
//! just the examples of the unit tests. The default is 256 cases per property; a
//! longer fuzzing run: `PROPTEST_CASES=200000 cargo test -p ecs-operator properties`.

use super::load_balancer::resource_name;
use super::region;
use super::tags;
use super::task_definition::{self, parse_cpu, parse_memory};
use super::task_definition_request::register_request;
use crate::crd::TaskDefinitionSpec;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn tag_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("(aws:)?[a-zA-Z0-9:/_.-]{0,12}", "[a-z0-9 ]{0,8}", 0..8)
}

// Task definition specs as JSON, from realistic and hostile pieces, so that
// every field the validator reads varies.
fn task_definition_json() -> impl Strategy<Value = serde_json::Value> {
    let cpu = prop_oneof![
        Just(None),
        prop::sample::select(vec!["256", "512", "1024", "2048", "4096", "0.25 vCPU", "1 vcpu", "3", "x", ""])
            .prop_map(|s| Some(s.to_string())),
        "[0-9 .a-zA-Z]{0,10}".prop_map(Some),
    ];
    let memory = prop_oneof![
        Just(None),
        prop::sample::select(vec!["512", "1024", "2048", "8192", "1 GB", "2gb", "0", "abc"])
            .prop_map(|s| Some(s.to_string())),
        "[0-9 .a-zA-Z]{0,10}".prop_map(Some),
    ];
    let container =
        ("[a-z][a-z0-9_-]{0,6}|[A-Z !]{1,4}", prop::option::of(1u32..5000), prop::collection::vec(0i32..70000, 0..3))
            .prop_map(|(name, reservation, ports)| {
                serde_json::json!({
                    "name": name,
                    "image": "nginx:1.27",
                    "memoryReservation": reservation,
                    "portMappings": ports.iter().map(|p| serde_json::json!({"containerPort": p})).collect::<Vec<_>>(),
                })
            });
    (
        cpu,
        memory,
        prop::collection::vec(container, 1..4),
        prop::sample::select(vec!["awsvpc", "bridge", "host", "none"]),
        prop::sample::subsequence(vec!["FARGATE", "EC2", "EXTERNAL"], 0..3),
        prop::option::of("[a-zA-Z0-9_.-]{0,20}"),
        tag_map(),
    )
        .prop_map(|(cpu, memory, containers, mode, compat, family, tags)| {
            serde_json::json!({
                "cpu": cpu, "memory": memory, "containers": containers, "networkMode": mode,
                "requiresCompatibilities": compat, "family": family, "tags": tags,
            })
        })
}

proptest! {
    #[test]
    fn region_names_of_the_aws_shape_are_accepted(
        country in "[a-z]{2}",
        words in prop::collection::vec("[a-z]{1,12}", 1..4),
        number in 1u32..100,
    ) {
        let name = format!("{country}-{}-{number}", words.join("-"));
        prop_assert_eq!(region::problem(&name), None, "{}", name);
    }

    #[test]
    fn region_check_never_panics_and_refuses_upper_case_and_spaces(s in "\\PC{0,30}") {
        let verdict = region::problem(&s);
        if s.chars().any(|c| c.is_uppercase() || c.is_whitespace()) || s.is_empty() {
            prop_assert!(verdict.is_some());
        }
    }

    #[test]
    fn a_tag_diff_applied_to_the_observed_tags_gives_the_desired_ones(
        desired in tag_map(),
        observed in tag_map(),
    ) {
        let diff = tags::diff(&desired, &observed);
        let mut after = observed.clone();
        for key in &diff.remove {
            after.remove(key);
        }
        after.extend(diff.set.clone());
        // aws: tags are AWS's own: never removed, so they stay beside the desired ones.
        let expected: BTreeMap<String, String> = desired
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(observed.iter().filter(|(k, _)| k.starts_with("aws:") && !desired.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        prop_assert_eq!(&after, &expected);
        // And a second diff is empty: one write converges.
        prop_assert!(tags::diff(&desired, &after).is_empty());
    }

    #[test]
    fn elbv2_names_are_always_valid_and_keep_objects_apart(
        namespace in "[a-z0-9-]{1,63}",
        object in "[a-z0-9.-]{1,253}",
        other in "[a-z0-9.-]{1,253}",
        instance in "[A-Za-z0-9_.-]{1,64}",
        suffix in prop::sample::select(vec!["", "-tg", "-lb"]),
    ) {
        let name = resource_name(&namespace, &object, &instance, suffix);
        prop_assert!(name.len() <= 32, "{}", name);
        prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{}", name);
        prop_assert!(!name.starts_with('-') && !name.ends_with('-'), "{}", name);
        prop_assert_eq!(&name, &resource_name(&namespace, &object, &instance, suffix));
        if other != object {
            prop_assert_ne!(name, resource_name(&namespace, &other, &instance, suffix));
        }
    }

    #[test]
    fn cpu_and_memory_parsing_never_panics(s in "\\PC{0,16}") {
        let _ = parse_cpu(&s);
        let _ = parse_memory(&s);
    }

    #[test]
    fn a_task_definition_that_validates_translates_and_hashes_stably(json in task_definition_json()) {
        let Ok(spec) = serde_json::from_value::<TaskDefinitionSpec>(json) else { return Ok(()) };
        let problems = task_definition::validate("web", &spec);
        for p in &problems {
            prop_assert!(!p.is_empty());
        }
        if problems.is_empty() {
            let hash = task_definition::spec_hash("web", &spec);
            // Canonical: the same spec after a round trip through JSON hashes alike.
            let again: TaskDefinitionSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
            prop_assert_eq!(&hash, &task_definition::spec_hash("web", &again));
            let request = register_request("web", &spec, &BTreeMap::new(), &hash);
            let request = request.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(request.containers.len(), spec.containers.len());
            prop_assert_eq!(request.family, task_definition::family("web", &spec));
            prop_assert_eq!(request.cpu.is_some(), spec.cpu.is_some());
        }
    }
}
