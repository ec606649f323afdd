//! The lag of one partition, with every edge case decided here and nowhere else.
//!
//! lag = high watermark − the offset the group resumes from, where that offset is
//!
//! - the committed offset (or, in consumer-svc, the next offset the replica stored),
//! - the log start when there is none: the group's `auto.offset.reset=earliest`
//!   (`common::kafka::consumer_config`) makes a new member start there, so everything
//!   retained is still to do,
//! - the log start when the offset is before it (retention deleted those records; the
//!   consumer's reset resumes at the log start too).
//!
//! An offset beyond the high watermark (a log truncated after an unclean election, or a
//! commit made by hand) is no lag, never a negative one. A partition whose watermarks the
//! broker did not report (librdkafka answers -1 for an unknown bound) has no [`Watermarks`]
//! at all, so it cannot be reported as a made-up number.

use rdkafka::Offset;

/// A partition's retained log as the broker reported it: `low` is the log start (oldest
/// retained record), `high` the high watermark (offset of the next record written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    low: i64,
    high: i64,
}

impl Watermarks {
    /// The bounds as `fetch_watermarks` returns them; `None` when either is unknown
    /// (negative) or they contradict each other (`high < low`).
    pub fn known(low: i64, high: i64) -> Option<Self> {
        (low >= 0 && high >= low).then_some(Self { low, high })
    }

    pub fn low(&self) -> i64 {
        self.low
    }

    pub fn high(&self) -> i64 {
        self.high
    }
}

/// The committed offset librdkafka returned for a partition, `None` when the group has
/// none: `Offset::Invalid` (-1001, never committed) and the other logical offsets
/// (`Beginning`, `End`, `Stored`, negative values) are not positions in the log.
pub fn committed_position(offset: Offset) -> Option<i64> {
    match offset {
        Offset::Offset(position) if position >= 0 => Some(position),
        _ => None,
    }
}

/// Records of the partition still to process when the group resumes at `next`
/// (`None`: no committed offset). See the module docs for the edge cases.
pub fn lag(next: Option<i64>, watermarks: Watermarks) -> i64 {
    let from = next.map_or(watermarks.low, |next| next.max(watermarks.low));
    (watermarks.high - from).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retained(low: i64, high: i64) -> Watermarks {
        Watermarks::known(low, high).expect("valid watermarks")
    }

    #[test]
    fn lag_is_the_distance_from_the_next_offset_to_the_high_watermark() {
        assert_eq!(lag(Some(40), retained(10, 100)), 60);
        assert_eq!(lag(Some(100), retained(10, 100)), 0);
    }

    #[test]
    fn a_partition_without_a_committed_offset_counts_from_the_log_start() {
        assert_eq!(lag(None, retained(10, 100)), 90);
        assert_eq!(lag(None, retained(0, 0)), 0);
    }

    #[test]
    fn an_offset_before_the_log_start_counts_from_the_log_start() {
        assert_eq!(lag(Some(3), retained(10, 100)), 90);
    }

    #[test]
    fn an_offset_beyond_the_high_watermark_is_no_lag_not_a_negative_one() {
        assert_eq!(lag(Some(150), retained(10, 100)), 0);
    }

    #[test]
    fn negative_or_contradicting_watermarks_are_unknown() {
        assert_eq!(Watermarks::known(-1, 100), None);
        assert_eq!(Watermarks::known(0, -1), None);
        assert_eq!(Watermarks::known(50, 10), None);
        assert_eq!(Watermarks::known(0, 0), Some(retained(0, 0)));
    }

    #[test]
    fn logical_and_negative_offsets_are_no_committed_position() {
        assert_eq!(committed_position(Offset::Offset(7)), Some(7));
        assert_eq!(committed_position(Offset::Offset(0)), Some(0));
        for offset in [
            Offset::Invalid,
            Offset::Beginning,
            Offset::End,
            Offset::Stored,
            Offset::Offset(-1),
            Offset::OffsetTail(3),
        ] {
            assert_eq!(committed_position(offset), None, "{offset:?}");
        }
    }
}
