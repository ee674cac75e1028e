//! Store unit tests: what is written reads back (devices, interfaces, charts, log search),
//! survives reopening, is rolled up and expired by age and size; a damaged file is refused
//! with a clear error. Expected values are computed here from the inputs.

use std::time::Duration;

use jiff::Timestamp;

use super::query::{self, LogQuery, SeriesQuery};
use super::store::{Family, Retention, Store, StoreError};
use crate::event::{DeviceMetadata, Event, InterfaceInfo, LogEvent, Metric, MetricType, Status, Tags};

/// 2026-11-30T00:00:00Z, a whole hour and day.
const T0: i64 = 1_795_996_800;

fn retention() -> Retention {
    Retention {
        raw: Duration::from_secs(6 * 3600),
        rollup_5m: Duration::from_secs(8 * 86_400),
        rollup_1h: Duration::from_secs(90 * 86_400),
        logs: Duration::from_secs(30 * 86_400),
        max_size: 10 << 30,
    }
}

fn device_tags() -> Tags {
    [
        ("snmp_device", "192.0.2.10"),
        ("device_namespace", "default"),
        ("snmp_profile", "cisco-catalyst"),
        ("device_vendor", "cisco"),
        ("snmp_host", "core-sw1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn metric(name: &str, ts: i64, value: f64, extra: &[(&str, &str)]) -> Event {
    let mut tags = device_tags();
    for (k, v) in extra {
        tags.insert((*k).to_owned(), (*v).to_owned());
    }
    Event::Metric(Metric {
        name: name.to_owned(),
        metric_type: MetricType::Gauge,
        value,
        timestamp: Timestamp::from_second(ts).unwrap(),
        interval_secs: None,
        host: None,
        tags,
    })
}

fn log(ts_ms: i64, host: &str, source: &str, status: Status, message: &str) -> Event {
    Event::Log(LogEvent {
        timestamp: Timestamp::from_millisecond(ts_ms).unwrap(),
        host: Some(host.to_owned()),
        source: source.to_owned(),
        service: None,
        status,
        message: message.to_owned(),
        tags: Tags::new(),
        attributes: Default::default(),
    })
}

fn metadata(ts: i64) -> Event {
    Event::Metadata(Box::new(DeviceMetadata {
        timestamp: Timestamp::from_second(ts).unwrap(),
        device_id: "default:192.0.2.10".into(),
        host: None,
        ip_address: "192.0.2.10".into(),
        reachable: true,
        poll_duration_secs: 0.42,
        profile: Some("cisco-catalyst".into()),
        sys_object_id: Some("1.3.6.1.4.1.9.1.2494".into()),
        tags: device_tags(),
        fields: [("name", "core-sw1"), ("model", "C9300-48P"), ("os_name", "IOS-XE"), ("os_version", "17.9.4")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        interfaces: vec![InterfaceInfo {
            index: 1,
            name: Some("Gi1/0/1".into()),
            alias: Some("uplink".into()),
            description: None,
            mac_address: None,
            admin_status: Some("up".into()),
            oper_status: Some("down".into()),
            speed_bps: Some(1_000_000_000),
        }],
    }))
}

/// One poll's worth of a device at `ts`: interface 1 octet rates and CPU.
fn poll(ts: i64, in_rate: f64, cpu: f64) -> Vec<Event> {
    let iface = [("interface", "Gi1/0/1"), ("interface_index", "1")];
    vec![
        metric("snmp.ifHCInOctets", ts, in_rate, &iface),
        metric("snmp.ifHCOutOctets", ts, in_rate / 2.0, &iface),
        metric("snmp.cpu.usage", ts, cpu, &[("cpu", "0")]),
        metric("snmp.device.reachable", ts, 1.0, &[]),
    ]
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("store.sqlite"), retention()).unwrap()
}

fn reader(dir: &tempfile::TempDir) -> query::Reader {
    query::Reader::new(&dir.path().join("store.sqlite"))
}

/// The `snmp.cpu.usage` chart from `from` to `to`, of one device or of all.
fn cpu_chart(dir: &tempfile::TempDir, device: Option<&str>, from: i64, to: i64) -> query::Chart {
    let query = SeriesQuery {
        device: device.map(str::to_owned),
        names: vec!["snmp.cpu.usage".into()],
        interface_index: None,
        from,
        to,
    };
    reader(dir).with(|c| query::series(c, &query)).unwrap()
}

#[test]
fn devices_interfaces_and_latest_values_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let now = T0 + 600;
    let mut events = poll(T0, 1000.0, 10.0);
    events.extend(poll(T0 + 60, 3000.0, 30.0));
    events.push(metadata(T0 + 60));
    let written = store.write(&events, now).unwrap();
    assert_eq!((written.points, written.metadata), (8, 1));

    let reader = reader(&dir);
    let devices = reader.with(query::devices).unwrap();
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!(d.id, "default:192.0.2.10");
    assert_eq!(d.name.as_deref(), Some("core-sw1"));
    assert_eq!(d.model.as_deref(), Some("C9300-48P"));
    assert_eq!(d.os.as_deref(), Some("IOS-XE 17.9.4"));
    assert_eq!(d.cpu, Some(30.0), "the newest CPU value");
    assert_eq!(d.poll_duration_secs, Some(0.42));

    let (_, interfaces) = reader.with(|c| query::device(c, "default:192.0.2.10")).unwrap().unwrap();
    assert_eq!(interfaces.len(), 1);
    let i = &interfaces[0];
    assert_eq!((i.name.as_deref(), i.alias.as_deref()), (Some("Gi1/0/1"), Some("uplink")));
    assert_eq!((i.admin_status.as_deref(), i.oper_status.as_deref()), (Some("up"), Some("down")));
    assert_eq!(i.in_bps, Some(3000.0 * 8.0));
    assert_eq!(i.out_bps, Some(1500.0 * 8.0));
    assert_eq!(i.speed_bps, Some(1e9));
}

#[test]
fn restart_keeps_history_and_duplicates_replace() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(&dir);
        store.write(&poll(T0, 1000.0, 10.0), T0 + 60).unwrap();
    }
    let mut store = open(&dir);
    // The same poll again (a disk buffer replaying after a crash) and a new one.
    store.write(&poll(T0, 1000.0, 10.0), T0 + 120).unwrap();
    store.write(&poll(T0 + 60, 2000.0, 20.0), T0 + 120).unwrap();
    let chart = cpu_chart(&dir, Some("default:192.0.2.10"), T0 - 60, T0 + 120);
    assert_eq!(chart.resolution, 0);
    assert_eq!(chart.series.len(), 1);
    let values: Vec<(f64, f64)> = chart.series[0].points.iter().map(|p| (p[0], p[1])).collect();
    assert_eq!(values, vec![(T0 as f64, 10.0), ((T0 + 60) as f64, 20.0)]);
}

#[test]
fn closed_hours_roll_up_and_old_raw_hours_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    // 10 hours of one value per minute; the value of minute m is m.
    let values: Vec<(i64, f64)> = (0..600).map(|m| (T0 + m * 60, m as f64)).collect();
    let events: Vec<Event> = values.iter().map(|(ts, v)| metric("snmp.cpu.usage", *ts, *v, &[])).collect();
    let now = T0 + 600 * 60;
    // Written as they came (each batch "now" is its own time, so nothing is too old).
    for chunk in events.chunks(60) {
        let Event::Metric(last) = chunk.last().unwrap() else { unreachable!() };
        store.write(chunk, last.timestamp.as_second() + 1).unwrap();
    }
    let done = store.maintain(now).unwrap();
    // Hours 0..=9 are closed at `now` + grace? Hour 9 ends exactly at `now`: not yet.
    assert_eq!(done.rolled_up, 9);
    // Raw retention 6 h: hours ending at or before now - 6 h are gone (hours 0..=3).
    let dropped_raw: Vec<&String> = done.dropped_tables.iter().filter(|t| t.starts_with("raw_")).collect();
    assert_eq!(dropped_raw.len(), 4, "{:?}", done.dropped_tables);

    // 24 h chart → 5-minute rollups over all 10 hours (hour 9 aggregated from raw).
    let chart = cpu_chart(&dir, None, now - 86_400, now);
    assert_eq!(chart.resolution, 300);
    let points = &chart.series[0].points;
    assert_eq!(points.len(), 120, "10 hours of 5-minute buckets");
    for (bucket, point) in points.iter().enumerate() {
        let minutes: Vec<f64> = values[bucket * 5..bucket * 5 + 5].iter().map(|(_, v)| *v).collect();
        let avg = minutes.iter().sum::<f64>() / 5.0;
        assert_eq!(point[0] as i64, T0 + bucket as i64 * 300);
        assert_eq!((point[1], point[2], point[3]), (avg, minutes[0], minutes[4]), "bucket {bucket}");
    }
    // 7 d chart → hourly rollups.
    let chart = cpu_chart(&dir, None, now - 7 * 86_400, now);
    assert_eq!(chart.resolution, 3600);
    assert_eq!(chart.series[0].points.len(), 10);
    let hour3 = chart.series[0].points[3];
    assert_eq!((hour3[1], hour3[2], hour3[3]), ((180.0 + 239.0) / 2.0, 180.0, 239.0));

    // Points older than the raw retention when they arrive are not stored, and counted.
    let written = store.write(&[metric("snmp.cpu.usage", T0, 1.0, &[])], now).unwrap();
    assert_eq!((written.points, written.too_old), (0, 1));
    // NaN and infinite values are not stored either, and counted apart.
    let fresh = now - 60;
    let written = store
        .write(
            &[metric("snmp.cpu.usage", fresh, f64::NAN, &[]), metric("snmp.cpu.usage", fresh, f64::INFINITY, &[])],
            now,
        )
        .unwrap();
    assert_eq!((written.points, written.too_old, written.not_finite), (0, 0, 2));

    // Far later, the rollups expire too: 5-minute after 8 days, hourly after 90.
    let done = store.maintain(now + 10 * 86_400).unwrap();
    assert!(done.dropped_tables.iter().any(|t| t.starts_with("r5m_")), "{:?}", done.dropped_tables);
    assert!(!done.dropped_tables.iter().any(|t| t.starts_with("r1h_")));
    let done = store.maintain(now + 100 * 86_400).unwrap();
    assert!(done.dropped_tables.iter().any(|t| t.starts_with("r1h_")));
    let stats = reader(&dir).with(|c| query::stats(c, &dir.path().join("store.sqlite"))).unwrap();
    assert!(stats.partitions.values().all(|n| *n == 0), "{:?}", stats.partitions);
}

#[test]
fn late_points_into_a_rolled_up_hour_are_rolled_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store.write(&[metric("snmp.cpu.usage", T0, 10.0, &[])], T0 + 1).unwrap();
    store.maintain(T0 + 3 * 3600).unwrap();
    store.write(&[metric("snmp.cpu.usage", T0 + 60, 30.0, &[])], T0 + 3 * 3600).unwrap();
    store.maintain(T0 + 3 * 3600 + 1).unwrap();
    let chart = cpu_chart(&dir, None, T0, T0 + 7 * 86_400);
    assert_eq!(chart.series[0].points, vec![[T0 as f64, 20.0, 10.0, 30.0]]);
}

#[test]
fn logs_are_searched_by_text_device_status_and_source_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let ms = T0 * 1000;
    let events = vec![
        metadata(T0),
        log(ms, "core-sw1", "syslog", Status::Error, "%LINK-3-UPDOWN: Interface Gi1/0/1, changed state to down"),
        log(ms + 1, "edge-fw", "syslog", Status::Info, "session opened for user admin"),
        log(ms + 2, "192.0.2.10", "snmp-traps", Status::Warn, "linkDown"),
    ];
    store.write(&events, T0 + 1).unwrap();
    let reader = reader(&dir);
    let search = |query: LogQuery| -> Vec<String> {
        reader.with(|c| query::logs(c, &query)).unwrap().into_iter().map(|l| l.message).collect()
    };
    let all = || LogQuery { limit: 100, ..Default::default() };
    assert_eq!(search(LogQuery { text: Some("gi1/0/1 DOWN".into()), ..all() }).len(), 1);
    assert_eq!(search(LogQuery { text: Some("\"unbalanced".into()), ..all() }).len(), 0, "FTS syntax is literal");
    // The device's logs: by its sysName and by its address.
    assert_eq!(search(LogQuery { device: Some("default:192.0.2.10".into()), ..all() }).len(), 2);
    assert_eq!(search(LogQuery { max_severity: Some(4), ..all() }).len(), 2, "warn or worse");
    assert_eq!(search(LogQuery { source: Some("snmp-traps".into()), ..all() }), vec!["linkDown"]);
    let first = reader.with(|c| query::logs(c, &LogQuery { limit: 1, ..all() })).unwrap();
    let tail = search(LogQuery { after_id: Some(first[0].id - 2), ..all() });
    assert_eq!(tail.len(), 2, "tail reads forward");

    let done = store.maintain(T0 + 31 * 86_400).unwrap();
    assert_eq!(done.deleted_logs, 3);
    assert!(search(LogQuery { text: Some("session".into()), ..all() }).is_empty());
}

#[test]
fn over_max_size_the_oldest_data_goes_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = retention();
    small.max_size = 1 << 20;
    let path = dir.path().join("store.sqlite");
    let mut store = Store::open(&path, small).unwrap();
    // 5 hours × 60 minutes × 200 series.
    for minute in 0..300i64 {
        let ts = T0 + minute * 60;
        let events: Vec<Event> = (0..200)
            .map(|s| metric("snmp.ifHCInOctets", ts, s as f64, &[("interface_index", &s.to_string())]))
            .collect();
        store.write(&events, ts + 1).unwrap();
    }
    let before = store.used_bytes().unwrap();
    assert!(before > 1 << 20, "the test must start over the limit: {before}");
    let done = store.maintain(T0 + 300 * 60 + 1).unwrap();
    assert!(done.over_size);
    assert!(
        store.used_bytes().unwrap() <= 1 << 20,
        "{} bytes after {:?}",
        store.used_bytes().unwrap(),
        done.dropped_tables
    );
    // The oldest raw hour went, the current one stayed.
    assert!(done.dropped_tables.contains(&Family::Raw.table(T0)));
    assert!(!done.dropped_tables.contains(&Family::Raw.table(T0 + 4 * 3600)));
}

#[test]
fn a_damaged_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let error = match Store::open(&path, retention()) {
        Err(e) => e,
        Ok(_) => panic!("a file of junk opened as a store"),
    };
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("move it aside"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 64 * 1024], "the file is left as it was");
}

#[test]
fn a_large_hour_is_rolled_up_in_steps_and_late_points_restart_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let series = super::store::ROLLUP_SERIES_PER_STEP + 10;
    let events: Vec<Event> = (0..series)
        .map(|s| metric("snmp.ifHCInOctets", T0, s as f64, &[("interface_index", &s.to_string())]))
        .collect();
    store.write(&events, T0 + 1).unwrap();
    let later = T0 + 2 * 3600;
    let first = store.maintain(later).unwrap();
    assert!(first.more && first.rolled_up == 0, "{first:?}");
    // A late point for that hour: the hour starts over, so it cannot be missed.
    store.write(&[metric("snmp.cpu.usage", T0 + 30, 5.0, &[])], later).unwrap();
    let second = store.maintain(later).unwrap();
    assert!(second.more, "started over: {second:?}");
    let third = store.maintain(later).unwrap();
    assert!(!third.more && third.rolled_up == 1, "{third:?}");
    let chart = cpu_chart(&dir, None, T0, T0 + 7 * 86_400);
    assert_eq!(chart.series[0].points, vec![[T0 as f64, 5.0, 5.0, 5.0]]);
}

#[test]
fn a_full_store_gives_a_clear_error_that_may_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store.write(&poll(T0, 1.0, 1.0), T0 + 1).unwrap();
    // SQLite's own limit stands in for a full disk: the same SQLITE_FULL error.
    let pages: i64 = store.connection().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    store.connection().pragma_update(None, "max_page_count", pages).unwrap();
    let logs: Vec<Event> =
        (0..2000).map(|i| log(T0 * 1000 + i, "core-sw1", "syslog", Status::Info, &"x".repeat(500))).collect();
    let error = store.write(&logs, T0 + 2).unwrap_err();
    assert!(matches!(error, StoreError::Full(_)), "{error:?}");
    assert!(error.to_string().contains("no space left") && error.to_string().contains("max_size"), "{error}");
    // Nothing of the failed batch was kept, and what was there still reads.
    let reader = reader(&dir);
    assert!(reader.with(|c| query::logs(c, &LogQuery { limit: 10, ..Default::default() })).unwrap().is_empty());
    assert_eq!(reader.with(query::devices).unwrap().len(), 1);
    // Once there is room again, the same batch goes in.
    store.connection().pragma_update(None, "max_page_count", 1 << 30).unwrap();
    assert_eq!(store.write(&logs, T0 + 3).unwrap().logs, 2000);
}
