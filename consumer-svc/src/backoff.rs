//! Capped exponential backoff with jitter, for retrying a batch the database (or the
//! broker, for dead letters) refused.
//!
//! The delay doubles from `initial` up to `max`; each delay is then spread over
//! [75 %, 100 %] so replicas that failed together do not retry in lockstep when the
//! database comes back.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next retry; each call doubles the next one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        jitter(base, random_fraction())
    }

    /// How many delays were handed out since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The un-jittered delay the next call starts from.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// `base` scaled into [75 %, 100 %] by `fraction` ∈ [0, 1).
fn jitter(base: Duration, fraction: f64) -> Duration {
    base.mul_f64(0.75 + 0.25 * fraction.clamp(0.0, 1.0))
}

fn random_fraction() -> f64 {
    // A v4 UUID is 122 random bits from the OS; 53 of them make an f64 in [0, 1).
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_initial_value_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let ceilings: Vec<u128> = (0..6)
            .map(|_| {
                let ceiling = backoff.ceiling().as_millis();
                let delay = backoff.next_delay();
                assert!(delay.as_millis() <= ceiling && delay.as_millis() * 4 >= ceiling * 3);
                ceiling
            })
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.attempts(), 6);
    }

    #[test]
    fn many_attempts_never_overflow() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= Duration::from_secs(5));
        }
    }

    #[test]
    fn jitter_stays_within_a_quarter_below_the_base() {
        let base = Duration::from_millis(400);
        assert_eq!(jitter(base, 0.0), Duration::from_millis(300));
        assert_eq!(jitter(base, 1.0), base);
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
