//! The command line: `nocwatch run`, `nocwatch check-config`, `nocwatch health`,
//! `nocwatch version`, and operator tools (`syslog parse`, `snmp get|walk|...`,
//! `import datadog-snmp`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod import;
mod mib;
mod snmp;

use crate::config::{self, Config, ConfigError, EMBEDDED_DEFAULT, ProcessEnv};

#[derive(Debug, Parser)]
#[command(
    name = "nocwatch",
    version,
    about = "Network-device monitoring agent: SNMP, traps, syslog, ping and NTP in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent until SIGTERM/SIGINT (then drain and exit 0)
    Run(ConfigArgs),
    /// Validate a config and print it as nocwatch reads it, secrets redacted (exit 0 if valid, 1 if not)
    CheckConfig(ConfigArgs),
    /// Ask a running nocwatch's admin API whether it is healthy (exit 0 on HTTP 200, else 1):
    /// a container HEALTHCHECK for images without curl
    Health(HealthArgs),
    /// Print the version
    Version,
    /// Syslog tools for operators
    #[command(subcommand)]
    Syslog(SyslogCommand),
    /// SNMP tools for operators: get, getnext, walk, bulkwalk (net-snmp flags and output)
    #[command(subcommand)]
    Snmp(snmp::SnmpCommand),
    /// MIB tools: translate names and OIDs, check MIB directories
    #[command(subcommand)]
    Mib(mib::MibCommand),
    /// Convert another agent's config into nocwatch config (printed on stdout)
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// A Datadog Agent snmp.d/conf.yaml (rendered, or the seed's entrykit template) into an `snmp` source
    DatadogSnmp {
        /// The conf.yaml to read
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SyslogCommand {
    /// Read syslog lines on stdin and print each as the event nocwatch would make (JSON)
    Parse(SyslogParseArgs),
}

#[derive(Debug, Args)]
struct SyslogParseArgs {
    /// The sender address to assume (host fallback and `peer.ip`)
    #[arg(long, default_value = "127.0.0.1")]
    peer: std::net::IpAddr,
    /// UTC offset of timestamps without a zone, e.g. `+09:00`
    #[arg(long)]
    utc_offset: Option<String>,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The admin API's address (`admin.address`)
    #[arg(long, env = "NOCWATCH_ADMIN_ADDRESS", default_value = "127.0.0.1:8686")]
    address: std::net::SocketAddr,
    /// `/health/live` (the process answers) or `/health/ready` (every source receives, not draining)
    #[arg(long, default_value = "/health/live")]
    path: String,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Config file (YAML). Without it, the embedded default: syslog on UDP 5514 into the local store, page on 127.0.0.1:8687
    #[arg(short, long, env = "NOCWATCH_CONFIG")]
    config: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> Result<Config, ConfigError> {
        match &self.config {
            Some(path) => config::load_file(path, &ProcessEnv),
            None => config::load_str(EMBEDDED_DEFAULT, "<embedded default>", std::path::Path::new("."), &ProcessEnv),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("nocwatch {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CheckConfig(args) => match args.load() {
            Ok(config) => {
                print!("{}", config.to_redacted_yaml());
                eprintln!("config is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => run(&args),
        Command::Health(args) => health(&args),
        Command::Syslog(SyslogCommand::Parse(args)) => syslog_parse(&args),
        Command::Snmp(command) => snmp::run(command),
        Command::Mib(command) => mib::run(command),
        Command::Import(ImportCommand::DatadogSnmp { file }) => import::datadog_snmp(&file),
    }
}

fn syslog_parse(args: &SyslogParseArgs) -> ExitCode {
    use std::io::{BufRead, Write};
    let mapper = match crate::sources::syslog::event::EventMapper::new(Default::default(), args.utc_offset.as_deref()) {
        Ok(mapper) => mapper,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let peer = std::net::SocketAddr::new(args.peer, 514);
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.split(b'\n') {
        let Ok(line) = line else { break };
        if line.is_empty() {
            continue;
        }
        let event = crate::event::Event::Log(mapper.to_event(&line, peer, false, &mapper.context()));
        let written = serde_json::to_writer(&mut stdout, &event).is_ok() && stdout.write_all(b"\n").is_ok();
        if !written {
            // stdout closed (e.g. piped into `head`): nothing more to do.
            break;
        }
    }
    ExitCode::SUCCESS
}

/// One HTTP/1.0 GET, by hand: a health check must not need a runtime or an HTTP client.
fn health(args: &HealthArgs) -> ExitCode {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(3);
    let response = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect_timeout(&args.address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(stream, "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n", args.path, args.address)?;
        let mut response = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut response)?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    })();
    match response {
        Ok(response) => {
            let status = response.split_whitespace().nth(1).unwrap_or("none");
            let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body.trim());
            println!("{} {status} {body}", args.path);
            if status == "200" { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("error: http://{}{}: {e}", args.address, args.path);
            ExitCode::FAILURE
        }
    }
}

fn run(args: &ConfigArgs) -> ExitCode {
    let config = match args.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = crate::telemetry::logging::init(&config.global.log) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(crate::runtime::run(config));
    // A sink stuck in a blocking write (a full stdout pipe, a hung disk) must not hold the
    // exit: its events were already counted as lost when the flush deadline passed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
