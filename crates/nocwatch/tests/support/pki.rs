//! A throw-away PKI for TLS tests: a CA, a server certificate for 127.0.0.1, a client
//! certificate it signed, and a rogue client certificate nobody trusts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed
    /// by it, and a client certificate signed by nobody the server trusts.
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();

        let named = |names: Vec<String>, cn: &str| {
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
            params
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = named(Vec::new(), "nocwatch test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        write("ca.pem", ca.pem());
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server = named(vec!["127.0.0.1".to_owned(), "localhost".to_owned()], "127.0.0.1")
            .signed_by(&server_key, &issuer)
            .unwrap();
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());

        let client_key = KeyPair::generate().unwrap();
        let client =
            named(vec!["device.example".to_owned()], "device.example").signed_by(&client_key, &issuer).unwrap();
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());

        let rogue_key = KeyPair::generate().unwrap();
        let rogue = named(vec!["rogue.example".to_owned()], "rogue.example").self_signed(&rogue_key).unwrap();
        write("rogue.pem", rogue.pem());
        write("rogue.key", rogue_key.serialize_pem());
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Sends `line` with `openssl s_client` presenting `client` (a name in this PKI).
    pub fn send(&self, port: u16, client: &str, line: &str) -> std::process::Output {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-quiet",
                "-no_ign_eof",
                "-verify_return_error",
            ])
            .args(["-CAfile", &self.path("ca.pem"), "-verify_ip", "127.0.0.1"])
            .args(["-cert", &self.path(&format!("{client}.pem")), "-key", &self.path(&format!("{client}.key"))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl is installed");
        child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}
