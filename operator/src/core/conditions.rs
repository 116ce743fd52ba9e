//! Kubernetes conditions, set the way kstatus and `kubectl wait` expect.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// One condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Sets `update` in `conditions`, stamped with `generation`. The transition time
/// changes only when the status does.
pub fn set(conditions: &mut Vec<Condition>, update: ConditionUpdate<'_>, generation: Option<i64>, now: Timestamp) {
    let status = if update.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = Time(now);
            }
            existing.status = status;
            existing.reason = update.reason.to_string();
            existing.message = update.message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: update.type_.to_string(),
            status,
            reason: update.reason.to_string(),
            message: update.message,
            observed_generation: generation,
            last_transition_time: Time(now),
        }),
    }
}

/// The condition of type `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn update(status: bool, reason: &str) -> ConditionUpdate<'_> {
        ConditionUpdate { type_: "Ready", status, reason, message: format!("m-{reason}") }
    }

    #[test]
    fn adds_a_missing_condition() {
        let mut c = Vec::new();
        set(&mut c, update(true, "Active"), Some(3), at(10));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, "True");
        assert_eq!(c[0].observed_generation, Some(3));
        assert_eq!(c[0].last_transition_time, Time(at(10)));
    }

    #[test]
    fn keeps_transition_time_when_status_is_unchanged() {
        let mut c = Vec::new();
        set(&mut c, update(true, "Active"), Some(1), at(10));
        set(&mut c, update(true, "StillActive"), Some(2), at(20));
        assert_eq!(c[0].last_transition_time, Time(at(10)));
        assert_eq!(c[0].reason, "StillActive");
        assert_eq!(c[0].observed_generation, Some(2));
    }

    #[test]
    fn moves_transition_time_when_status_flips() {
        let mut c = Vec::new();
        set(&mut c, update(true, "Active"), Some(1), at(10));
        set(&mut c, update(false, "Failed"), Some(1), at(30));
        assert_eq!(c[0].status, "False");
        assert_eq!(c[0].last_transition_time, Time(at(30)));
    }
}
