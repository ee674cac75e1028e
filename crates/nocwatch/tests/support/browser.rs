//! Real peers for the web page's tests: headless Chromium driven over WebDriver (Debian
//! `chromium` + `chromium-driver`), and snmpsim (Debian `snmpsim`) replaying recordings of
//! real devices.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{addr, free_port};

/// `chromedriver` and one headless Chromium session; both stop when dropped.
pub struct Browser {
    driver: Child,
    address: SocketAddr,
    session: String,
}

impl Browser {
    pub fn start() -> Browser {
        let address = addr(free_port());
        let driver = Command::new("chromedriver")
            .arg(format!("--port={}", address.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(address, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // As root (CI), Chromium only runs without its sandbox; there is no display.
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800", "--lang=en-US"]}
        }}});
        let created = request(address, "POST", "/session", Some(&capabilities)).expect("new WebDriver session");
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        Browser { driver, address, session }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = request(self.address, method, &path, body).unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {answer}");
        }
        answer["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns what it returns.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(&json!({"script": script, "args": args})))
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.script(script, json!([]));
            if !(value.is_null() || value == json!(false) || value == json!("") || value == json!(0)) {
                return value;
            }
            if Instant::now() > deadline {
                let page = self.script("return document.body.innerText", json!([]));
                panic!("timed out waiting for {what}; the page shows:\n{}", page.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        let value =
            self.script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", json!([css]));
        value.as_str().unwrap_or_default().to_owned()
    }

    fn element(&self, css: &str) -> String {
        let found = self.call("POST", "/element", Some(&json!({"using": "css selector", "value": css})));
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned()
    }

    /// Types `text` into the element, as keystrokes.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/clear"), Some(&json!({})));
        self.call("POST", &format!("/element/{id}/value"), Some(&json!({"text": text})));
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    /// Chooses the option with `value` in a `<select>`.
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"));
    }

    /// Saves a screenshot as `<CARGO_TARGET_TMPDIR>/web-screenshots/<name>.png` (a test
    /// artefact, outside the repository) and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(self.address, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver request (HTTP/1.1, JSON, connection closed after the answer).
fn request(address: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    // chromedriver may keep the connection open after its answer: read by Content-Length.
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        let length =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
        if length.is_some_and(|length| response.len() >= end + 4 + length) {
            break;
        }
    }
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |i| i + 4);
    let body = String::from_utf8_lossy(&response[end..]);
    serde_json::from_str(&body).map_err(|e| std::io::Error::other(format!("{e}: {body}")))
}

/// snmpsim serving recordings, each under its own community, on `ports.len()` UDP ports
/// (one per simulated device: a device is an address and a port). Killed when dropped.
pub struct Snmpsim {
    child: Child,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Snmpsim {
    /// `recordings`: (community, path of a .snmprec file). Copied, not linked: snmpsim
    /// names a symlinked file's community after its target.
    pub fn start(recordings: &[(&str, PathBuf)], devices: usize) -> Snmpsim {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        for (community, path) in recordings {
            std::fs::copy(path, data.join(format!("{community}.snmprec"))).unwrap();
        }
        // As root snmpsim drops to nobody, which must read the data and write the cache.
        let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(dir.path()).status();
        let ports: Vec<u16> = (0..devices).map(|_| free_port()).collect();
        let mut command = Command::new("snmpsimd");
        command
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--logging-method=null");
        for port in &ports {
            command.arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"));
        }
        if nix_is_root() {
            command.args(["--process-user=nobody", "--process-group=nogroup"]);
        }
        let child =
            command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("snmpsimd (Debian package snmpsim)");
        let sim = Snmpsim { child, ports, _dir: dir };
        // Ready once every port answers sysObjectID for the first recording (the first
        // start indexes the recordings, which takes seconds).
        let community = recordings[0].0;
        for port in &sim.ports {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let out = Command::new("snmpget")
                    .args(["-v2c", "-c", community, "-t", "1", "-r", "0", "-On"])
                    .arg(format!("127.0.0.1:{port}"))
                    .arg(".1.3.6.1.2.1.1.2.0")
                    .env("MIBS", "")
                    .output()
                    .unwrap();
                if out.status.success() {
                    break;
                }
                assert!(Instant::now() < deadline, "snmpsim did not answer on port {port}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        sim
    }
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
