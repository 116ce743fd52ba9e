//! Shared observations: what one read of AWS says about many objects at once
//! (every ECS service of a cluster, every rule of a listener), kept so that the
//! reconciles of a resync period plan from one read instead of one read each.
//!
//! A `Snapshot` holds an entry per name with the moment it was read. A reconcile
//! at rest takes its entry while it is fresh (younger than the max age, about
//! one resync period); the first one to find it stale reads every name of the
//! snapshot again, in as few calls as the API allows. A reconcile's own fresh
//! read (after a write) goes in too, and an older read never replaces a newer
//! one. Names nobody asked for during `forget_after` are dropped (deleted
//! objects). Time is passed in: this module does no I/O.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
struct Entry<T> {
    value: T,
    read_at: Instant,
    asked_at: Instant,
}

/// Observations by name, each with the moment it was read.
#[derive(Debug, Clone)]
pub struct Snapshot<T> {
    entries: BTreeMap<String, Entry<T>>,
    /// Names asked for that have no observation yet.
    wanted: BTreeMap<String, Instant>,
}

impl<T> Default for Snapshot<T> {
    fn default() -> Self {
        Self { entries: BTreeMap::new(), wanted: BTreeMap::new() }
    }
}

impl<T: Clone> Snapshot<T> {
    /// The observation of `name` if it was read less than `max_age` before `now`;
    /// notes that `name` is still wanted either way.
    pub fn fresh(&mut self, name: &str, now: Instant, max_age: Duration) -> Option<T> {
        match self.entries.get_mut(name) {
            Some(e) => {
                e.asked_at = now;
                (now.saturating_duration_since(e.read_at) < max_age).then(|| e.value.clone())
            }
            None => {
                self.wanted.insert(name.to_string(), now);
                None
            }
        }
    }

    /// The names a refresh at `now` reads: every name asked for within
    /// `forget_after`; the others are dropped.
    pub fn to_refresh(&mut self, now: Instant, forget_after: Duration) -> Vec<String> {
        let recent = |asked: Instant| now.saturating_duration_since(asked) < forget_after;
        self.entries.retain(|_, e| recent(e.asked_at));
        self.wanted.retain(|_, asked| recent(*asked));
        let mut names: Vec<String> = self.entries.keys().chain(self.wanted.keys()).cloned().collect();
        names.sort();
        names.dedup();
        names
    }

    /// Stores what a read started at `read_at` saw of `name`, unless a newer read
    /// is already there.
    pub fn store(&mut self, name: &str, value: T, read_at: Instant) {
        let asked_at = self.wanted.remove(name).unwrap_or(read_at);
        match self.entries.get_mut(name) {
            Some(e) if e.read_at > read_at => {}
            Some(e) => {
                e.value = value;
                e.read_at = read_at;
            }
            None => {
                self.entries.insert(name.to_string(), Entry { value, read_at, asked_at });
            }
        }
    }

    /// Whether `name` was read or asked for (and not dropped since).
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name) || self.wanted.contains_key(name)
    }

    /// Applies a reconcile's own write to the observation of `name`, if there is
    /// one, keeping the moment it was read: the reconciles that share it see the
    /// write without a read of everything it holds (a listener's rules).
    pub fn patch(&mut self, name: &str, apply: impl FnOnce(&mut T)) {
        if let Some(e) = self.entries.get_mut(name) {
            apply(&mut e.value);
        }
    }

    /// Forgets `name`: the next look reads it afresh (after a write to it).
    pub fn invalidate(&mut self, name: &str) {
        if let Some(e) = self.entries.remove(name) {
            self.wanted.insert(name.to_string(), e.asked_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_AGE: Duration = Duration::from_secs(54);
    const FORGET: Duration = Duration::from_secs(300);

    #[test]
    fn an_entry_is_used_while_fresh_and_read_again_after() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        assert_eq!(s.fresh("a", t0, MAX_AGE), None, "never read");
        assert_eq!(s.to_refresh(t0, FORGET), vec!["a"]);
        s.store("a", 1, t0);
        assert_eq!(s.fresh("a", t0 + Duration::from_secs(53), MAX_AGE), Some(1));
        assert_eq!(s.fresh("a", t0 + Duration::from_secs(54), MAX_AGE), None);
    }

    #[test]
    fn a_refresh_reads_every_name_still_asked_for_and_drops_the_others() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        for n in ["a", "b", "c"] {
            s.fresh(n, t0, MAX_AGE);
            s.store(n, 0, t0);
        }
        s.fresh("d", t0, MAX_AGE);
        // b and c keep being asked for; a and d are not (their objects are gone).
        let later = t0 + Duration::from_secs(200);
        s.fresh("b", later, MAX_AGE);
        s.fresh("c", later, MAX_AGE);
        assert_eq!(s.to_refresh(later, FORGET), vec!["a", "b", "c", "d"]);
        assert_eq!(s.to_refresh(t0 + Duration::from_secs(301), FORGET), vec!["b", "c"]);
    }

    #[test]
    fn an_older_read_never_replaces_a_newer_one() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        // A reconcile's read-back after its write lands first ...
        s.store("a", "after the write", t0 + Duration::from_secs(2));
        // ... then a refresh that started before the write finishes.
        s.store("a", "before the write", t0);
        assert_eq!(s.fresh("a", t0 + Duration::from_secs(3), MAX_AGE), Some("after the write"));
        s.store("a", "a newer refresh", t0 + Duration::from_secs(10));
        assert_eq!(s.fresh("a", t0 + Duration::from_secs(11), MAX_AGE), Some("a newer refresh"));
    }

    #[test]
    fn an_invalidated_entry_is_read_again_and_stays_wanted() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        s.store("l", vec![1], t0);
        s.invalidate("l");
        assert!(s.contains("l") && !s.contains("m"));
        assert_eq!(s.fresh("l", t0, MAX_AGE), None);
        assert_eq!(s.to_refresh(t0, FORGET), vec!["l"]);
    }

    #[test]
    fn a_patch_changes_the_entry_and_keeps_its_age() {
        let t0 = Instant::now();
        let mut s = Snapshot::default();
        s.patch("l", |v: &mut Vec<u32>| v.push(9));
        assert!(!s.contains("l"), "nothing to patch: nothing stored");
        s.store("l", vec![1], t0);
        s.patch("l", |v| v.push(2));
        assert_eq!(s.fresh("l", t0 + Duration::from_secs(53), MAX_AGE), Some(vec![1, 2]));
        assert_eq!(s.fresh("l", t0 + MAX_AGE, MAX_AGE), None, "as old as the read it patched");
    }
}
