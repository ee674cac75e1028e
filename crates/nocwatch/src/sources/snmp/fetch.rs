//! Fetching a profile's plan from one device: scalars by GET in batches, table columns by
//! GETBULK (several columns per request, `max_repetitions` rows each), GETNEXT when the
//! device is SNMPv1 or misbehaves with GETBULK, and batch sizes that shrink on tooBig or
//! timeouts and grow back after clean polls.
//!
//! [`ColumnWalk`] is the sans-IO part (which OIDs to ask next, where each returned
//! binding belongs, when a column is done); [`Fetcher`] drives it over a
//! [`crate::snmp::Device`] and keeps the per-device batch sizes between polls.

use std::time::Instant;

use nocwatch_profile::Fetched;
use nocwatch_snmp::{ErrorStatus, Oid, Value, VarBind, Version};

use crate::snmp::{Device, SnmpError};

/// Polls a device must have answered cleanly before GETBULK is tried again after it
/// misbehaved.
const BULK_RETRY_POLLS: u32 = 10;

/// The walk of a set of table columns, all advanced together.
#[derive(Debug)]
pub struct ColumnWalk {
    columns: Vec<Oid>,
    /// Where each column resumes: its last binding (`None`: the column's start).
    cursors: Vec<Option<Oid>>,
    /// Indexes (into `columns`) of the columns not finished, in order.
    active: Vec<usize>,
    /// Columns an agent answered with a non-increasing OID (ended early).
    pub not_increasing: u32,
}

impl ColumnWalk {
    pub fn new(columns: Vec<Oid>) -> ColumnWalk {
        let active = (0..columns.len()).collect();
        ColumnWalk { cursors: vec![None; columns.len()], columns, active, not_increasing: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.active.is_empty()
    }

    /// The next request: up to `max_columns` unfinished columns and where each resumes.
    pub fn next_request(&self, max_columns: usize) -> (Vec<usize>, Vec<Oid>) {
        let asked: Vec<usize> = self.active.iter().copied().take(max_columns.max(1)).collect();
        let oids = asked.iter().map(|&c| self.cursors[c].as_ref().unwrap_or(&self.columns[c]).clone()).collect();
        (asked, oids)
    }

    /// Ends column `column` (e.g. a v1 agent said noSuchName for it).
    pub fn finish(&mut self, column: usize) {
        self.active.retain(|&c| c != column);
    }

    /// Takes the answer to a request for `asked` (a GETNEXT is a GETBULK of one
    /// repetition): bindings are row-major, one per asked column per repetition. Calls
    /// `each` with the column index and the binding for every value inside its column.
    pub fn on_response(&mut self, asked: &[usize], varbinds: Vec<VarBind>, mut each: impl FnMut(usize, VarBind)) {
        if asked.is_empty() {
            return;
        }
        if varbinds.is_empty() {
            // An empty answer makes no progress: end these columns rather than loop.
            for &column in asked {
                self.finish(column);
            }
            return;
        }
        let mut ended = vec![false; asked.len()];
        // Per slot, the last binding taken: the next must be after it, and the cursor
        // moves to it once at the end (one OID copy per column and answer, not per row).
        let mut last: Vec<Option<usize>> = vec![None; asked.len()];
        let mut taken = vec![false; varbinds.len()];
        for (i, vb) in varbinds.iter().enumerate() {
            let slot = i % asked.len();
            if ended[slot] {
                continue;
            }
            let column = asked[slot];
            if vb.value.is_exception()
                || !vb.oid.starts_with(&self.columns[column])
                || vb.oid.len() == self.columns[column].len()
            {
                ended[slot] = true;
                continue;
            }
            let previous = match last[slot] {
                Some(at) => &varbinds[at].oid,
                None => self.cursors[column].as_ref().unwrap_or(&self.columns[column]),
            };
            if vb.oid <= *previous {
                self.not_increasing += 1;
                ended[slot] = true;
                continue;
            }
            last[slot] = Some(i);
            taken[i] = true;
        }
        for (slot, at) in last.iter().enumerate() {
            if let Some(at) = *at {
                self.cursors[asked[slot]] = Some(varbinds[at].oid.clone());
            }
        }
        for (i, vb) in varbinds.into_iter().enumerate() {
            if taken[i] {
                each(asked[i % asked.len()], vb);
            }
        }
        // A column that got no binding at all (a truncated answer) is asked again from
        // where it was; slot 0 always gets one, so every round makes progress.
        for (slot, &column) in asked.iter().enumerate() {
            if ended[slot] {
                self.finish(column);
            }
        }
    }
}

/// What one poll's fetching did (for the device's request metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FetchStats {
    pub get_requests: u32,
    pub getbulk_requests: u32,
    pub getnext_requests: u32,
    pub timeouts: u32,
    pub too_big: u32,
    pub errors: u32,
    pub varbinds: u32,
    /// GETBULK was given up for GETNEXT during this poll.
    pub fell_back_to_getnext: bool,
}

/// What one poll fetched: the values (for the profile) and when each answer arrived (for
/// counter rates: a [`nocwatch_profile::Sample`]'s `answer` indexes `arrived`).
#[derive(Debug, Default)]
pub struct Answers {
    pub fetched: Fetched,
    pub arrived: Vec<Instant>,
}

impl Answers {
    /// An answer arrived at `at`: the values inserted next came in it.
    pub fn begin(&mut self, at: Instant) {
        self.fetched.begin_answer();
        self.arrived.push(at);
    }

    pub fn insert(&mut self, vb: VarBind) {
        self.fetched.insert(vb.oid, vb.value);
    }
}

/// Per-device batch sizes and GETBULK health, kept between polls.
#[derive(Debug, Clone)]
pub struct Fetcher {
    max_batch: usize,
    max_repetitions: u32,
    get_batch: usize,
    bulk_columns: usize,
    repetitions: u32,
    /// Polls left before GETBULK is tried again (0: GETBULK in use).
    bulk_disabled_for: u32,
}

impl Fetcher {
    pub fn new(max_batch: usize, max_repetitions: u32) -> Fetcher {
        Fetcher {
            max_batch: max_batch.max(1),
            max_repetitions: max_repetitions.max(1),
            get_batch: max_batch.max(1),
            bulk_columns: max_batch.max(1),
            repetitions: max_repetitions.max(1),
            bulk_disabled_for: 0,
        }
    }

    pub fn get_batch(&self) -> usize {
        self.get_batch
    }

    pub fn uses_bulk(&self) -> bool {
        self.bulk_disabled_for == 0
    }

    /// After a poll without trouble: batch sizes grow back by a quarter (at least one).
    pub fn poll_succeeded(&mut self) {
        let grow = |n: usize, max: usize| (n + (n / 4).max(1)).min(max);
        self.get_batch = grow(self.get_batch, self.max_batch);
        self.bulk_columns = grow(self.bulk_columns, self.max_batch);
        self.repetitions = grow(self.repetitions as usize, self.max_repetitions as usize) as u32;
        self.bulk_disabled_for = self.bulk_disabled_for.saturating_sub(1);
    }

    /// GETs `oids` in batches into `answers`. A batch that times out or is tooBig is
    /// retried at half the size; at size one, a timeout is the poll's error.
    pub async fn get(
        &mut self,
        device: &Device,
        oids: &[Oid],
        stats: &mut FetchStats,
        answers: &mut Answers,
    ) -> Result<(), SnmpError> {
        let mut start = 0;
        while start < oids.len() {
            let end = (start + self.get_batch).min(oids.len());
            stats.get_requests += 1;
            match device.get(&oids[start..end]).await {
                Ok(varbinds) => {
                    answers.begin(Instant::now());
                    for vb in varbinds {
                        if !vb.value.is_exception() {
                            stats.varbinds += 1;
                            answers.insert(vb);
                        }
                    }
                    start = end;
                }
                Err(error) => match shrink_reason(&error) {
                    Some(reason) if end - start > 1 => {
                        reason.count(stats);
                        self.get_batch = ((end - start) / 2).max(1);
                    }
                    Some(reason) => {
                        reason.count(stats);
                        return Err(error);
                    }
                    None => {
                        stats.errors += 1;
                        return Err(error);
                    }
                },
            }
        }
        Ok(())
    }

    /// Walks `columns` into `answers` (the bindings inside their column).
    pub async fn walk_columns(
        &mut self,
        device: &Device,
        columns: Vec<Oid>,
        stats: &mut FetchStats,
        answers: &mut Answers,
    ) -> Result<(), SnmpError> {
        let mut walk = ColumnWalk::new(columns);
        let v1 = device.version() == Version::V1;
        while !walk.is_done() {
            let bulk = self.uses_bulk() && !v1;
            let (asked, oids) = walk.next_request(self.bulk_columns);
            let result = if bulk {
                stats.getbulk_requests += 1;
                device.get_bulk(0, self.repetitions as i32, &oids).await
            } else {
                stats.getnext_requests += 1;
                device.get_next(&oids).await
            };
            match result {
                Ok(varbinds) => {
                    answers.begin(Instant::now());
                    walk.on_response(&asked, varbinds, |_, vb| {
                        stats.varbinds += 1;
                        answers.insert(vb)
                    })
                }
                Err(SnmpError::Status { status, index, .. }) if !bulk && status == ErrorStatus::NO_SUCH_NAME => {
                    // SNMPv1's end of MIB for the column at `index` (1-based).
                    match usize::try_from(index).ok().and_then(|i| i.checked_sub(1)).and_then(|i| asked.get(i)) {
                        Some(&column) => walk.finish(column),
                        None => asked.iter().for_each(|&c| walk.finish(c)),
                    }
                }
                Err(error) => match shrink_reason(&error) {
                    Some(reason) => {
                        reason.count(stats);
                        if asked.len() > 1 {
                            self.bulk_columns = (asked.len() / 2).max(1);
                        } else if bulk && self.repetitions > 1 {
                            self.repetitions = (self.repetitions / 2).max(1);
                        } else if bulk && reason == Shrink::Timeout {
                            // One column, one row, and still no answer to GETBULK: some
                            // agents drop GETBULK they cannot serve; try GETNEXT.
                            self.disable_bulk(stats);
                        } else {
                            return Err(error);
                        }
                    }
                    None if bulk => {
                        // genErr, a malformed answer, a refused GETBULK: GETNEXT instead.
                        stats.errors += 1;
                        self.disable_bulk(stats);
                    }
                    None => {
                        stats.errors += 1;
                        return Err(error);
                    }
                },
            }
        }
        if walk.not_increasing > 0 && self.uses_bulk() {
            // Agents with broken GETBULK lexicographic order are common enough that
            // GETNEXT is the better choice for them.
            self.disable_bulk(stats);
        }
        Ok(())
    }

    fn disable_bulk(&mut self, stats: &mut FetchStats) {
        if self.bulk_disabled_for == 0 {
            stats.fell_back_to_getnext = true;
        }
        self.bulk_disabled_for = BULK_RETRY_POLLS;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shrink {
    TooBig,
    Timeout,
}

impl Shrink {
    fn count(self, stats: &mut FetchStats) {
        match self {
            Shrink::TooBig => stats.too_big += 1,
            Shrink::Timeout => stats.timeouts += 1,
        }
    }
}

/// Errors that a smaller request may avoid.
fn shrink_reason(error: &SnmpError) -> Option<Shrink> {
    match error {
        SnmpError::Status { status, .. } if *status == ErrorStatus::TOO_BIG => Some(Shrink::TooBig),
        SnmpError::Timeout { .. } => Some(Shrink::Timeout),
        _ => None,
    }
}

/// A numeric reading of a value, for sysUpTime.
pub fn time_ticks(value: &Value) -> Option<u32> {
    match value {
        Value::TimeTicks(t) | Value::Gauge32(t) | Value::Counter32(t) | Value::UInteger32(t) => Some(*t),
        Value::Integer(i) => u32::try_from(*i).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn oid(text: &str) -> Oid {
        text.parse().unwrap()
    }

    fn vb(text: &str, v: u32) -> VarBind {
        VarBind::new(oid(text), Value::Counter32(v))
    }

    #[test]
    fn bulk_answers_are_split_by_column_and_columns_end_independently() {
        let mut walk = ColumnWalk::new(vec![oid(".1.3.6.1.2.1.2.2.1.10"), oid(".1.3.6.1.2.1.2.2.1.16")]);
        let (asked, oids) = walk.next_request(8);
        assert_eq!(asked, [0, 1]);
        assert_eq!(oids, [oid(".1.3.6.1.2.1.2.2.1.10"), oid(".1.3.6.1.2.1.2.2.1.16")]);
        let mut seen = Vec::new();
        // Two repetitions; the first column has a single row, so its second slot is
        // already the next column (outside: that column is done).
        walk.on_response(
            &asked,
            vec![
                vb(".1.3.6.1.2.1.2.2.1.10.1", 5),
                vb(".1.3.6.1.2.1.2.2.1.16.1", 6),
                vb(".1.3.6.1.2.1.2.2.1.11.1", 7),
                vb(".1.3.6.1.2.1.2.2.1.16.2", 8),
            ],
            |c, vb| seen.push((c, vb.value)),
        );
        assert_eq!(seen, [(0, Value::Counter32(5)), (1, Value::Counter32(6)), (1, Value::Counter32(8))]);
        let (asked, oids) = walk.next_request(8);
        assert_eq!(asked, [1]);
        assert_eq!(oids, [oid(".1.3.6.1.2.1.2.2.1.16.2")]);
        walk.on_response(&asked, vec![VarBind::new(oid(".1.3.6.1.2.1.2.2.1.17.1"), Value::Counter32(0))], |_, _| {
            panic!("outside the column")
        });
        assert!(walk.is_done());
    }

    #[test]
    fn missing_column_ends_at_once_and_exceptions_end_a_column() {
        let mut walk = ColumnWalk::new(vec![oid(".1.3.6.1.4.1.9.9.109.1.1.1.1.8"), oid(".1.3.6.1.2.1.1.9")]);
        let (asked, _) = walk.next_request(8);
        walk.on_response(
            &asked,
            vec![
                // The device has no CPU table: the next OID is elsewhere.
                vb(".1.3.6.1.4.1.9.9.110.1", 1),
                VarBind::new(oid(".1.3.6.1.2.1.1.9.1.2.1"), Value::EndOfMibView),
            ],
            |_, _| panic!("nothing is inside"),
        );
        assert!(walk.is_done());
    }

    #[test]
    fn a_non_increasing_answer_ends_the_column_and_is_counted() {
        let mut walk = ColumnWalk::new(vec![oid(".1.3.6.1.2.1.2.2.1.10")]);
        let (asked, _) = walk.next_request(8);
        walk.on_response(&asked, vec![vb(".1.3.6.1.2.1.2.2.1.10.5", 1)], |_, _| {});
        walk.on_response(&asked, vec![vb(".1.3.6.1.2.1.2.2.1.10.3", 1)], |_, _| panic!("went back"));
        assert!(walk.is_done());
        assert_eq!(walk.not_increasing, 1);
    }

    #[test]
    fn batches_grow_back_after_clean_polls() {
        let mut fetcher = Fetcher::new(32, 10);
        fetcher.get_batch = 2;
        fetcher.poll_succeeded();
        assert_eq!(fetcher.get_batch(), 3);
        for _ in 0..20 {
            fetcher.poll_succeeded();
        }
        assert_eq!(fetcher.get_batch(), 32);
    }
}
