use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(source: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_str(source, "test.yaml", Path::new("."), &env(vars))
}

fn error(source: &str, vars: &[(&str, &str)]) -> String {
    load(source, vars).expect_err("config should be rejected").to_string()
}

const SYSLOG: &str = "
sources:
  syslog:
    type: syslog
    address: ${SYSLOG_ADDRESS:-127.0.0.1:5514}
sinks:
  out:
    type: console
";

#[test]
fn empty_file_is_the_defaults() {
    let config = load("", &[]).unwrap();
    assert_eq!(config.global.admin.address.to_string(), "127.0.0.1:8686");
    assert_eq!(config.global.shutdown.drain_period, Duration::from_secs(10));
    assert!(config.sources.is_empty());
}

#[test]
fn embedded_default_is_valid() {
    let config = load(EMBEDDED_DEFAULT, &[]).unwrap();
    assert!(matches!(config.sources.get("syslog_udp"), Some(SourceConfig::Syslog(_))));
    let Some(SinkConfig::LocalStore(store)) = config.sinks.get("store").map(|s| &s.config) else {
        panic!("the embedded default keeps events in the local store")
    };
    assert!(store.web_address().is_some_and(|a| a.ip().is_loopback()), "the page stays on loopback by default");
}

#[test]
fn env_interpolation_with_defaults() {
    let config = load(SYSLOG, &[]).unwrap();
    let Some(SourceConfig::Syslog(syslog)) = config.sources.get("syslog") else { panic!() };
    assert_eq!(syslog.address.to_string(), "127.0.0.1:5514");

    let config = load(SYSLOG, &[("SYSLOG_ADDRESS", "0.0.0.0:514")]).unwrap();
    let Some(SourceConfig::Syslog(syslog)) = config.sources.get("syslog") else { panic!() };
    assert_eq!(syslog.address.to_string(), "0.0.0.0:514");
}

#[test]
fn numbers_and_durations_from_env_whatever_the_quoting() {
    let source = "
shutdown:
  drain_period: \"${DRAIN}\"
  flush_timeout: ${FLUSH:-3s}
sinks:
  out:
    type: console
    buffer:
      max_events: '${MAX}'
      when_full: ${POLICY:-block}
";
    let config = load(source, &[("DRAIN", "30s"), ("MAX", "500")]).unwrap();
    assert_eq!(config.global.shutdown.drain_period, Duration::from_secs(30));
    assert_eq!(config.global.shutdown.flush_timeout, Duration::from_secs(3));
    let sink = &config.sinks["out"];
    assert_eq!(sink.buffer.max_events, 500);
    assert_eq!(sink.buffer.when_full, crate::pipeline::WhenFull::Block);
}

#[test]
fn missing_variable_names_it_and_where() {
    let source = "sources:\n  s:\n    type: syslog\n    address: ${SYSLOG_ADDRESS}\n";
    let message = error(source, &[]);
    assert!(message.starts_with("test.yaml:4:14: sources.s.address: "), "{message}");
    assert!(message.contains("environment variable `SYSLOG_ADDRESS` is not set"), "{message}");

    let source = "sources:\n  s:\n    type: syslog\n    address: ${SYSLOG_ADDRESS:?set the listen address}\n";
    let message = error(source, &[]);
    assert!(message.contains("`SYSLOG_ADDRESS` is required: set the listen address"), "{message}");
}

#[test]
fn a_scalar_fills_a_list_as_comma_separated_values() {
    let source = "
sources:
  a: {type: syslog, address: '127.0.0.1:1514'}
  b: {type: syslog, address: '127.0.0.1:2514'}
  c: {type: syslog, address: '127.0.0.1:3514'}
sinks:
  out:
    type: console
    inputs: ${INPUTS}
";
    let config = load(source, &[("INPUTS", "a, b,c,")]).unwrap();
    assert_eq!(config.sinks["out"].inputs.as_deref(), Some(&["a".to_owned(), "b".to_owned(), "c".to_owned()][..]));
    let config = load(&source.replace("${INPUTS}", "[a]"), &[]).unwrap();
    assert_eq!(config.sinks["out"].inputs.as_deref(), Some(&["a".to_owned()][..]));
}

#[test]
fn unknown_key_gets_location_and_suggestion() {
    let source = "sources:\n  syslog:\n    type: syslog\n    adress: 127.0.0.1:514\n";
    let message = error(source, &[]);
    assert!(message.starts_with("test.yaml:4:5: sources.syslog.adress: unknown key `adress`"), "{message}");
    assert!(message.contains("did you mean `address`?"), "{message}");

    let message = error("shutdown:\n  drain_priod: 5s\n", &[]);
    assert!(message.starts_with("test.yaml:2:3: shutdown.drain_priod:"), "{message}");
    assert!(message.contains("did you mean `drain_period`?"), "{message}");

    let message = error("source:\n  x: {}\n", &[]);
    assert!(message.contains("did you mean `sources`?"), "{message}");
}

#[test]
fn unknown_type_lists_the_types() {
    let source = "sinks:\n  out:\n    type: consol\n";
    let message = error(source, &[]);
    assert!(message.starts_with("test.yaml:3:11: sinks.out.type: unknown value `consol`"), "{message}");
    assert!(message.contains("did you mean `console`?"), "{message}");
}

#[test]
fn wrong_types_and_missing_keys_are_located() {
    let message = error("sinks:\n  out:\n    type: console\n    buffer:\n      max_events: lots\n", &[]);
    assert!(message.starts_with("test.yaml:5:19: sinks.out.buffer.max_events: expected"), "{message}");

    let message = error("sources:\n  s:\n    type: syslog\n", &[]);
    assert!(message.starts_with("test.yaml:3:5: sources.s: missing required key `address`"), "{message}");

    let message = error("shutdown:\n  drain_period: 10\n", &[]);
    assert!(message.contains("shutdown.drain_period: duration `10` needs a unit"), "{message}");

    let message = error("admin: [1, 2]\n", &[]);
    assert!(message.starts_with("test.yaml:1:8: admin: expected a mapping"), "{message}");

    let message = error("admin:\n  address: 127.0.0.1:8686\n  address: 127.0.0.1:8687\n", &[]);
    assert!(message.contains("admin.address: key `address` is given twice"), "{message}");

    let message = error("admin: {address: [}\n", &[]);
    assert!(message.contains("invalid YAML"), "{message}");
}

#[test]
fn references_and_addresses_are_checked() {
    let source = "
sources:
  syslog: {type: syslog, address: '127.0.0.1:5514'}
sinks:
  out: {type: console, inputs: [sylog]}
";
    let message = error(source, &[]);
    assert!(message.contains("sinks.out.inputs: `sylog` is not a source id; did you mean `syslog`?"), "{message}");

    let source = "
admin: {address: '127.0.0.1:9000'}
sources:
  syslog: {type: syslog, address: '127.0.0.1:5514', health_check: '127.0.0.1:9000'}
";
    let message = error(source, &[]);
    assert!(message.contains("TCP address 127.0.0.1:9000 is already used by `admin.address`"), "{message}");
}

#[test]
fn secrets_from_env_and_files_are_redacted_when_printed() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct WithSecret {
        api_key: Secret,
        community: Secret,
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("community"), "c0mmun1ty\n").unwrap();
    let node = yaml::parse("api_key: ${DD_API_KEY}\ncommunity_file: community\n").unwrap();
    let env = env(&[("DD_API_KEY", "abc$123")]);
    let ctx = Context { env: Some(&env), base_dir: Some(dir.path()) };
    let parsed: WithSecret = from_node(&node, "", &ctx).unwrap();
    assert_eq!(parsed.api_key.expose(), "abc$123");
    assert_eq!(parsed.community.expose(), "c0mmun1ty");
    assert!(!format!("{parsed:?}").contains("c0mmun1ty"));

    let node = yaml::parse("api_key: x\napi_key_file: community\ncommunity: y\n").unwrap();
    let err = from_node::<WithSecret>(&node, "", &ctx).unwrap_err();
    assert!(err.message.contains("either `api_key` or `api_key_file`"), "{err}");

    let node = yaml::parse("api_key_file: missing\ncommunity: y\n").unwrap();
    let err = from_node::<WithSecret>(&node, "", &ctx).unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
    assert_eq!(err.location, Some(Location { line: 1, column: 15 }));
}

#[test]
fn type_errors_never_echo_the_value() {
    let message = error("admin:\n  enabled: ${FLAG}\n", &[("FLAG", "s3cr3t-value")]);
    assert!(message.contains("expected true or false, found the value from the environment"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    // Literal text is the operator's own and helps find a typo.
    let message = error("admin:\n  enabled: ture\n", &[]);
    assert!(message.contains("found `ture`"), "{message}");
    let message = error("sinks:\n  out:\n    type: console\n    buffer: {max_events: [s3cr3t]}\n", &[]);
    assert!(!message.contains("s3cr3t"), "{message}");
}

#[test]
fn anchors_merge_keys_and_extension_sections() {
    let source = "
x-listener: &listener
  type: syslog
  max_message_size: 8KiB
sources:
  a:
    <<: *listener
    address: '127.0.0.1:1514'
  b:
    <<: *listener
    address: '127.0.0.1:2514'
    max_message_size: 1KiB
";
    let config = load(source, &[]).unwrap();
    let size = |id: &str| match &config.sources[id] {
        SourceConfig::Syslog(s) => s.max_message_size,
        other => panic!("{other:?}"),
    };
    assert_eq!(size("a"), ByteSize::kib(8));
    assert_eq!(size("b"), ByteSize::kib(1));
}

#[test]
fn redacted_yaml_round_trips() {
    let config = load(SYSLOG, &[]).unwrap();
    let printed = config.to_redacted_yaml();
    assert!(printed.contains("address: \"127.0.0.1:5514\""), "{printed}");
    assert!(printed.contains("type: \"syslog\""), "{printed}");
    let again = load(&printed, &[]).unwrap();
    assert_eq!(again.to_redacted_yaml(), printed);
}

#[test]
fn values_from_env_or_files_are_never_echoed() {
    let message = error("shutdown:\n  drain_period: ${DRAIN}\n", &[("DRAIN", "s3cr3t")]);
    assert!(message.contains("shutdown.drain_period") && !message.contains("s3cr3t"), "{message}");
    let message = error("sinks:\n  out: {type: console, buffer: {when_full: '${POLICY}'}}\n", &[("POLICY", "s3cr3t")]);
    assert!(message.contains("unknown value") && !message.contains("s3cr3t"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("size"), "s3cr3t\n").unwrap();
    let source = "sources:\n  s: {type: syslog, address: '127.0.0.1:1', max_message_size_file: size}\n";
    let message = load_str(source, "test.yaml", dir.path(), &env(&[])).unwrap_err().to_string();
    assert!(message.contains("max_message_size") && !message.contains("s3cr3t"), "{message}");
}

#[test]
fn suggestions_know_every_valid_key() {
    let message = error("sources_file: x\n", &[]);
    assert!(message.contains("unknown key `sources_file`; did you mean `sources`?"), "{message}");
    let message = error("sinks:\n  out:\n    type: console\n    bufer: {max_events: 5}\n", &[]);
    assert!(
        message.starts_with("test.yaml:4:5: sinks.out.bufer: unknown key `bufer`; did you mean `buffer`?"),
        "{message}"
    );
    let message = error("sources:\n  s:\n    address: 127.0.0.1:514\n", &[]);
    assert!(
        message.contains("sources.s: missing required key `type` (one of `syslog`, `internal_metrics`, "),
        "{message}"
    );
}

#[test]
fn cross_field_errors_point_at_their_line() {
    let source = "sources:\n  syslog: {type: syslog, address: '127.0.0.1:5514'}\nsinks:\n  out:\n    type: console\n    inputs: [sylog]\n";
    let message = error(source, &[]);
    assert!(message.starts_with("test.yaml:6:13: sinks.out.inputs:"), "{message}");
}

#[test]
fn check_config_catches_what_run_would_refuse() {
    let cases = [
        ("log: {level: 'info,,=x['}\n", "log.level: not a valid log filter"),
        ("sources:\n  s: {type: syslog, mode: tls, address: '127.0.0.1:6514'}\n", "needs a `tls` section"),
        (
            "sources:\n  s: {type: syslog, address: '127.0.0.1:514', tls: {cert: x, key: y}}\n",
            "`tls` is only for mode `tls`",
        ),
        (
            "sources:\n  s: {type: syslog, mode: tls, address: '127.0.0.1:6514', tls: {cert: x, key: y}}\n",
            "tls.cert holds no certificate",
        ),
        ("sources:\n  s: {type: syslog, address: '127.0.0.1:514', utc_offset: JST}\n", "utc_offset `JST`"),
        ("sources:\n  s: {type: internal_metrics, interval: 0s}\n", "interval must be more than 0s"),
        (
            "sinks:\n  d: {type: datadog_logs, api_key: k, transport: tcp, tls: {server_name: '*.logs.datadoghq.com'}}\n",
            "not a valid TLS server name",
        ),
        (
            "sinks:\n  d: {type: datadog_logs, api_key: k, transport: tcp, site: us5.datadoghq.com}\n",
            "no known TCP intake",
        ),
        ("sinks:\n  d: {type: datadog_logs, api_key: k, site: datadoghq.co}\n", "did you mean `datadoghq.com`?"),
        (
            "sinks:\n  d: {type: datadog_logs, api_key: k, request_timeout: 0s}\n",
            "request_timeout must be more than 0s",
        ),
        (
            "sinks:\n  d: {type: datadog_metrics, api_key: k, request_timeout: 0s}\n",
            "request_timeout must be more than 0s",
        ),
        (
            "sources:\n  t: {type: snmp_traps, communities: [c], report_rate_limit: {burst: 0}}\n",
            "report_rate_limit: rate, burst and max_clients must be more than 0",
        ),
        ("sources:\n  s: {type: snmp, addresses: ['10.0.0.1:161'], community: c}\n", "give the port as `port`"),
        ("sinks:\n  f: {type: file, path: x.jsonl, max_size: 0}\n", "max_size must be more than 0"),
        ("sinks:\n  f: {type: file, path: x.jsonl, max_files: 4000000000}\n", "max_files must be at most 1000"),
    ];
    for (source, expected) in cases {
        let message = error(source, &[]);
        assert!(message.contains(expected), "{source}: {message}");
    }

    // An empty token file (a secret that was not mounted) must not switch auth off.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "\n").unwrap();
    let source = "admin: {auth_token_file: token}\n";
    let message = load_str(source, "test.yaml", dir.path(), &env(&[])).unwrap_err().to_string();
    assert!(message.contains("admin.auth_token: is empty"), "{message}");
}

/// One SNMPv3 credentials type for the poller's source and devices and the trap
/// receiver's users: the same mistakes are refused in each place, before start.
#[test]
fn snmpv3_credentials_are_checked_alike_in_every_section() {
    let placements = [
        ("sources:\n  s:\n    type: snmp\n    addresses: [192.0.2.1]\n    user: ops\n", 4),
        ("sources:\n  s:\n    type: snmp\n    devices:\n      - address: 192.0.2.1\n        user: ops\n", 8),
        ("sources:\n  s:\n    type: snmp_traps\n    address: '127.0.0.1:9162'\n    users:\n      - user: ops\n", 8),
    ];
    let mistakes = [
        ("auth_protocol: SHA", "`auth_protocol` is set but `auth_key` is not"),
        ("priv_key: privpass1", "`priv_key` needs `auth_key` too"),
        ("auth_key: short", "`auth_key` is shorter than 8 characters"),
        ("auth_key: authpass1\npriv_protocol: AES", "`priv_protocol` is set but `priv_key` is not"),
        ("auth_protocol: SHA-1024\nauth_key: authpass1", "auth_protocol: unknown authentication protocol"),
    ];
    for (base, indent) in placements {
        let pad = " ".repeat(indent);
        for (keys, expected) in mistakes {
            let source: String = keys.lines().fold(base.to_owned(), |s, line| format!("{s}{pad}{line}\n"));
            let message = error(&source, &[]);
            assert!(message.starts_with("test.yaml:3:5: sources.s: "), "{source}{message}");
            assert!(message.contains(expected), "{source}{message}");
            assert!(!message.contains("authpass1") && !message.contains("privpass1"), "{message}");
        }
        let complete = format!(
            "{base}{pad}auth_protocol: SHA\n{pad}auth_key: authpass1\n{pad}priv_protocol: AES\n{pad}priv_key: privpass1\n"
        );
        let config = load(&complete, &[]).unwrap_or_else(|e| panic!("{complete}{e}"));
        let printed = config.to_redacted_yaml();
        assert!(printed.contains("auth_protocol: \"SHA\"") && !printed.contains("authpass1"), "{printed}");
    }
}

/// The credentials written beside other keys keep what every key has: `<key>_file`,
/// `${VAR}`, located errors, and unknown keys suggested among all valid keys.
#[test]
fn inline_credentials_keys_behave_like_every_other_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("auth"), "authpass-from-file\n").unwrap();
    let source = "sources:\n  s:\n    type: snmp\n    port: ${PORT}\n    devices:\n      - address: 192.0.2.1\n        user: ops\n        auth_key_file: auth\n        priv_key: ${PRIV}\n        tags: a:1,b:2\n";
    let vars = env(&[("PORT", "1161"), ("PRIV", "privpass-from-env")]);
    let config = load_str(source, "test.yaml", dir.path(), &vars).unwrap();
    let Some(SourceConfig::Snmp(snmp)) = config.sources.get("s") else { panic!() };
    let device = &snmp.devices[0];
    assert_eq!(snmp.port, 1161);
    assert_eq!(device.credentials.usm.auth_key.as_ref().map(Secret::expose), Some("authpass-from-file"));
    assert_eq!(device.credentials.usm.priv_key.as_ref().map(Secret::expose), Some("privpass-from-env"));
    assert_eq!(device.tags, ["a:1", "b:2"]);

    let message = error("sources:\n  s:\n    type: snmp\n    addresses: [192.0.2.1]\n    auth_kye: x\n", &[]);
    assert!(
        message.starts_with("test.yaml:5:5: sources.s.auth_kye: unknown key `auth_kye`; did you mean `auth_key`?"),
        "{message}"
    );
    assert!(message.contains("`addresses`") && message.contains("`context_name`"), "{message}");
    let message = error(
        "sources:\n  s:\n    type: snmp\n    devices:\n      - {address: 192.0.2.1, user: ops, priv_protocl: AES}\n",
        &[],
    );
    assert!(message.contains("did you mean `priv_protocol`?") && message.contains("`interfaces`"), "{message}");
    let message = error("sources:\n  s:\n    type: snmp\n    addresses: [192.0.2.1]\n    version: 4\n", &[]);
    assert!(message.starts_with("test.yaml:5:14: sources.s.version: invalid SNMP version"), "{message}");
    let message =
        error("sources:\n  s:\n    type: snmp_traps\n    users:\n      - {user: ops, context_name: c}\n", &[]);
    assert!(message.contains("`context_name` does not apply"), "{message}");
}

/// The keys every HTTP sink shares (`sinks::util::http`) are written beside the sink's own
/// and keep what every key has: located errors, `${VAR}`, unknown keys suggested among all
/// the sink's keys, each sink's defaults, and the effective config printing them.
#[test]
fn http_sink_keys_are_read_like_the_sinks_own() {
    let otlp = "sinks:\n  o:\n    type: otlp\n    endpoint: http://127.0.0.1:4318\n";
    let message = error(&format!("{otlp}    request_timeout: 5\n"), &[]);
    assert!(message.starts_with("test.yaml:5:22: sinks.o.request_timeout: duration `5` needs a unit"), "{message}");
    let message = error(&format!("{otlp}    request_timout: 5s\n"), &[]);
    assert!(
        message.starts_with(
            "test.yaml:5:5: sinks.o.request_timout: unknown key `request_timout`; did you mean `request_timeout`?"
        ),
        "{message}"
    );
    assert!(message.contains("`resource_attributes`") && message.contains("`buffer`"), "{message}");
    let message = error(&format!("{otlp}    request: {{concurrency: 0}}\n"), &[]);
    assert!(message.starts_with("test.yaml:5:28: sinks.o.request.concurrency:"), "{message}");

    let source = "sinks:\n  m: {type: datadog_metrics, api_key: k}\n  l: {type: datadog_logs, api_key: k, compression: none, batch: {max_events: '${MAX}'}}\n  o: {type: otlp, endpoint: 'http://c:4318', request: {concurrency: 3}, retry: {max_backoff: 5s}}\n";
    let config = load(source, &[("MAX", "50")]).unwrap();
    let sink = |id: &str| &config.sinks[id].config;
    let (SinkConfig::DatadogMetrics(metrics), SinkConfig::DatadogLogs(logs), SinkConfig::Otlp(otlp)) =
        (sink("m"), sink("l"), sink("o"))
    else {
        panic!("{config:?}")
    };
    assert_eq!(metrics.http.request_timeout, Duration::from_secs(30));
    assert_eq!(otlp.http.request_timeout, Duration::from_secs(10), "the OTel SDKs' default");
    assert!(metrics.http.gzip() && !logs.http.gzip() && otlp.http.gzip());
    assert_eq!((logs.http.batch.max_events, metrics.http.batch.max_events), (50, 1000));
    assert_eq!((otlp.http.request.concurrency.get(), metrics.http.request.concurrency.get()), (3, 10));
    assert_eq!(otlp.http.retry.max_backoff, Duration::from_secs(5));
    let printed = config.to_redacted_yaml();
    for line in ["request_timeout: \"10s\"", "request_timeout: \"30s\"", "compression: \"none\"", "concurrency: 3"] {
        assert!(printed.contains(line), "{line} in {printed}");
    }
    assert!(!printed.contains("written"), "{printed}");
}

/// `transport: tcp` writes one ordered stream of lines: the keys only HTTP uses are refused
/// rather than silently ignored, and the shared keys it does use are honoured.
#[test]
fn datadog_logs_over_tcp_refuses_the_keys_only_http_uses() {
    let base = "sinks:\n  d:\n    type: datadog_logs\n    api_key: k\n    transport: tcp\n";
    for key in ["request: {concurrency: 4}", "compression: none", "request_timeout: 10s"] {
        let message = error(&format!("{base}    {key}\n"), &[]);
        let name = key.split(':').next().unwrap();
        // At the key, not at the sink.
        assert!(message.starts_with("test.yaml:6:"), "{message}");
        assert!(message.contains(&format!("sinks.d.{name}: is for transport http only")), "{message}");
    }
    let config =
        load(&format!("{base}    batch: {{timeout: 50ms}}\n    retry: {{initial_backoff: 1s}}\n"), &[]).unwrap();
    let Some(SinkConfig::DatadogLogs(logs)) = config.sinks.get("d").map(|s| &s.config) else { panic!() };
    assert_eq!(
        (logs.http.batch.timeout, logs.http.retry.initial_backoff),
        (Duration::from_millis(50), Duration::from_secs(1))
    );
    // Over http the same keys are fine.
    load("sinks:\n  d: {type: datadog_logs, api_key: k, request: {concurrency: 4}, compression: none}\n", &[]).unwrap();
}

/// A Datadog `endpoint` is a base URL like otlp's: credentials, a query (`?dd-api-key=`) or a
/// fragment are refused at the key, and the error never repeats the URL.
#[test]
fn datadog_endpoints_with_credentials_or_a_query_are_refused_at_the_key() {
    for sink in ["datadog_logs", "datadog_metrics"] {
        for endpoint in ["http://relay:s3cretpw@127.0.0.1:9", "http://127.0.0.1:9/?dd-api-key=KEY123", "127.0.0.1:9"] {
            let source = format!("sinks:\n  d:\n    type: {sink}\n    api_key: k\n    endpoint: '{endpoint}'\n");
            let message = error(&source, &[]);
            assert!(message.starts_with("test.yaml:5:15: sinks.d.endpoint: "), "{message}");
            assert!(!message.contains("KEY123") && !message.contains("s3cretpw"), "{message}");
        }
    }
    let tcp = "sinks:\n  d: {type: datadog_logs, api_key: k, transport: tcp, endpoint: 'u:s3cretpw@h:10516'}\n";
    let message = error(tcp, &[]);
    assert!(message.contains("sinks.d.endpoint: for transport tcp is `host:port`"), "{message}");
    assert!(!message.contains("s3cretpw"), "{message}");
    load("sinks:\n  d: {type: datadog_logs, api_key: k, transport: tcp, endpoint: '[::1]:10516'}\n", &[]).unwrap();
}

/// otlp `headers` errors point at the header, and never show its value.
#[test]
fn otlp_header_errors_point_at_the_header() {
    let source = "sinks:\n  o:\n    type: otlp\n    endpoint: http://127.0.0.1:4318\n    headers:\n      x-token: \"s3cr3t\\n\"\n";
    let message = error(source, &[]);
    assert!(message.starts_with("test.yaml:6:16: sinks.o.headers.x-token: the value is not a valid"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    let source = "sinks:\n  o:\n    type: otlp\n    endpoint: http://127.0.0.1:4318\n    headers:\n      content-type: text/plain\n";
    let message = error(source, &[]);
    assert!(
        message.starts_with("test.yaml:6:21: sinks.o.headers.content-type: `content-type` is set by nocwatch"),
        "{message}"
    );
}

/// An unknown key lists the keys valid where it is: a sink's own keys and `buffer`/`inputs`
/// at the sink's level, only `retry`'s keys inside `retry` (and the sections at the top
/// level only there).
#[test]
fn unknown_keys_list_only_the_keys_valid_at_their_level() {
    let message = error("sinks:\n  d:\n    type: datadog_metrics\n    api_key: k\n    retry: {bogus: 1}\n", &[]);
    assert!(message.starts_with("test.yaml:5:13: sinks.d.retry.bogus: unknown key `bogus`"), "{message}");
    assert!(message.contains("max_backoff") && !message.contains("inputs") && !message.contains("buffer"), "{message}");
    let message = error("sinks:\n  d:\n    type: datadog_metrics\n    api_key: k\n    bogus: 1\n", &[]);
    assert!(message.contains("sinks.d.bogus: unknown key") && message.contains("inputs"), "{message}");
    let message = error("admin: {bogus: 1}\n", &[]);
    assert!(message.contains("admin.bogus: unknown key") && !message.contains("sinks"), "{message}");
    let message = error("bogus: 1\n", &[]);
    assert!(message.contains("unknown key `bogus`") && message.contains("sinks"), "{message}");
}

/// A key given twice names its whole path, in mappings and in list items.
#[test]
fn a_key_given_twice_names_its_path() {
    let message = error(
        "sinks:\n  d:\n    type: datadog_logs\n    api_key: k\n    compression: none\n    compression: gzip\n",
        &[],
    );
    assert!(message.starts_with("test.yaml:6:5: sinks.d.compression: key `compression` is given twice"), "{message}");
    let source = "sources:\n  s:\n    type: snmp\n    devices:\n      - {address: 10.0.0.1}\n      - {address: 10.0.0.2, port: 1, port: 2}\n";
    let message = error(source, &[]);
    assert!(message.contains("sources.s.devices[1].port: key `port` is given twice"), "{message}");
}
