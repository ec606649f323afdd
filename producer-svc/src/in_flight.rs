//! The in-flight budget: how many requests may be read or wait for a broker
//! acknowledgement at once (a request takes its permit before its body is read).
//!
//! Past the budget the service answers 429 immediately instead of letting latency grow
//! for everyone; each permit is released when its request finishes or is dropped (client
//! gone), so the count cannot leak.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct InFlight {
    current: Arc<AtomicUsize>,
    limit: usize,
}

pub struct Permit {
    current: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self {
            current: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// A permit, or `None` when the budget is spent.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut seen = self.current.load(Ordering::Relaxed);
        loop {
            if seen >= self.limit {
                return None;
            }
            match self.current.compare_exchange_weak(
                seen,
                seen + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Permit {
                        current: Arc::clone(&self.current),
                    })
                }
                Err(actual) => seen = actual,
            }
        }
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_limit_and_recovers_when_permits_drop() {
        let budget = InFlight::new(2);
        let a = budget.try_acquire().expect("first");
        let _b = budget.try_acquire().expect("second");
        assert!(budget.try_acquire().is_none());
        drop(a);
        assert!(budget.try_acquire().is_some());
        assert_eq!(budget.current(), 1);
    }
}
