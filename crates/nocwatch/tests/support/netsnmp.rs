//! SNMPv3 users as net-snmp's tools (`snmptrap`, `snmpinform`, `snmpget` ...) take them
//! and as nocwatch's config writes them, from one description.

/// An SNMPv3 user: its config entry ([`V3User::yaml`]) and net-snmp's flags
/// ([`V3User::flags`]) come from the same fields.
#[derive(Debug, Clone, Copy)]
pub struct V3User<'a> {
    pub name: &'a str,
    /// (protocol, pass phrase)
    pub auth: Option<(&'a str, &'a str)>,
    pub privacy: Option<(&'a str, &'a str)>,
}

impl<'a> V3User<'a> {
    /// The `{user: ..., auth_protocol: ..., ...}` entry of a config (an `snmp_traps` user).
    pub fn yaml(&self) -> String {
        let mut out = format!("{{user: {}", self.name);
        if let Some((protocol, key)) = self.auth {
            out.push_str(&format!(", auth_protocol: {protocol}, auth_key: {key}"));
        }
        if let Some((protocol, key)) = self.privacy {
            out.push_str(&format!(", priv_protocol: {protocol}, priv_key: {key}"));
        }
        out + "}"
    }

    /// `-v3 -u NAME -l LEVEL` and the protocol and pass phrase flags of that level.
    pub fn flags(&self) -> Vec<&'a str> {
        let level = match (self.auth, self.privacy) {
            (None, _) => "noAuthNoPriv",
            (Some(_), None) => "authNoPriv",
            (Some(_), Some(_)) => "authPriv",
        };
        let mut flags = vec!["-v3", "-u", self.name, "-l", level];
        if let Some((protocol, key)) = self.auth {
            flags.extend(["-a", protocol, "-A", key]);
        }
        if let Some((protocol, key)) = self.privacy {
            flags.extend(["-x", protocol, "-X", key]);
        }
        flags
    }

    /// The same user sending with other pass phrases (a wrong key).
    pub fn with_keys(self, auth_key: &'a str, priv_key: &'a str) -> V3User<'a> {
        V3User {
            auth: self.auth.map(|(protocol, _)| (protocol, auth_key)),
            privacy: self.privacy.map(|(protocol, _)| (protocol, priv_key)),
            ..self
        }
    }
}
