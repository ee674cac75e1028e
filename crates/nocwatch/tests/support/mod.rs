//! Helpers for end-to-end tests: start the real `nocwatch` binary with a config, talk to
//! it over real sockets, signal it, and read what it wrote.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod intake;
pub mod netsnmp;
pub mod pki;
pub mod receiver;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_nocwatch");

/// A loopback port that is free for both TCP and UDP right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub struct Agent {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub admin: SocketAddr,
}

impl Agent {
    /// Starts `nocwatch run` with `config` (admin address is filled in as `${ADMIN}`) and
    /// waits until it is ready. stdout is discarded unless `stdout` says otherwise.
    pub fn start(config: &str, stdout: Stdio) -> Agent {
        Agent::start_with_env(config, stdout, &[])
    }

    /// Like [`Agent::start`], with extra environment variables for the agent.
    pub fn start_with_env(config: &str, stdout: Stdio, env: &[(&str, &str)]) -> Agent {
        let mut agent = Agent::spawn(config, stdout, env);
        agent.wait_ready();
        agent
    }

    /// Like [`Agent::start`], but waits only until the process is live (`/health/live`),
    /// for configs whose sources are meant to stay unhealthy.
    pub fn start_live(config: &str, stdout: Stdio, env: &[(&str, &str)]) -> Agent {
        let mut agent = Agent::spawn(config, stdout, env);
        agent.wait_for("/health/live");
        agent
    }

    fn spawn(config: &str, stdout: Stdio, env: &[(&str, &str)]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let admin = addr(free_port());
        let config = config.replace("${ADMIN}", &admin.to_string()).replace("${DIR}", dir.path().to_str().unwrap());
        let path = dir.path().join("nocwatch.yaml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        Agent { child, dir, admin }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Events the config's file sink (`${DIR}/events.jsonl`) has written so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        read_json_lines(&self.path("events.jsonl"))
    }

    /// Waits until the file sink holds at least `n` events, and returns them.
    pub fn wait_events(&self, n: usize) -> Vec<serde_json::Value> {
        eventually(Duration::from_secs(10), &format!("{n} events in the file sink"), || self.events().len() >= n);
        self.events()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.path("stderr.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        self.wait_for("/health/ready");
    }

    fn wait_for(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nocwatch exited early ({status}):\n{}", self.stderr());
            }
            if matches!(http_get(self.admin, path), Ok((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nocwatch: {path} not 200 in time:\n{}", self.stderr());
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("nocwatch did not exit within {timeout:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A self-metric's value from `/metrics`, matched by name and label substrings.
    pub fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let (_, body) = http_get(self.admin, "/metrics").ok()?;
        metric_value(&body, name, labels)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn metric_value(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// A plain HTTP/1.0 GET: status and body.
pub fn http_get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http_get_with(address, path, &[])
}

pub fn http_get_with(address: SocketAddr, path: &str, headers: &[&str]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Sends each line as a datagram. A test thread always sends from the same socket, like
/// one device: one flow, which the agent keeps in order.
pub fn send_udp(to: SocketAddr, lines: &[String]) {
    thread_local! {
        static DEVICE: UdpSocket = UdpSocket::bind("127.0.0.1:0").unwrap();
    }
    DEVICE.with(|socket| {
        for line in lines {
            socket.send_to(line.as_bytes(), to).unwrap();
        }
    });
}

pub fn tcp_accepts(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}

/// The complete JSON lines of a file. A sink may be writing while the test reads: a last
/// line without its newline is not written yet and is left for the next read.
pub fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The shared test data of real devices (read-only, never copied into the project).
pub fn testdata(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata").join(relative)
}

/// A real peer process (rsyslogd, ...) that is killed when the test ends.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// net-snmp's `snmpd` in the foreground with only `conf` (written to `dir/snmpd.conf`; no
/// system config, no MIBs loaded), logging to `dir/snmpd.log`, its persistent state in
/// `dir/persist`. The caller waits for it to answer.
pub fn spawn_snmpd(dir: &Path, conf: &str) -> Peer {
    let conf_path = dir.join("snmpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    std::fs::create_dir_all(dir.join("persist")).unwrap();
    let child = Command::new("snmpd")
        .args(["-f", "-C", "-c"])
        .arg(&conf_path)
        .arg("-Lf")
        .arg(dir.join("snmpd.log"))
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
        .env("MIBS", "")
        .env("MIBDIRS", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd (Debian package snmpd) must be installed: scripts/test installs it");
    Peer(child)
}
