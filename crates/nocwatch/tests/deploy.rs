//! The deploy kit, checked: the container image (built with podman from a base made here,
//! then run), the one config of the migration guide (`check-config` with the seed's
//! environment), the Kubernetes manifests (schema validation, offline), and the ECS task
//! definition and Terraform (parsed). Tools: podman + runc, jq, and the PyPI packages
//! `kubernetes-validate` and `python-hcl2` (scripts/test installs them).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::*;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

const BIN: &str = env!("CARGO_BIN_EXE_nocwatch");

/// The seed's environment (the task definition's variables), with made-up values.
const SEED_ENV: &[(&str, &str)] = &[
    ("IP_ADDRESSES", "10.20.0.1,10.20.0.2,10.20.0.3"),
    ("COMMUNITY_STRING", "n0t-public"),
    ("DD_API_KEY", "0123456789abcdef0123456789abcdef"),
];

/// `kubernetes-validate` as a module of the same python3 that has python-hcl2 (no PATH
/// assumptions about where pip put its scripts).
fn kubernetes_validate() -> Command {
    let mut command = Command::new("python3");
    command.args(["-m", "kubernetes_validate"]);
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_migration_config_passes_check_config_with_the_seed_environment() {
    let config = repo("deploy/nocwatch.yaml");
    let check = |env: &[(&str, &str)]| {
        Command::new(BIN).args(["check-config", "--config"]).arg(&config).env_clear().envs(env.iter().copied()).output()
    };
    let output = check(SEED_ENV).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // What the seed's variables became: every device, the community redacted.
    for expected in
        ["\"10.20.0.1\"", "\"10.20.0.3\"", "community: \"<redacted>\"", "mode: \"server\"", "type: \"snmp_traps\""]
    {
        assert!(printed.contains(expected), "{expected} not in:\n{printed}");
    }
    assert!(!printed.contains("n0t-public") && !printed.contains("0123456789abcdef"), "secrets printed");
    // Without the seed's variables, it says which is missing, not what the others hold.
    let output = check(&SEED_ENV[1..]).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("IP_ADDRESSES"), "{stderr}");
    assert!(!stderr.contains("n0t-public"), "{stderr}");
    // The docs show this very file.
    let guide = std::fs::read_to_string(repo("docs/migrate-from-datadog-rsyslog-stone.md")).unwrap();
    let file = std::fs::read_to_string(&config).unwrap();
    let body: String = file.lines().skip_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    assert!(guide.contains(&body), "the guide's config differs from deploy/nocwatch.yaml");
}

#[test]
fn kubernetes_manifests_pass_schema_validation() {
    let dir = repo("deploy/kubernetes");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 5, "{manifests:?}");
    // Offline: the schemas are bundled with the package. --strict refuses unknown fields.
    let output =
        ok(kubernetes_validate().args(["--strict", "--kubernetes-version", "1.31.0", "--quiet"]).args(&manifests));
    assert!(!output.contains("ERROR"), "{output}");
    // And it does refuse a wrong one (so a pass means something).
    let broken = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dir.join("receivers.yaml")).unwrap();
    let path = broken.path().join("broken.yaml");
    std::fs::write(&path, text.replace("externalTrafficPolicy: Local", "externalTraficPolicy: Local")).unwrap();
    let output = run(kubernetes_validate().args(["--strict", "--kubernetes-version", "1.31.0"]).arg(&path));
    assert!(!output.status.success(), "a bad manifest passed");

    let all: String = manifests.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(all.contains("apps.kubernetes.io/pod-index"), "the poller's SHARD_INDEX comes from the pod index");
    assert!(all.contains("path: /health/ready") && all.contains("externalTrafficPolicy: Local"));

    // The ConfigMap's two configs pass check-config with the environment the pods get
    // (the third poller: shard 2 of 3).
    let configs = tempfile::tempdir().unwrap();
    let extract = r#"
import sys, yaml, pathlib
config_map = yaml.safe_load(open(sys.argv[1]))
for name, text in config_map["data"].items():
    pathlib.Path(sys.argv[2], name).write_text(text)
"#;
    ok(Command::new("python3").args(["-c", extract]).arg(dir.join("config.yaml")).arg(configs.path()));
    let pod_env = [("POD_NAME", "nocwatch-poller-2"), ("SHARD_INDEX", "2"), ("SHARD_COUNT", "3")];
    for role in ["receivers.yaml", "pollers.yaml"] {
        let output = run(Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(configs.path().join(role))
            .env_clear()
            .envs(SEED_ENV.iter().chain(&pod_env).copied()));
        assert!(output.status.success(), "{role}: {}", String::from_utf8_lossy(&output.stderr));
        if role == "pollers.yaml" {
            let printed = String::from_utf8_lossy(&output.stdout);
            assert!(printed.contains("count: 3") && printed.contains("index: 2"), "{printed}");
        }
    }
}

#[test]
fn ecs_task_definition_and_terraform_parse() {
    let task = repo("deploy/ecs/task-definition.json");
    // jq: valid JSON, and the settings the drain depends on.
    let stop_timeout = ok(Command::new("jq").args(["-r", ".containerDefinitions[0].stopTimeout"]).arg(&task));
    assert_eq!(stop_timeout.trim(), "40");
    let secrets = ok(Command::new("jq")
        .args(["-r", "[.containerDefinitions[0].secrets[].name] | sort | join(\",\")"])
        .arg(&task));
    assert_eq!(secrets.trim(), "COMMUNITY_STRING,DD_API_KEY");
    let env =
        ok(Command::new("jq").args(["-r", "[.containerDefinitions[0].environment[].name] | join(\",\")"]).arg(&task));
    assert!(env.contains("IP_ADDRESSES") && env.contains("DRAIN_PERIOD"), "{env}");
    let protocols = ok(Command::new("jq")
        .args(["-r", "[.containerDefinitions[0].portMappings[] | \"\\(.containerPort)/\\(.protocol)\"] | join(\" \")"])
        .arg(&task));
    for port in ["5514/udp", "5514/tcp", "5515/tcp", "1123/udp", "1124/tcp", "9162/udp", "9163/tcp"] {
        assert!(protocols.split(' ').any(|p| p.trim() == port), "{port} not mapped: {protocols}");
    }

    // python-hcl2: every .tf parses; and what it parsed has the NLB settings that matter.
    let script = r#"
import hcl2, json, pathlib, sys
out = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.tf")):
    with open(path) as f:
        out[path.name] = hcl2.load(f)
print(json.dumps(out))
"#;
    let parsed = ok(Command::new("python3").args(["-c", script]).arg(repo("deploy/ecs")));
    let parsed: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    let text = parsed.to_string();
    for needle in [
        "connection_termination",
        "deregistration_delay",
        "preserve_client_ip",
        "aws_secretsmanager_secret",
        "aws_lb_listener",
        "TCP_UDP",
    ] {
        assert!(text.contains(needle), "{needle} not in the Terraform");
    }
    // python-hcl2 refuses broken HCL (so a pass means something).
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("broken.tf"), "resource \"aws_lb\" \"x\" {\n  name = \n").unwrap();
    assert!(!run(Command::new("python3").args(["-c", script]).arg(broken.path())).status.success());
}

/// podman with its own storage under a temporary directory, removed at the end.
struct Podman {
    dir: tempfile::TempDir,
    runtime: Option<&'static str>,
}

impl Podman {
    fn new() -> Podman {
        // crun cannot run containers on this kind of machine (cgroups v1 in hybrid mode); runc can.
        let runtime = Command::new("runc").arg("--version").output().is_ok().then_some("runc");
        Podman { dir: tempfile::tempdir().unwrap(), runtime }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
        if let Some(runtime) = self.runtime {
            command.args(["--runtime", runtime]);
        }
        command
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "-a", "-f"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = self.command().args(["rmi", "-a", "-f"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A runtime base made from this host's files: what distroless "cc" holds and the binary
/// needs at run time: the shared libraries `ldd` names and their loader, CA certificates,
/// /etc/passwd and /etc/group with the user `nonroot` (65532), /tmp.
fn base_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    let ldd = ok(Command::new("ldd").arg(BIN));
    let libraries: Vec<&str> =
        ldd.lines().filter_map(|line| line.split_whitespace().find(|word| word.starts_with('/'))).collect();
    assert!(libraries.iter().any(|l| l.contains("libc.so")), "{ldd}");
    for library in libraries {
        let target = rootfs.join(library.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(library, &target).unwrap();
    }
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(etc.join("ssl/certs")).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nnonroot:x:65532:\n").unwrap();
    if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        std::fs::copy("/etc/ssl/certs/ca-certificates.crt", etc.join("ssl/certs/ca-certificates.crt")).unwrap();
    }
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    ok(Command::new("chmod").arg("1777").arg(rootfs.join("tmp")));
    let tar = dir.join("rootfs.tar");
    ok(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg("."));
    tar
}

/// The build context and Dockerfile for the runtime stage: the repository's Dockerfile with
/// its build stage (cargo in a Rust image, which needs the network) replaced by a stage
/// that holds the same `/out` tree, made here from the test's binary. The runtime stage
/// is used as written.
fn build_context(dir: &Path) -> PathBuf {
    let context = dir.join("context");
    let out = context.join("out");
    std::fs::create_dir_all(out.join("usr/bin")).unwrap();
    std::fs::create_dir_all(out.join("etc/nocwatch")).unwrap();
    std::fs::create_dir_all(out.join("var/lib/nocwatch")).unwrap();
    let binary = out.join("usr/bin/nocwatch");
    std::fs::copy(BIN, &binary).unwrap();
    // Smaller layers (vfs copies each): debug info is not needed to run.
    let _ = Command::new("strip").arg(&binary).status();
    std::fs::copy(repo("deploy/nocwatch.yaml"), out.join("etc/nocwatch/nocwatch.yaml")).unwrap();
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let runtime_at = dockerfile.find("FROM ${RUNTIME_IMAGE} AS runtime").expect("the runtime stage");
    let first_from = dockerfile.find("\nFROM ").unwrap();
    let test_dockerfile = format!(
        "{}\nFROM scratch AS build\nCOPY out/ /out/\n\n{}",
        &dockerfile[..first_from],
        &dockerfile[runtime_at..]
    );
    assert!(!dockerfile[runtime_at..].contains("\nRUN "), "the runtime stage must build without a shell");
    std::fs::write(context.join("Dockerfile.test"), test_dockerfile).unwrap();
    context
}

#[test]
fn the_image_builds_from_a_local_base_runs_as_nonroot_and_answers_health_live() {
    let podman = Podman::new();
    let dir = tempfile::tempdir().unwrap();
    let base = base_rootfs(dir.path());
    ok(podman.command().arg("import").arg(&base).arg("localhost/nocwatch-test-base:latest"));
    let context = build_context(dir.path());
    ok(podman
        .command()
        .args(["build", "--format", "docker", "--build-arg", "RUNTIME_IMAGE=localhost/nocwatch-test-base:latest"])
        .args(["-t", "localhost/nocwatch-test:latest", "-f"])
        .arg(context.join("Dockerfile.test"))
        .arg(&context));

    // The image's settings, as an orchestrator reads them.
    let inspect = ok(podman.command().args(["image", "inspect", "localhost/nocwatch-test:latest"]));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/bin/nocwatch"]));
    assert_eq!(config["Cmd"], serde_json::json!(["run"]));
    assert_eq!(config["StopSignal"], "SIGTERM");
    for port in ["5514/udp", "5514/tcp", "5515/tcp", "9162/udp", "9163/tcp", "1123/udp", "1124/tcp", "8686/tcp"] {
        assert!(config["ExposedPorts"].get(port).is_some(), "{port} not exposed: {config}");
    }
    assert!(config["Env"].as_array().unwrap().iter().any(|e| e == "NOCWATCH_CONFIG=/etc/nocwatch/nocwatch.yaml"));
    let healthcheck = &inspect[0]["Healthcheck"];
    let healthcheck = if healthcheck.is_null() { &config["Healthcheck"] } else { healthcheck };
    assert_eq!(
        healthcheck["Test"],
        serde_json::json!(["CMD", "/usr/bin/nocwatch", "health", "--path", "/health/live"])
    );

    // Its files: created (not run) and exported.
    ok(podman.command().args(["create", "--name", "files", "localhost/nocwatch-test:latest"]));
    let tar = dir.path().join("image.tar");
    ok(podman.command().args(["export", "-o"]).arg(&tar).arg("files"));
    let listing = ok(Command::new("tar").args(["--numeric-owner", "-tvf"]).arg(&tar));
    let entry = |path: &str| listing.lines().find(|l| l.ends_with(path)).unwrap_or_else(|| panic!("{path} missing"));
    assert!(entry(" usr/bin/nocwatch").starts_with("-rwxr-xr-x 0/0"), "{}", entry(" usr/bin/nocwatch"));
    // The data directory (disk buffers, MIB cache) belongs to the user nocwatch runs as.
    assert!(entry(" var/lib/nocwatch/").contains(" 65532/65532 "), "{}", entry(" var/lib/nocwatch/"));
    entry(" etc/nocwatch/nocwatch.yaml");

    // Run it, with a config mounted over the default one (the other documented way).
    let (admin, syslog) = (free_port(), free_port());
    let config_file = dir.path().join("mounted.yaml");
    std::fs::write(
        &config_file,
        format!(
            "admin: {{address: '${{NOCWATCH_ADMIN_ADDRESS}}'}}\nagent: {{data_dir: /var/lib/nocwatch}}\n\
             shutdown: {{drain_period: 0s}}\nsources:\n  syslog: {{type: syslog, address: '127.0.0.1:{syslog}'}}\n\
             sinks:\n  stdout: {{type: console}}\n"
        ),
    )
    .unwrap();
    let started = run(podman
        .command()
        .args(["run", "-d", "--name", "nocwatch", "--network", "host"])
        // The sandbox refuses raising these limits; lower ones are allowed.
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
        .args(["-e", &format!("NOCWATCH_ADMIN_ADDRESS=127.0.0.1:{admin}")])
        .arg("-v")
        .arg(format!("{}:/etc/nocwatch/nocwatch.yaml:ro", config_file.display()))
        .arg("localhost/nocwatch-test:latest"));
    if !started.status.success() {
        let why = String::from_utf8_lossy(&started.stderr);
        // Only a refusal by the container runtime (the sandbox) is excused; anything else fails.
        assert!(why.contains("OCI") || why.contains("runc") || why.contains("crun"), "podman run: {why}");
        eprintln!(
            "NOT RUN: this sandbox does not let podman start a container ({}); the image's files, user, entrypoint, ports and healthcheck were checked above",
            why.trim()
        );
        return;
    }
    let admin = addr(admin);
    eventually(Duration::from_secs(20), "/health/live from the container", || {
        matches!(http_get(admin, "/health/live"), Ok((200, _)))
    });
    // The HEALTHCHECK command, run inside the container as the image defines it.
    let health =
        ok(podman.command().args(["exec", "nocwatch", "/usr/bin/nocwatch", "health", "--path", "/health/ready"]));
    assert!(health.contains("/health/ready 200"), "{health}");
    // Runs as 65532, not root.
    let pid = ok(podman.command().args(["inspect", "--format", "{{.State.Pid}}", "nocwatch"]));
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().skip(1).all(|id| id == "65532"), "{uid}");
    // And receives: a syslog line reaches the console sink, i.e. the container's log.
    send_udp(addr(syslog), &["<14>hello from outside the container".to_owned()]);
    eventually(Duration::from_secs(10), "the line in the container log", || {
        ok(podman.command().args(["logs", "nocwatch"])).contains("hello from outside the container")
    });
    ok(podman.command().args(["stop", "-t", "10", "nocwatch"]));
    let exit = ok(podman.command().args(["inspect", "--format", "{{.State.ExitCode}}", "nocwatch"]));
    assert_eq!(exit.trim(), "0", "SIGTERM drains and exits 0");
}
