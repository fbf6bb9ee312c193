//! A bounded pool of objects created on demand (the sessions of one model).

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};

struct State<T> {
    idle: Vec<T>,
    /// Objects alive: idle, checked out, or being created.
    alive: usize,
}

/// Holds up to `capacity` objects. [`Pool::get`] hands out an idle one, creates one when none is
/// idle and fewer than `capacity` exist, or else waits until one is returned. The lock is held
/// only to take or return an object, never while one is created or used.
pub(crate) struct Pool<T> {
    state: Mutex<State<T>>,
    returned: Condvar,
    capacity: usize,
}

impl<T> Pool<T> {
    /// An empty pool for at most `capacity` objects (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                alive: 0,
            }),
            returned: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// The most objects alive at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Objects alive now.
    pub(crate) fn alive(&self) -> usize {
        self.lock().alive
    }

    /// Adds an object created elsewhere (it counts towards the capacity).
    pub(crate) fn insert(&self, item: T) {
        let mut state = self.lock();
        state.alive += 1;
        state.idle.push(item);
        drop(state);
        self.returned.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the state inconsistent (it only pushes,
        // pops and counts), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An object for exclusive use until the guard drops.
    pub(crate) fn get<E>(
        &self,
        create: impl FnOnce() -> Result<T, E>,
    ) -> Result<PoolGuard<'_, T>, E> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.idle.pop() {
                return Ok(PoolGuard {
                    pool: self,
                    item: Some(item),
                });
            }
            if state.alive < self.capacity {
                state.alive += 1;
                break;
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        match create() {
            Ok(item) => Ok(PoolGuard {
                pool: self,
                item: Some(item),
            }),
            Err(e) => {
                self.lock().alive -= 1;
                self.returned.notify_one();
                Err(e)
            }
        }
    }

    fn put_back(&self, item: T) {
        self.lock().idle.push(item);
        self.returned.notify_one();
    }
}

/// Exclusive use of one pooled object; returns it to the pool on drop.
pub(crate) struct PoolGuard<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
}

impl<T> Deref for PoolGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item
            .as_ref()
            .expect("pool guard holds its item until dropped")
    }
}

impl<T> DerefMut for PoolGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item
            .as_mut()
            .expect("pool guard holds its item until dropped")
    }
}

impl<T> Drop for PoolGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.pool.put_back(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn never_more_than_capacity_and_all_calls_served() {
        let pool: Pool<usize> = Pool::new(3);
        let created = AtomicUsize::new(0);
        let busy = AtomicUsize::new(0);
        let max_busy = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let guard = pool
                            .get(|| Ok::<_, ()>(created.fetch_add(1, Ordering::SeqCst)))
                            .unwrap();
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        max_busy.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        busy.fetch_sub(1, Ordering::SeqCst);
                        drop(guard);
                    }
                });
            }
        });
        assert!(created.load(Ordering::SeqCst) <= 3);
        assert!(max_busy.load(Ordering::SeqCst) <= 3);
        assert!(
            max_busy.load(Ordering::SeqCst) >= 2,
            "calls never overlapped"
        );
        assert_eq!(pool.alive(), created.load(Ordering::SeqCst));
    }

    #[test]
    fn failed_creation_frees_its_slot() {
        let pool: Pool<u8> = Pool::new(1);
        assert!(pool.get(|| Err::<u8, _>("no")).is_err());
        assert_eq!(pool.alive(), 0);
        let g = pool.get(|| Ok::<_, ()>(7)).unwrap();
        assert_eq!(*g, 7);
    }
}
