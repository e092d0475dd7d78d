//! Deciding a deployment's replica count from its load, as Ray Serve's default policy
//! does: the average of running and queued calls over a look-back window, divided by the
//! target per replica, held for a delay before it is acted on.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::options::AutoscalingConfig;

/// Counts within this of a whole number are that number: `4 * 0.5` wants 2 replicas,
/// not 3 through a rounding error.
const SLACK: f64 = 1e-9;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One deployment's load history and the decision it is waiting to make.
#[derive(Debug)]
pub(crate) struct Autoscaler {
    config: AutoscalingConfig,
    samples: VecDeque<(Instant, f64)>,
    /// The direction wanted, and since when: a decision waits out its delay.
    pending: Option<(Direction, Instant)>,
}

impl Autoscaler {
    pub(crate) fn new(config: AutoscalingConfig) -> Self {
        Self {
            config,
            samples: VecDeque::new(),
            pending: None,
        }
    }

    /// New bounds and delays; the load seen so far still counts.
    pub(crate) fn set_config(&mut self, config: AutoscalingConfig) {
        self.config = config;
        self.pending = None;
    }

    /// How often to sample.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.config.metrics_interval_s)
    }

    /// `count` kept within the bounds.
    pub(crate) fn clamp(&self, count: u32) -> u32 {
        count.clamp(self.config.min_replicas, self.config.max_replicas)
    }

    /// A call arrived with no replica to take it: from zero, a replica starts at once,
    /// whatever the delays say (the call is waiting for it).
    pub(crate) fn wake(&mut self, current: u32) -> Option<u32> {
        (current == 0).then(|| {
            self.config
                .min_replicas
                .max(1)
                .min(self.config.max_replicas)
        })
    }

    /// Records the load now (calls running plus queued) and returns the new replica count
    /// when it should change now.
    pub(crate) fn sample(&mut self, now: Instant, load: f64, current: u32) -> Option<u32> {
        self.samples.push_back((now, load));
        let window = Duration::from_secs_f64(self.config.look_back_period_s);
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > window)
        {
            self.samples.pop_front();
        }
        let average = self.samples.iter().map(|(_, l)| l).sum::<f64>() / self.samples.len() as f64;
        let wanted = self.wanted(average, current);
        let (direction, delay) = match wanted.cmp(&current) {
            std::cmp::Ordering::Greater => (Direction::Up, self.config.upscale_delay_s),
            std::cmp::Ordering::Less => (Direction::Down, self.config.downscale_delay_s),
            std::cmp::Ordering::Equal => {
                self.pending = None;
                return None;
            }
        };
        let since = match self.pending {
            Some((d, since)) if d == direction => since,
            _ => {
                self.pending = Some((direction, now));
                now
            }
        };
        if now.duration_since(since) >= Duration::from_secs_f64(delay) {
            self.pending = None;
            return Some(wanted);
        }
        None
    }

    /// The count the average load asks for, moved by the scaling factor and kept within
    /// the bounds.
    fn wanted(&self, average: f64, current: u32) -> u32 {
        let c = &self.config;
        let raw = if current == 0 {
            if average > 0.0 {
                (average / c.target_ongoing_requests - SLACK)
                    .ceil()
                    .max(1.0)
            } else {
                0.0
            }
        } else {
            let current = f64::from(current);
            let ratio = average / (c.target_ongoing_requests * current);
            let factor = if ratio > 1.0 {
                c.upscaling_factor
            } else {
                c.downscaling_factor
            };
            (current * (1.0 + (ratio - 1.0) * factor) - SLACK).ceil()
        };
        // A float past u32's range saturates in the cast, then the bounds apply.
        self.clamp(raw.max(0.0) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AutoscalingConfig {
        AutoscalingConfig {
            min_replicas: 1,
            max_replicas: 10,
            target_ongoing_requests: 2.0,
            upscale_delay_s: 3.0,
            downscale_delay_s: 10.0,
            look_back_period_s: 4.0,
            metrics_interval_s: 1.0,
            ..AutoscalingConfig::DEFAULT
        }
    }

    #[test]
    fn the_count_follows_the_average_load_after_the_delay() {
        let mut a = Autoscaler::new(config());
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // 8 calls against 2 per replica: 4 replicas, once wanted for 3 s.
        assert_eq!(a.sample(at(0), 8.0, 1), None);
        assert_eq!(a.sample(at(1), 8.0, 1), None);
        assert_eq!(a.sample(at(2), 8.0, 1), None);
        assert_eq!(a.sample(at(3), 8.0, 1), Some(4));
        // Steady at 4: nothing to do.
        assert_eq!(a.sample(at(4), 8.0, 4), None);
        // The load drops; the window still remembers it for a while, then the delay runs.
        let mut first_down = None;
        for s in 5..30 {
            if let Some(n) = a.sample(at(s), 2.0, 4) {
                first_down = Some((s, n));
                break;
            }
        }
        let (when, count) = first_down.expect("it scales down");
        assert_eq!(count, 1);
        assert!(when >= 14, "not before the 10 s delay has run: {when}");
    }

    #[test]
    fn a_blip_shorter_than_the_delay_changes_nothing() {
        let mut a = Autoscaler::new(AutoscalingConfig {
            look_back_period_s: 0.5,
            ..config()
        });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(a.sample(at(0), 20.0, 1), None);
        assert_eq!(a.sample(at(1), 20.0, 1), None);
        assert_eq!(a.sample(at(2), 1.0, 1), None, "the wish to grow ended");
        assert_eq!(a.sample(at(3), 20.0, 1), None, "and its delay starts again");
    }

    #[test]
    fn bounds_factors_and_zero() {
        let mut a = Autoscaler::new(AutoscalingConfig {
            min_replicas: 0,
            max_replicas: 3,
            upscale_delay_s: 0.0,
            downscale_delay_s: 0.0,
            upscaling_factor: 0.5,
            ..config()
        });
        let now = Instant::now();
        // 100 calls want 50 replicas; half the gap from 2 is 26, and 3 is the most.
        assert_eq!(a.sample(now, 100.0, 2), Some(3));
        let mut idle = Autoscaler::new(AutoscalingConfig {
            min_replicas: 0,
            downscale_delay_s: 0.0,
            look_back_period_s: 0.1,
            ..config()
        });
        assert_eq!(idle.sample(now, 0.0, 2), Some(0), "idle goes to zero");
        assert_eq!(idle.wake(0), Some(1), "a call wakes it at once");
        assert_eq!(idle.wake(1), None);
        // From zero, the load alone asks for replicas too.
        assert_eq!(idle.sample(now + Duration::from_secs(1), 5.0, 0), None);
        assert_eq!(idle.sample(now + Duration::from_secs(4), 5.0, 0), Some(3));
    }
}
