//! `nocwatch snmp get|getnext|walk|bulkwalk`: net-snmp-style flags (`-v 1|2c|3`, `-c`,
//! `-u`, `-l`, `-a`, `-A`, `-x`, `-X`, `-n`, `-e`, `-E`, `-t`, `-r`, `-C`, `-O`) and
//! `snmpwalk -On` output, so operators can paste their usual command lines and diff
//! the results. With MIBs configured (`--mib-dir`/`-M`, or `mibs:` in the config) OIDs
//! are read and printed by name and values the way net-snmp prints them with the same
//! MIBs (enum labels, DISPLAY-HINTs, BITS, UNITS); `-On` keeps OIDs numeric.
//!
//! Exit codes follow net-snmp: 0 success, 1 for a failure (timeout, v3 security error,
//! bad arguments), 2 when the agent answered with an error-status.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use std::sync::Arc;

use nocwatch_mib::{BaseType, Mibs};
use nocwatch_snmp::display::write_value;
use nocwatch_snmp::{Community, Oid, SecurityLevel, Value, Version};

use super::mib::{MibSource, symbolic};
use crate::config::Secret;
use crate::snmp::{Client, DeviceOptions, Security, SnmpError, UsmCredentials, WalkEnd};

#[derive(Debug, Subcommand)]
pub enum SnmpCommand {
    /// GET the given OIDs (like snmpget)
    Get(Box<SnmpArgs>),
    /// GETNEXT of the given OIDs (like snmpgetnext)
    Getnext(Box<SnmpArgs>),
    /// Walk a subtree with GETNEXT (like snmpwalk); default root .1.3.6.1.2.1
    Walk(Box<SnmpArgs>),
    /// Walk a subtree with GETBULK (like snmpbulkwalk); SNMPv1 falls back to GETNEXT
    Bulkwalk(Box<SnmpArgs>),
}

/// The net-snmp command-line options nocwatch understands.
#[derive(Args)]
#[command(disable_version_flag = true)]
pub struct SnmpArgs {
    /// SNMP version: 1, 2c or 3
    #[arg(short = 'v', value_name = "1|2c|3", default_value = "2c")]
    version: String,
    /// Community string (v1/v2c)
    #[arg(short = 'c', value_name = "COMMUNITY", env = "NOCWATCH_SNMP_COMMUNITY", hide_env_values = true)]
    community: Option<String>,
    /// Security name (v3)
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Security level (v3): noAuthNoPriv, authNoPriv or authPriv
    #[arg(short = 'l', value_name = "LEVEL")]
    level: Option<String>,
    /// Authentication protocol (v3): MD5 (default), SHA, SHA-224, SHA-256, SHA-384, SHA-512
    #[arg(short = 'a', value_name = "PROTOCOL")]
    auth_protocol: Option<String>,
    /// Authentication pass phrase (v3)
    #[arg(short = 'A', value_name = "PASSPHRASE", env = "NOCWATCH_SNMP_AUTH_PASSPHRASE", hide_env_values = true)]
    auth_passphrase: Option<String>,
    /// Privacy protocol (v3): DES (default), AES, AES-192, AES-256, AES-192-C, AES-256-C (-C: Cisco/Reeder key extension)
    #[arg(short = 'x', value_name = "PROTOCOL")]
    priv_protocol: Option<String>,
    /// Privacy pass phrase (v3)
    #[arg(short = 'X', value_name = "PASSPHRASE", env = "NOCWATCH_SNMP_PRIV_PASSPHRASE", hide_env_values = true)]
    priv_passphrase: Option<String>,
    /// Context name (v3)
    #[arg(short = 'n', value_name = "CONTEXT", default_value = "")]
    context: String,
    /// Security engine ID in hex (v3); skips discovery
    #[arg(short = 'e', value_name = "ENGINE-ID")]
    engine_id: Option<String>,
    /// Context engine ID in hex (v3); defaults to the security engine ID
    #[arg(short = 'E', value_name = "ENGINE-ID")]
    context_engine_id: Option<String>,
    /// Timeout per attempt, in seconds
    #[arg(short = 't', value_name = "SECONDS", default_value = "1")]
    timeout: f64,
    /// Retries after the first attempt
    #[arg(short = 'r', value_name = "RETRIES", default_value = "5")]
    retries: u32,
    /// Application options: c (do not check that OIDs increase), p (print the number of
    /// variables found), rN (max-repetitions for bulkwalk, default 10), nN (non-repeaters, only 0)
    #[arg(short = 'C', value_name = "OPTS")]
    app_options: Vec<String>,
    /// Output options: n (numeric OIDs; the only form without MIBs)
    #[arg(short = 'O', value_name = "OPTS")]
    output_options: Vec<String>,
    #[command(flatten)]
    mibs: MibSource,
    /// MIB modules to load, as net-snmp's -m: accepted for compatibility (every module
    /// of the MIB directories is loaded); `-m ''` loads none
    #[arg(short = 'm', value_name = "MODULES")]
    mib_modules: Option<String>,
    /// Accept replies from any source address (multi-homed agents)
    #[arg(long)]
    any_source: bool,
    /// The agent: [udp:|udp6:]HOST[:PORT], e.g. 192.0.2.1, 127.0.0.1:1161, udp6:[::1]:161
    agent: String,
    /// OIDs: numeric (.1.3.6.1.2.1.1.1.0), or names with MIBs (sysDescr.0, IF-MIB::ifDescr)
    oids: Vec<String>,
}

impl std::fmt::Debug for SnmpArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Communities and pass phrases are never printed.
        f.debug_struct("SnmpArgs")
            .field("version", &self.version)
            .field("user", &self.user)
            .field("agent", &self.agent)
            .field("oids", &self.oids)
            .finish_non_exhaustive()
    }
}

struct AppOptions {
    check_increasing: bool,
    print_count: bool,
    max_repetitions: u32,
}

impl SnmpArgs {
    fn app_options(&self) -> Result<AppOptions, String> {
        let mut out = AppOptions { check_increasing: true, print_count: false, max_repetitions: 10 };
        for opts in &self.app_options {
            let mut chars = opts.chars().peekable();
            while let Some(c) = chars.next() {
                let mut number = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    number.push(*d);
                    chars.next();
                }
                match c {
                    'c' => out.check_increasing = false,
                    'p' => out.print_count = true,
                    'r' => {
                        out.max_repetitions =
                            number.parse().map_err(|_| format!("-Cr needs a number, e.g. -Cr25 (got `{opts}`)"))?
                    }
                    'n' if number.is_empty() || number == "0" => {}
                    'n' => return Err("-Cn: only 0 non-repeaters is supported for walks".into()),
                    _ => return Err(format!("unknown -C option `{c}` (supported: c, p, rN, nN)")),
                }
            }
        }
        Ok(out)
    }

    fn security(&self) -> Result<Security, String> {
        let version = match self.version.as_str() {
            "1" => Version::V1,
            "2c" | "2" => Version::V2c,
            "3" => Version::V3,
            other => return Err(format!("invalid version `{other}`: use -v 1, -v 2c or -v 3")),
        };
        if version != Version::V3 {
            let community = self.community.clone().ok_or("a community is required for SNMPv1/v2c: -c COMMUNITY")?;
            return Ok(Security::Community { version, community: Community(community.into_bytes()) });
        }
        let name = self.user.clone().ok_or("a security name is required for SNMPv3: -u USER")?;
        let level: SecurityLevel = match &self.level {
            Some(level) => level.parse()?,
            None => SecurityLevel::NoAuthNoPriv,
        };
        // Pass phrases count only at the level that uses them (as net-snmp); a protocol
        // only with its pass phrase, so a missing one is reported by its flag below.
        let with_auth = level != SecurityLevel::NoAuthNoPriv;
        let with_priv = level == SecurityLevel::AuthPriv;
        let auth_key = self.auth_passphrase.as_ref().filter(|_| with_auth).map(Secret::new);
        let priv_key = self.priv_passphrase.as_ref().filter(|_| with_priv).map(Secret::new);
        let credentials = UsmCredentials {
            user: Some(name),
            auth_protocol: self.auth_protocol.clone().filter(|_| auth_key.is_some()),
            auth_key,
            priv_protocol: self.priv_protocol.clone().filter(|_| priv_key.is_some()),
            priv_key,
            context_name: Some(self.context.clone()),
        };
        // In the check's words, with flags for config keys.
        let flags = |e: String| {
            e.replace("`auth_key`", "-A")
                .replace("`priv_key`", "-X")
                .replace("auth_protocol", "-a")
                .replace("priv_protocol", "-x")
        };
        credentials.check().map_err(flags)?;
        if with_auth && credentials.auth_key.is_none() {
            return Err("-l authNoPriv/authPriv needs an authentication pass phrase: -A PASSPHRASE".to_owned());
        }
        if with_priv && credentials.priv_key.is_none() {
            return Err("-l authPriv needs a privacy pass phrase: -X PASSPHRASE".to_owned());
        }
        let user = credentials.usm_user().map_err(flags)?;
        Ok(Security::Usm {
            user,
            context_name: credentials.context(),
            context_engine_id: self.context_engine_id.as_deref().map(|h| parse_hex(h, "-E")).transpose()?,
            engine_id: self.engine_id.as_deref().map(|h| parse_hex(h, "-e")).transpose()?,
        })
    }

    fn options(&self) -> Result<DeviceOptions, String> {
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout < 86_400.0) {
            return Err(format!("invalid timeout `{}`: seconds, e.g. -t 1 or -t 0.5", self.timeout));
        }
        for opts in &self.output_options {
            if opts.chars().any(|c| c != 'n') {
                return Err(format!("unsupported -O option in `{opts}`: only -On (numeric OIDs)"));
            }
        }
        Ok(DeviceOptions {
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            max_in_flight: 1,
            accept_any_source: self.any_source,
            allow_non_increasing: !self.app_options()?.check_increasing,
            ..DeviceOptions::default()
        })
    }

    fn oids(&self, mibs: &Mibs) -> Result<Vec<Oid>, String> {
        self.oids
            .iter()
            .map(|text| match text.parse::<Oid>() {
                Ok(oid) => Ok(oid),
                Err(e) if mibs.is_empty() => Err(e.to_string()),
                Err(_) => mibs.lookup(text).map(Oid::new).ok_or_else(|| format!("Unknown Object Identifier: {text}")),
            })
            .collect()
    }

    fn mibs(&self) -> Result<Arc<Mibs>, String> {
        if self.mib_modules.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Ok(Arc::new(Mibs::empty()));
        }
        self.mibs.load()
    }
}

fn parse_hex(text: &str, flag: &str) -> Result<Vec<u8>, String> {
    nocwatch_snmp::display::parse_hex(text)
        .filter(|octets| !octets.is_empty())
        .ok_or_else(|| format!("{flag} needs an even number of hex digits, e.g. 800000020109840301"))
}

/// `[udp:|udp6:]HOST[:PORT]` (IPv6 literals in brackets) → an address, port 161 by default.
fn parse_agent(text: &str) -> Result<SocketAddr, String> {
    let (rest, want_v6) = if let Some(rest) = text.strip_prefix("udp6:") {
        (rest, Some(true))
    } else if let Some(rest) = text.strip_prefix("udp:") {
        (rest, None)
    } else {
        (text, None)
    };
    if rest.contains("tcp:") || rest.is_empty() {
        return Err(format!("invalid agent `{text}`: use HOST[:PORT], udp:HOST[:PORT] or udp6:[ADDR]:PORT"));
    }
    let with_port = if let Some(inner) = rest.strip_prefix('[') {
        if inner.contains("]:") { rest.to_owned() } else { format!("{rest}:161") }
    } else if rest.matches(':').count() == 1 {
        rest.to_owned()
    } else if rest.contains(':') {
        // A bare IPv6 literal.
        format!("[{rest}]:161")
    } else {
        format!("{rest}:161")
    };
    let addresses: Vec<SocketAddr> =
        with_port.to_socket_addrs().map_err(|e| format!("cannot resolve agent `{text}`: {e}"))?.collect();
    addresses
        .iter()
        .find(|a| want_v6.is_none_or(|v6| a.is_ipv6() == v6))
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("agent `{text}` has no address"))
}

pub fn run(command: SnmpCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_async(command))
}

enum Failure {
    Usage(String),
    Snmp(SnmpError),
}

async fn run_async(command: SnmpCommand) -> ExitCode {
    let (kind, args) = match &command {
        SnmpCommand::Get(a) => ("get", a),
        SnmpCommand::Getnext(a) => ("getnext", a),
        SnmpCommand::Walk(a) => ("walk", a),
        SnmpCommand::Bulkwalk(a) => ("bulkwalk", a),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = execute(kind, args, &mut out).await;
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("nocwatch snmp {kind}: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::Snmp(e @ SnmpError::Status { .. })) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(Failure::Snmp(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Renders bindings: numeric as `snmpwalk -On` without MIBs, or by name as net-snmp
/// prints them with the same MIBs.
struct Printer {
    mibs: Arc<Mibs>,
    numeric_oids: bool,
}

impl Printer {
    fn line(&self, vb: &nocwatch_snmp::VarBind) -> String {
        let mut line = String::with_capacity(96);
        self.write(&mut line, vb);
        line
    }

    fn write(&self, out: &mut String, vb: &nocwatch_snmp::VarBind) {
        use std::fmt::Write as _;
        if self.mibs.is_empty() {
            let _ = write!(out, "{} = ", vb.oid);
            let _ = write_value(out, &vb.value);
            return;
        }
        if self.numeric_oids {
            let _ = write!(out, "{} = ", vb.oid);
        } else {
            let _ = write!(out, "{} = ", symbolic(&self.mibs, vb.oid.arcs()));
        }
        write_named_value(out, &self.mibs, vb.oid.arcs(), &vb.value, self.numeric_oids);
    }
}

/// A value as net-snmp prints it when the object's MIB is loaded: enum labels
/// (`up(1)`), integer and octet-string DISPLAY-HINTs, BITS with their labels, OID
/// values by name, UNITS appended.
fn write_named_value(out: &mut String, mibs: &Mibs, oid: &[u32], value: &Value, numeric_oids: bool) {
    use std::fmt::Write as _;
    let syntax = mibs.resolve(oid).and_then(|(node, _)| node.syntax());
    let units = syntax.and_then(|s| s.units());
    let with_units = |out: &mut String| {
        if let Some(units) = units {
            out.push(' ');
            out.push_str(units);
        }
    };
    match (value, syntax) {
        (Value::Integer(v), Some(syntax)) => {
            out.push_str("INTEGER: ");
            if let Some(label) = syntax.enum_label(*v) {
                let _ = write!(out, "{label}({v})");
            } else if let Some(hinted) = syntax.display_hint().and_then(|h| nocwatch_mib::format_integer(h, *v)) {
                out.push_str(&hinted);
            } else {
                let _ = write!(out, "{v}");
            }
            with_units(out);
        }
        (Value::OctetString(bytes), Some(syntax)) if syntax.base() == BaseType::Bits => {
            out.push_str("BITS: ");
            let _ = nocwatch_snmp::display::write_hex(out, bytes);
            let labels: std::collections::HashMap<i64, &str> = syntax.named_numbers().collect();
            for (index, byte) in bytes.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        let n = (index * 8 + bit) as i64;
                        match labels.get(&n) {
                            Some(label) => _ = write!(out, "{label}({n}) "),
                            None => _ = write!(out, "{n} "),
                        }
                    }
                }
            }
        }
        (Value::OctetString(bytes), Some(syntax))
            if let Some(hinted) =
                syntax.display_hint().and_then(|h| nocwatch_mib::format_octets_net_snmp(h, bytes)) =>
        {
            out.push_str("STRING: ");
            out.push_str(&hinted);
            with_units(out);
        }
        (Value::ObjectId(value), _) if !numeric_oids => {
            out.push_str("OID: ");
            out.push_str(&symbolic(mibs, value.arcs()));
        }
        (
            Value::Counter32(_) | Value::Gauge32(_) | Value::Counter64(_) | Value::TimeTicks(_) | Value::UInteger32(_),
            _,
        ) => {
            let _ = write_value(out, value);
            with_units(out);
        }
        _ => {
            let _ = write_value(out, value);
        }
    }
}

fn print(out: &mut impl Write, line: &str) {
    // A closed stdout (piped into `head`) ends output quietly.
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
}

async fn execute(kind: &str, args: &SnmpArgs, out: &mut impl Write) -> Result<ExitCode, Failure> {
    let security = args.security().map_err(Failure::Usage)?;
    let options = args.options().map_err(Failure::Usage)?;
    let app = args.app_options().map_err(Failure::Usage)?;
    let address = parse_agent(&args.agent).map_err(Failure::Usage)?;
    let mibs = args.mibs().map_err(Failure::Usage)?;
    let mut oids = args.oids(&mibs).map_err(Failure::Usage)?;
    let printer = Printer { mibs, numeric_oids: args.output_options.iter().any(|o| o.contains('n')) };
    let client = Client::new().await.map_err(|e| Failure::Usage(e.to_string()))?;
    let device = client.device(address, security, options);
    match kind {
        "get" | "getnext" => {
            if oids.is_empty() {
                return Err(Failure::Usage("missing OID(s) after the agent".into()));
            }
            let varbinds = if kind == "get" { device.get(&oids).await } else { device.get_next(&oids).await }
                .map_err(Failure::Snmp)?;
            let mut code = ExitCode::SUCCESS;
            for vb in &varbinds {
                if device.version() == Version::V1 && vb.value == Value::NoSuchObject {
                    // net-snmp's v1 report of the same situation.
                    eprintln!(
                        "Error in packet\nReason: (noSuchName) There is no such variable name in this MIB.\nFailed object: {}",
                        vb.oid
                    );
                    code = ExitCode::from(2);
                    continue;
                }
                print(out, &printer.line(vb));
            }
            Ok(code)
        }
        _ => {
            if oids.len() > 1 {
                return Err(Failure::Usage("walks take one root OID".into()));
            }
            let root = oids.pop().unwrap_or_else(|| Oid::from([1, 3, 6, 1, 2, 1]));
            let mut count = 0usize;
            let mut line = String::with_capacity(256);
            // Output is block-buffered for speed, but a long walk shows progress (and
            // what a dead device returned before dying) at least every 50 ms.
            let mut flushed = std::time::Instant::now();
            let each = |vb: &nocwatch_snmp::VarBind| {
                count += 1;
                line.clear();
                printer.write(&mut line, vb);
                line.push('\n');
                let _ = out.write_all(line.as_bytes());
                if flushed.elapsed() >= Duration::from_millis(50) {
                    let _ = out.flush();
                    flushed = std::time::Instant::now();
                }
            };
            let end = if kind == "walk" {
                device.walk(&root, each).await
            } else {
                device.bulk_walk(&root, app.max_repetitions, each).await
            };
            let end = match end {
                Ok(end) => end,
                Err(e @ SnmpError::NotIncreasing { .. }) => {
                    let _ = out.flush();
                    eprintln!("Error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(Failure::Snmp(e)),
            };
            if end == WalkEnd::EndOfMib {
                print(out, "End of MIB");
            }
            if count == 0 {
                // As net-snmp: an empty walk shows what a GET of the root says.
                if let Ok(varbinds) = device.get(std::slice::from_ref(&root)).await {
                    for vb in varbinds.iter().filter(|vb| device.version() != Version::V1 || !vb.value.is_exception()) {
                        print(out, &printer.line(vb));
                    }
                }
            }
            if app.print_count {
                print(out, &format!("Variables found: {count}"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents() {
        assert_eq!(parse_agent("127.0.0.1").unwrap(), "127.0.0.1:161".parse().unwrap());
        assert_eq!(parse_agent("udp:127.0.0.1:1161").unwrap(), "127.0.0.1:1161".parse().unwrap());
        assert_eq!(parse_agent("udp6:[::1]:1161").unwrap(), "[::1]:1161".parse().unwrap());
        assert_eq!(parse_agent("[::1]").unwrap(), "[::1]:161".parse().unwrap());
        assert_eq!(parse_agent("::1").unwrap(), "[::1]:161".parse().unwrap());
        assert!(parse_agent("tcp:1.2.3.4").is_err());
    }

    #[test]
    fn hex_ids() {
        assert_eq!(parse_hex("0x8000", "-e").unwrap(), vec![0x80, 0]);
        assert!(parse_hex("800", "-e").is_err());
    }
}
