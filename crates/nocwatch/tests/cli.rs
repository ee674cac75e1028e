//! The command line as operators use it: `check-config`, `version`, `--help`, errors.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Output};

use support::BIN;

fn nocwatch(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("NOCWATCH_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-secret-123\n").unwrap();
    let config = dir.path().join("nocwatch.yaml");
    std::fs::write(
        &config,
        "admin:\n  auth_token: ${ADMIN_TOKEN}\nsources:\n  syslog:\n    type: syslog\n    address: ${LISTEN:-0.0.0.0:5514}\nsinks:\n  out: {type: console}\n",
    )
    .unwrap();
    let output =
        nocwatch(&["check-config", "--config", config.to_str().unwrap()], &[("ADMIN_TOKEN", "env-secret-456")]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stdout.contains("auth_token: \"<redacted>\""), "{stdout}");
    assert!(stdout.contains("address: \"0.0.0.0:5514\""), "{stdout}");
    assert!(!stdout.contains("env-secret-456") && !text(&output.stderr).contains("env-secret-456"));

    std::fs::write(&config, "admin:\n  auth_token_file: token\n").unwrap();
    let output = nocwatch(&["check-config", "-c", config.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stdout).contains("file-secret-123"));
    assert!(text(&output.stdout).contains("<redacted>"));
}

#[test]
fn check_config_fails_with_file_line_column_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "sources:\n  syslog:\n    type: syslog\n    adress: 0.0.0.0:514\n").unwrap();
    let output = nocwatch(&["check-config", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yaml:4:5: sources.syslog.adress: unknown key `adress`"), "{stderr}");
    assert!(stderr.contains("did you mean `address`?"), "{stderr}");

    // `run` refuses the same config the same way, before binding anything.
    let output = nocwatch(&["run", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("did you mean `address`?"));
}

/// A secret in a Datadog endpoint's URL (`?dd-api-key=`, `user:password@`) is refused with
/// the key's location, and neither `check-config` nor `run` ever prints it.
#[test]
fn a_datadog_endpoint_with_a_secret_is_refused_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dd.yaml");
    std::fs::write(
        &config,
        "sinks:\n  dd:\n    type: datadog_metrics\n    api_key: k\n    endpoint: 'http://relay:s3cretpw@127.0.0.1:9/?dd-api-key=KEY123'\n",
    )
    .unwrap();
    for command in ["check-config", "run"] {
        let output = nocwatch(&[command, "--config", config.to_str().unwrap()], &[]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(stderr.contains("dd.yaml:5:15: sinks.dd.endpoint: must not carry credentials"), "{stderr}");
        for secret in ["KEY123", "s3cretpw"] {
            assert!(!stdout.contains(secret) && !stderr.contains(secret), "{command}: {stdout}{stderr}");
        }
    }
}

#[test]
fn embedded_default_is_valid_and_env_driven() {
    let output = nocwatch(&["check-config"], &[("NOCWATCH_SYSLOG_ADDRESS", "127.0.0.1:6514")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("address: \"127.0.0.1:6514\""));
}

#[test]
fn version_and_help_on_every_command() {
    let output = nocwatch(&["version"], &[]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout).trim(), format!("nocwatch {}", env!("CARGO_PKG_VERSION")));
    let commands: [&[&str]; 5] = [
        &["--help"],
        &["run", "--help"],
        &["check-config", "--help"],
        &["version", "--help"],
        &["syslog", "parse", "--help"],
    ];
    for command in commands {
        let output = nocwatch(command, &[]);
        assert!(output.status.success(), "{command:?}");
        assert!(text(&output.stdout).contains("Usage: nocwatch"), "{command:?}");
    }
}

#[test]
fn syslog_parse_prints_events_for_lines_on_stdin() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["syslog", "parse", "--peer", "10.1.2.3", "--utc-offset", "+09:00"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"<189>29: *Apr 29 13:58:40.411: %SYS-5-CONFIG_I: Configured from console\n\nnot syslog\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let events: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["attributes"]["cisco"]["mnemonic"], "CONFIG_I");
    assert_eq!(events[0]["host"], "10.1.2.3");
    assert_eq!(events[0]["status"], "notice");
    assert!(events[0]["timestamp"].as_str().unwrap().ends_with("04:58:40.411Z"), "+09:00 applied: {}", events[0]);
    assert_eq!(events[1]["message"], "not syslog");
    assert!(events[1]["attributes"]["parse_error"].is_string());
}
