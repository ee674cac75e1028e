//! A TCP line receiver for delivery tests: records every newline-framed line, and can
//! misbehave like real servers do: cut idle connections, go down (gracefully: it reads
//! what was already sent, then closes), come back on the same port.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct LineReceiver {
    pub address: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
    idle_cut: Option<Duration>,
    running: Option<Arc<AtomicBool>>,
}

impl LineReceiver {
    /// Listens on `address`; closes a connection silent for `idle_cut`.
    pub fn start(address: SocketAddr, idle_cut: Option<Duration>) -> LineReceiver {
        let mut receiver = LineReceiver { address, lines: Arc::default(), idle_cut, running: None };
        receiver.resume();
        receiver
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Goes down: stops accepting; open connections are half-closed and read to the end.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.store(false, Ordering::SeqCst);
        }
        // Let the accept loop notice and release the port.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Comes back on the same port.
    pub fn resume(&mut self) {
        let listener = bind_retrying(self.address);
        listener.set_nonblocking(true).unwrap();
        let running = Arc::new(AtomicBool::new(true));
        self.running = Some(running.clone());
        let lines = self.lines.clone();
        let idle_cut = self.idle_cut;
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (lines, running) = (lines.clone(), running.clone());
                        std::thread::spawn(move || serve(stream, lines, running, idle_cut));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
    }
}

impl Drop for LineReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_retrying(address: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(address) {
            return listener;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cannot bind {address}");
}

fn serve(stream: TcpStream, lines: Arc<Mutex<Vec<String>>>, running: Arc<AtomicBool>, idle_cut: Option<Duration>) {
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut idle = Duration::ZERO;
    let mut closing = false;
    let mut line = String::new();
    loop {
        if !closing && !running.load(Ordering::SeqCst) {
            // Going down: tell the sender, keep reading what it already sent.
            let _ = stream.shutdown(Shutdown::Write);
            closing = true;
            idle = Duration::ZERO;
        }
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {
                if line.ends_with('\n') {
                    lines.lock().unwrap().push(line.trim_end().to_owned());
                    line.clear();
                }
                idle = Duration::ZERO;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                idle += Duration::from_millis(50);
                if closing && idle > Duration::from_secs(5) {
                    return;
                }
                if !closing && idle_cut.is_some_and(|cut| idle >= cut) {
                    // The server's idle cut: close without a word, as intakes do.
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
