//! Micro-benchmark: CPU time to evaluate the bundled Cisco Catalyst profile over one poll
//! of the Catalyst 3560 recording (every varbind its plan asks for), with and without
//! building the `Fetched` from the varbinds, and what that means for the poller's target
//! (1,000 Catalyst devices per minute under 25 % of a core).
//!
//! `cargo bench -p nocwatch-profile` prints medians of 31 timed batches (plain std::time
//! harness, like the other crates' benches). Under `cargo test --all-targets` it runs one
//! tiny batch as a smoke test.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use nocwatch_profile::{Fetched, Profiles};
use nocwatch_snmp::{Oid, Value, snmprec};

fn median_ns(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// This process's user + system CPU time in seconds (Linux `/proc/self/stat`, 100 Hz
/// ticks): the machine is shared, so wall time alone over-states the cost.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after "pid (comm)".
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per_batch) = if full { (31, 200) } else { (1, 1) };

    let start = Instant::now();
    let profiles = Profiles::bundled();
    let load_ms = start.elapsed().as_secs_f64() * 1e3;

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/snmprec/cisco-c3560.snmprec");
    let text = std::fs::read_to_string(path).expect("recording");
    let records = snmprec::parse(&text).expect("parse");
    let sys_object_id = records.iter().find(|(o, _)| *o == Oid::from([1, 3, 6, 1, 2, 1, 1, 2, 0])).map(|(_, v)| v);
    let Some(Value::ObjectId(sys_object_id)) = sys_object_id else { panic!("no sysObjectID") };
    let profile = profiles.for_sys_object_id(sys_object_id).expect("profile");
    let plan = profile.plan();
    let columns: Vec<&Oid> = plan.tables.iter().flat_map(|t| &t.columns).collect();
    let polled: Vec<(Oid, Value)> = records
        .into_iter()
        .filter(|(oid, _)| {
            plan.scalars.contains(oid) || columns.iter().any(|c| oid.starts_with(c) && oid.len() > c.len())
        })
        .collect();
    let fetched: Fetched = polled.iter().cloned().collect();
    let evaluation = profile.evaluate(&fetched);

    let cpu_before = cpu_seconds();
    let eval_ns = median_ns(batches, per_batch, || {
        black_box(profile.evaluate(black_box(&fetched)));
    });
    let eval_cpu_us = (cpu_seconds() - cpu_before) * 1e6 / (batches * per_batch) as f64;
    let mut reused = Fetched::new();
    let cpu_before = cpu_seconds();
    let build_eval_ns = median_ns(batches, per_batch, || {
        reused.clear();
        for (oid, value) in &polled {
            reused.insert(oid.clone(), value.clone());
        }
        black_box(profile.evaluate(black_box(&reused)));
    });
    let build_eval_cpu_us = (cpu_seconds() - cpu_before) * 1e6 / (batches * per_batch) as f64;

    println!(
        "profile {}: {} scalars + {} columns in {} tables planned; one poll = {} varbinds -> {} samples, {} interfaces",
        profile.name,
        plan.scalars.len(),
        columns.len(),
        plan.tables.len(),
        polled.len(),
        evaluation.samples.len(),
        evaluation.interfaces.len()
    );
    println!("load bundled profiles: {load_ms:.1} ms");
    println!(
        "evaluate:               {:>8.1} us/poll (median wall), {eval_cpu_us:.1} us CPU/poll (mean)",
        eval_ns / 1e3
    );
    println!(
        "insert varbinds+evaluate:{:>7.1} us/poll (median wall), {build_eval_cpu_us:.1} us CPU/poll (mean)",
        build_eval_ns / 1e3
    );
    // 1,000 devices polled once a minute: CPU fraction of one core.
    println!(
        "1,000 devices/min, CPU time: {:.2} % of one core (evaluate), {:.2} % (insert + evaluate)",
        eval_cpu_us * 1000.0 / 60e6 * 100.0,
        build_eval_cpu_us * 1000.0 / 60e6 * 100.0
    );
}
