//! Simulated time: wall time since start, scaled by the speed factor.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    started: Instant,
    epoch_at_start: f64,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Clock {
        let epoch_at_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        Clock {
            started: Instant::now(),
            epoch_at_start,
            speed,
        }
    }

    /// Simulated seconds since the Unix epoch, as ECS's timestamps are written on the wire.
    pub fn now(&self) -> f64 {
        self.epoch_at_start + self.started.elapsed().as_secs_f64() * self.speed
    }
}
