//! systemd's readiness protocol (`Type=notify`, sd_notify(3)): `READY=1` once every source
//! is listening, `STOPPING=1` when the drain starts. A datagram to the unix socket named by
//! `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket); nothing without it. Written
//! with std's `UnixDatagram` rather than libsystemd: no C dependency, no unsafe.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (e.g. `READY=1`) to systemd. `Ok(false)` when not started by systemd with
/// `Type=notify` (no `$NOTIFY_SOCKET`).
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(false) };
    notify_to(&target, state).map(|()| true)
}

/// Sends `state` to the notification socket `target` (`/path` or `@abstract-name`).
pub fn notify_to(target: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    let target = target.as_bytes();
    let address = match target.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None if target.starts_with(b"/") => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(target))?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "NOTIFY_SOCKET is neither a path nor an abstract socket (@name)",
            ));
        }
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}

/// [`notify`], logging a failure (a notification that cannot be sent must not stop nocwatch:
/// systemd then times the start-up out, which says more than an exit would).
pub fn notify_or_log(state: &str) {
    match notify(state) {
        Ok(true) => tracing::debug!(state, "told systemd"),
        Ok(false) => {}
        Err(e) => tracing::warn!(state, error = %e, "cannot notify systemd (NOTIFY_SOCKET)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_and_path_sockets_get_the_state_and_other_targets_are_refused() {
        let name = format!("nocwatch-test-{}", std::process::id());
        let receiver = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        notify_to(std::ffi::OsStr::new(&format!("@{name}")), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        let dir = std::env::temp_dir().join(format!("nocwatch-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "STOPPING=1").unwrap();
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);

        assert!(notify_to(std::ffi::OsStr::new("vsock:2:1"), "READY=1").is_err());
        assert!(notify_to(std::ffi::OsStr::new("/nonexistent/notify"), "READY=1").is_err());
    }
}
