//! Reads shared by the reconciles of a resync period (`core::observation`): per
//! key (region and cluster, or region and listener), one refresh at a time
//! reads every name the key's reconciles ask for; the others wait for it and
//! take its result.

use super::AwsError;
use crate::core::observation::Snapshot;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Key = (String, String);

#[derive(Debug)]
struct Group<T> {
    snapshot: Mutex<Snapshot<T>>,
    // Held while a refresh reads AWS: the reconciles that find the snapshot stale
    // at the same moment make one read, not one each.
    refresh: tokio::sync::Mutex<()>,
}

impl<T: Clone> Group<T> {
    fn with<R>(&self, f: impl FnOnce(&mut Snapshot<T>) -> R) -> R {
        let mut snapshot = match self.snapshot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut snapshot)
    }
}

/// Observations of type `T` by key and name.
#[derive(Debug)]
pub struct SharedReads<T> {
    groups: Mutex<HashMap<Key, Arc<Group<T>>>>,
    max_age: Duration,
    forget_after: Duration,
}

impl<T: Clone + Default> SharedReads<T> {
    /// Entries are used while younger than `max_age`, and dropped when nobody
    /// asked for them during `forget_after`.
    pub fn new(max_age: Duration, forget_after: Duration) -> Self {
        Self { groups: Mutex::new(HashMap::new()), max_age, forget_after }
    }

    fn group(&self, key: &Key) -> Arc<Group<T>> {
        let mut groups = match self.groups.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Group { snapshot: Mutex::new(Snapshot::default()), refresh: tokio::sync::Mutex::new(()) })
            })
            .clone()
    }

    /// The observation of `name` under `key`: the snapshot's while fresh, else
    /// from a refresh that reads every wanted name of `key` with `read_all`
    /// (which answers the names it found; the others are stored as
    /// `T::default()`, "not there").
    pub async fn get<F, Fut>(&self, key: Key, name: &str, read_all: F) -> Result<T, AwsError>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<(String, T)>, AwsError>>,
    {
        let group = self.group(&key);
        if let Some(v) = group.with(|s| s.fresh(name, Instant::now(), self.max_age)) {
            return Ok(v);
        }
        let _refreshing = group.refresh.lock().await;
        if let Some(v) = group.with(|s| s.fresh(name, Instant::now(), self.max_age)) {
            return Ok(v);
        }
        let started = Instant::now();
        let names = group.with(|s| s.to_refresh(started, self.forget_after));
        let mut found: HashMap<String, T> = read_all(names.clone()).await?.into_iter().collect();
        group.with(|s| {
            for n in &names {
                s.store(n, found.remove(n).unwrap_or_default(), started);
            }
        });
        Ok(group.with(|s| s.fresh(name, Instant::now(), self.max_age)).unwrap_or_default())
    }

    /// Stores a reconcile's own read, started at `read_at`.
    pub fn store(&self, key: Key, name: &str, value: T, read_at: Instant) {
        self.group(&key).with(|s| s.store(name, value, read_at));
    }

    /// Whether `name` under `key` was read or asked for (and not dropped since).
    pub fn contains(&self, key: &Key, name: &str) -> bool {
        let groups = match self.groups.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        groups.get(key).is_some_and(|g| g.with(|s| s.contains(name)))
    }

    /// Applies a write to the observation of `name` under `key`, if there is one
    /// (`Snapshot::patch`).
    pub fn patch(&self, key: Key, name: &str, apply: impl FnOnce(&mut T)) {
        self.group(&key).with(|s| s.patch(name, apply));
    }

    /// Forgets `name` under `key` after a write changed it.
    pub fn invalidate(&self, key: Key, name: &str) {
        self.group(&key).with(|s| s.invalidate(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> Key {
        ("eu-west-1".into(), "web".into())
    }

    #[tokio::test]
    async fn reconciles_asking_at_once_share_one_refresh_of_every_name() {
        let reads = Arc::new(SharedReads::<Option<u32>>::new(Duration::from_secs(60), Duration::from_secs(600)));
        let calls = Arc::new(AtomicUsize::new(0));
        // First look: each name is read once, by whoever asks first.
        let names: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
        let mut joins = Vec::new();
        for n in names.clone() {
            let (reads, calls) = (reads.clone(), calls.clone());
            joins.push(tokio::spawn(async move {
                reads
                    .get(key(), &n, |wanted| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(wanted.iter().map(|w| (w.clone(), Some(w.len() as u32))).collect())
                    })
                    .await
            }));
        }
        for j in joins {
            assert_eq!(j.await.unwrap().unwrap(), Some(3));
        }
        let first = calls.load(Ordering::SeqCst);
        assert!(first < 25, "{first} refreshes for 25 names");
        // Fresh: no read at all.
        for n in &names {
            let v = reads.get(key(), n, |_| async { panic!("read while fresh") }).await.unwrap();
            assert_eq!(v, Some(3));
        }
        // A name the read did not find is stored as "not there".
        let missing = reads.get(key(), "gone", |_| async { Ok(Vec::new()) }).await.unwrap();
        assert_eq!(missing, None);
    }

    #[tokio::test]
    async fn a_failed_refresh_is_an_error_and_stores_nothing() {
        let reads = SharedReads::<Option<u32>>::new(Duration::from_secs(60), Duration::from_secs(600));
        let err = reads
            .get(key(), "a", |_| async {
                Err(AwsError::Transport { operation: "DescribeServices", message: "down".into() })
            })
            .await;
        assert!(err.is_err());
        let v = reads.get(key(), "a", |_| async { Ok(vec![("a".to_string(), Some(1))]) }).await.unwrap();
        assert_eq!(v, Some(1));
    }
}
