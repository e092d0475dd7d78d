//! Shutdown of a real serving process: SIGTERM and Ctrl-C (SIGINT) with a request in
//! flight, and a request that outlives the grace period. The process is the `linger`
//! example, which `cargo test -p serve-runtime` builds.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn linger_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("linger{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "the example binary is not at {}: `cargo test -p serve-runtime` builds it, a run \
         filtered with `--test` does not; build it with \
         `cargo build -p serve-runtime --example linger`",
        binary.display()
    );
    binary
}

/// The serving process; killed if the test fails before it exits.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(linger_binary())
            .args(["--port", "0"])
            .args(args)
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A thread drains the log, so the child never blocks on a full pipe.
        let (lines_tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = log
                .recv_timeout(wait)
                .expect("`ready on http://...` in the log within a minute");
            if let Some(rest) = line.split("ready on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Server { child, addr, log }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// The exit status, waiting at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn rest_of_log(&self) -> String {
        let mut text = String::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_millis(500)) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// Sends `POST /linger {"ms": ms}` on a thread; the reply, or what the connection gave.
fn linger(addr: SocketAddr, ms: u64) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let body = format!(r#"{{"ms":{ms}}}"#);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let raw = format!(
            "POST /linger HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(raw.as_bytes()).unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        let _ = tx.send(reply);
    });
    rx
}

fn drains_then_exits_0(signal: &str) {
    let mut server = Server::start(&[]);
    let reply = linger(server.addr, 1500);
    // The request is in the graph well before it ends.
    std::thread::sleep(Duration::from_millis(400));
    server.signal(signal);
    let reply = reply
        .recv_timeout(Duration::from_secs(30))
        .expect("the request in flight was answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("1500"), "{reply}");
    let status = server.exit_within(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", server.rest_of_log());
    assert!(
        TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_err(),
        "nothing listens after the exit"
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    drains_then_exits_0("-TERM");
}

#[test]
fn ctrl_c_finishes_the_request_in_flight_then_exits_0() {
    drains_then_exits_0("-INT");
}

#[test]
fn a_request_past_the_grace_period_is_cut_and_the_exit_says_so() {
    let mut server = Server::start(&["--grace-period", "0.3"]);
    let reply = linger(server.addr, 20_000);
    std::thread::sleep(Duration::from_millis(400));
    let signalled = Instant::now();
    server.signal("-TERM");
    let status = server.exit_within(Duration::from_secs(10));
    assert!(!status.success(), "{status}");
    let log = server.rest_of_log();
    assert!(
        log.contains("shutdown took longer than the 300ms grace period: requests still in flight were cut off"),
        "{log}"
    );
    let reply = reply
        .recv_timeout(Duration::from_secs(10))
        .expect("the connection was closed");
    assert!(
        !reply.contains("200"),
        "the request was cut, not answered: {reply}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
}
