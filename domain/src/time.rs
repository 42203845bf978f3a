//! Small time rules shared by every layer.

use std::time::Duration;

/// `d` as a chrono duration, saturating: a lifetime too long to represent is "forever"
/// rather than an error.
pub fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The reconnect backoff of the original design: `min(attempt * 50 ms, 2 s)`. Every
/// retry loop (the Redis pub/sub link, migrations at startup) waits this long.
pub fn reconnect_backoff(attempt: u32) -> Duration {
    Duration::from_millis(u64::from(attempt).saturating_mul(50).min(2000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_50ms_and_caps_at_2s() {
        assert_eq!(reconnect_backoff(1), Duration::from_millis(50));
        assert_eq!(reconnect_backoff(10), Duration::from_millis(500));
        assert_eq!(reconnect_backoff(40), Duration::from_secs(2));
        assert_eq!(reconnect_backoff(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn durations_saturate_instead_of_failing() {
        assert_eq!(
            chrono_duration(Duration::from_secs(90)),
            chrono::Duration::seconds(90)
        );
        assert_eq!(chrono_duration(Duration::MAX), chrono::Duration::MAX);
    }
}
