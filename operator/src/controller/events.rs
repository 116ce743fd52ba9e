//! Kubernetes Events (events.k8s.io/v1), one per call.
//!
//! kube's `Recorder` folds every event with the same type, reason and action on one
//! object into the first one's series: the later notes are lost. ECS service events
//! all share one reason and differ only in their note, so the operator writes each
//! as its own Event. Repeats need no folding here: ECS events are published once
//! each (by id), and the operator's own warnings only when their message is new.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::EventType;

/// The events.k8s.io API limits a note to 1 KiB.
const NOTE_LIMIT: usize = 1024;

/// Writes Events on behalf of one controller instance.
#[derive(Clone)]
pub struct EventPublisher {
    client: kube::Client,
    controller: String,
    instance: String,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish()
    }
}

impl EventPublisher {
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        Self { client, controller: controller.into(), instance: instance.into() }
    }

    /// Creates one Event about `regarding`.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let event = build(regarding, type_, reason, action, note, &self.controller, &self.instance, Timestamp::now());
        Api::<Event>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &event).await?;
        Ok(())
    }
}

// The Event itself, apart from the clock and the API call.
#[allow(clippy::too_many_arguments)]
fn build(
    regarding: ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    controller: &str,
    instance: &str,
    now: Timestamp,
) -> Event {
    let mut cut = note.len().min(NOTE_LIMIT);
    while !note.is_char_boundary(cut) {
        cut -= 1;
    }
    let name = regarding.name.clone().unwrap_or_else(|| "object".into());
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: regarding.namespace.clone(),
            ..Default::default()
        },
        action: Some(action.into()),
        reason: Some(reason.into()),
        note: Some(note[..cut].to_string()),
        type_: Some(match type_ {
            EventType::Normal => "Normal".into(),
            EventType::Warning => "Warning".into(),
        }),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(controller.into()),
        reporting_instance: Some(instance.into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> ObjectReference {
        ObjectReference { name: Some("api".into()), namespace: Some("shop".into()), ..Default::default() }
    }

    #[test]
    fn an_event_names_its_object_controller_and_reason() {
        let e = build(
            reference(),
            EventType::Warning,
            "EcsServiceEvent",
            "Observe",
            "x",
            "ecs-operator",
            "pod-1",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(e.metadata.generate_name.as_deref(), Some("api-"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(
            (e.type_.as_deref(), e.reason.as_deref(), e.action.as_deref()),
            (Some("Warning"), Some("EcsServiceEvent"), Some("Observe"))
        );
        assert_eq!(e.reporting_controller.as_deref(), Some("ecs-operator"));
        assert_eq!(e.regarding.and_then(|r| r.name).as_deref(), Some("api"));
    }

    #[test]
    fn a_long_note_is_cut_at_the_api_limit_on_a_character_boundary() {
        let note = "é".repeat(600); // 1200 bytes
        let e = build(reference(), EventType::Normal, "r", "a", &note, "c", "i", Timestamp::UNIX_EPOCH);
        let cut = e.note.unwrap();
        assert!(cut.len() <= NOTE_LIMIT && cut.chars().all(|c| c == 'é'));
    }
}
