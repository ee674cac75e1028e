//! The two clocks the NTP code is given, never reads: a [`Moment`] is "now" as the I/O
//! layer read it from the system clock and from a monotonic clock at once.
//!
//! Only timestamps written into or read from packets use the system (wall) clock. Every
//! timer (poll schedule, request timeouts, relay expiry, sample age, freshness) uses the
//! monotonic one, so a step of the host's clock (its own NTP daemon's `makestep`, a VM
//! resume, an operator's `date -s`) neither stops polling nor freezes expiry. Served time
//! is anchored to the monotonic clock too (see [`Sample::wall_minus_mono`](crate::Sample)),
//! so a step does not shift the time nocwatch serves.

/// "Now" on both clocks, in nanoseconds: `unix` since the Unix epoch (system clock), `mono`
/// since any fixed origin (a monotonic clock; only differences of `mono` mean anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moment {
    pub unix: i128,
    pub mono: i128,
}

impl Moment {
    pub fn new(unix: i128, mono: i128) -> Moment {
        Moment { unix, mono }
    }

    /// The system clock minus the monotonic one: constant while the system clock runs
    /// freely or is slewed (both clocks are slewed alike), changed by a step.
    pub fn wall_minus_mono(&self) -> i128 {
        self.unix - self.mono
    }

    /// This moment `nanos` later on both clocks (tests and simulations).
    pub fn plus(self, nanos: i128) -> Moment {
        Moment { unix: self.unix + nanos, mono: self.mono + nanos }
    }
}
