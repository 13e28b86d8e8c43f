//! Locks a panic cannot poison.
//!
//! With `std::sync` locks, a handler that panics while holding a guard
//! poisons the lock, and every later `.lock().unwrap()` panics too: one bad
//! request would take ingestion (the consent index), key lookups or the
//! recommender down until a restart. These wrappers hand out the guard
//! even after such a panic, as `parking_lot` does. A panic in the middle
//! of an update could leave the value half-changed; what these guard are
//! caches, queues and the consent index, updated by single calls into
//! tested code, and every later request failing is the worse outcome.
//!
//! `lock`, `read` and `write` return `Result<_, Infallible>` so call sites
//! read as with `std::sync`; the `unwrap` there cannot panic.

use std::convert::Infallible;
use std::sync::{MutexGuard, PoisonError, RwLockReadGuard, RwLockWriteGuard};

/// A [`std::sync::Mutex`] that a panic does not poison.
#[derive(Debug, Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    /// A lock around `value`.
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock; never `Err`, even after a panic while held.
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, Infallible> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A [`std::sync::RwLock`] that a panic does not poison.
#[derive(Debug, Default)]
pub struct RwLock<T: ?Sized>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    /// A lock around `value`.
    pub const fn new(value: T) -> Self {
        Self(std::sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access; never `Err`, even after a panic while held.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, T>, Infallible> {
        Ok(self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits for sole access; never `Err`, even after a panic while held.
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, T>, Infallible> {
        Ok(self.0.write().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_holding_a_guard_does_not_break_later_users() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let l = std::sync::Arc::new(RwLock::new(1));
        let (m2, l2) = (m.clone(), l.clone());
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            let _w = l2.write().unwrap();
            panic!("handler bug");
        })
        .join();
        *m.lock().unwrap() += 1;
        *l.write().unwrap() += 1;
        assert_eq!((*m.lock().unwrap(), *l.read().unwrap()), (2, 2));
    }
}
