//! Shutdown of a real serving process: SIGTERM (which drains first) and Ctrl-C (SIGINT)
//! with a request in flight, a request that outlives the grace period, and a process
//! replaced by a new one on the same port under load. The process is the `linger`
//! example, which `cargo test -p serve-runtime` builds.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
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
    /// Where its admin routes are (its main address unless `--admin-port` was given).
    admin: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts it with `args` (after `--port 0`, unless they give a port).
    fn start(args: &[&str]) -> Server {
        let port: &[&str] = if args.contains(&"--port") {
            &[]
        } else {
            &["--port", "0"]
        };
        let mut child = Command::new(linger_binary())
            .args(port)
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
        let (addr, admin) = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = log
                .recv_timeout(wait)
                .expect("`ready on http://...` in the log within a minute");
            if let Some(rest) = line.split("ready on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                let admin = line.split("dashboard: http://").nth(1).unwrap();
                let admin = admin.split('/').next().unwrap().parse().unwrap();
                break (addr, admin);
            }
        };
        Server {
            child,
            addr,
            admin,
            log,
        }
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

/// `GET path` on a connection of its own: the whole answer.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let raw = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

fn drains_then_exits_0(signal: &str) {
    let mut server = Server::start(&["--drain-delay", "1"]);
    let reply = linger(server.addr, 1500);
    // The request is in the graph well before it ends.
    std::thread::sleep(Duration::from_millis(400));
    server.signal(signal);
    if signal == "-TERM" {
        // Not ready from the signal on, yet still accepting and serving, asking its
        // HTTP/1.1 clients to reconnect.
        let deadline = Instant::now() + Duration::from_secs(10);
        let health = loop {
            let health = get(server.admin, "/-/healthz");
            if health.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
                break health;
            }
        };
        assert!(health.contains(r#""status":"draining""#), "{health}");
        let mut connection = None;
        one_request(server.addr, &mut connection, true).expect("served while draining");
        assert!(connection.is_none(), "the answer said `connection: close`");
    }
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

/// Requests sent back to back from `keep_alive` threads on keep-alive connections and from
/// `one_shot` threads on a new connection each, as a strict client does: nothing is
/// retried, and every refused connection, broken connection or status other than 200 is
/// a failure. A keep-alive connection is opened again only when an answer says
/// `connection: close` (or after a failure).
struct Load {
    answered: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, keep_alive: usize, one_shot: usize) -> Load {
        let answered = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..keep_alive + one_shot)
            .map(|i| {
                let reuse = i < keep_alive;
                let (answered, failures, stop) = (
                    Arc::clone(&answered),
                    Arc::clone(&failures),
                    Arc::clone(&stop),
                );
                std::thread::spawn(move || {
                    let mut connection = None;
                    while !stop.load(Ordering::Relaxed) {
                        match one_request(addr, &mut connection, reuse) {
                            Ok(()) => answered.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                connection = None;
                                failures.lock().unwrap().push(e);
                                continue;
                            }
                        };
                    }
                })
            })
            .collect();
        Load {
            answered,
            failures,
            stop,
            threads,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Waits until `more` further requests were answered (a minute at most).
    fn wait_for_more(&self, more: u64) {
        let target = self.answered() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.answered() < target {
            assert!(
                Instant::now() < deadline,
                "the load stalled at {} answers: {:?}",
                self.answered(),
                self.failures.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops it: every failure seen.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        std::mem::take(&mut self.failures.lock().unwrap())
    }
}

/// `POST /linger {"ms":0}` on `connection` (opened first when there is none).
fn one_request(
    addr: SocketAddr,
    connection: &mut Option<BufReader<TcpStream>>,
    reuse: bool,
) -> Result<(), String> {
    if connection.is_none() {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().unwrap();
    let body = r#"{"ms":0}"#;
    let request = format!(
        "POST /linger HTTP/1.1\r\nhost: t\r\nconnection: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        if reuse { "keep-alive" } else { "close" },
        body.len()
    );
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} lines of an answer", head.len()));
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_ascii_lowercase());
    }
    let length: usize = head
        .iter()
        .find_map(|h| h.strip_prefix("content-length: "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no content-length: {head:?}"))?;
    let mut answer = vec![0; length];
    reader
        .read_exact(&mut answer)
        .map_err(|e| format!("read body: {e}"))?;
    if !head[0].starts_with("http/1.1 200") {
        return Err(format!("{head:?} {}", String::from_utf8_lossy(&answer)));
    }
    if head.iter().any(|h| h == "connection: close") {
        *connection = None;
    }
    Ok(())
}

/// A new binary started beside the old one on the same port (`--reuse-port`), then the old
/// one stopped with SIGTERM, as a restart on one host does it: under load from a strict
/// client, no request fails and no connection is refused or reset.
#[cfg(target_os = "linux")]
#[test]
fn a_process_replaced_on_its_port_under_load_fails_no_request() {
    let shared = ["--reuse-port", "--admin-port", "0", "--drain-delay", "1"];
    let mut old = Server::start(&shared);
    let load = Load::start(old.addr, 4, 2);
    load.wait_for_more(200);

    let port = old.addr.port().to_string();
    let new = Server::start(&[&shared[..], &["--port", &port]].concat());
    load.wait_for_more(200);
    old.signal("-TERM");
    let status = old.exit_within(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", old.rest_of_log());
    // Everything now goes to the new process.
    load.wait_for_more(200);
    let answered = load.answered();
    let failures = load.stop();
    assert!(
        failures.is_empty(),
        "{} of {answered} requests failed: {failures:?}",
        failures.len()
    );
    let metrics = get(new.admin, "/-/metrics");
    let served: u64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("serve_num_http_requests_total{") && l.contains("status_code=\"200\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of answers in {metrics}"));
    assert!(served >= 200, "the new process answered {served}");
}

/// `deploy` waits for what it applied to roll out: 0 and "rolled out" when the new
/// replicas took over, non-zero naming the deployment when they failed to start and the
/// update was rolled back (the server keeps serving what it ran before).
#[test]
fn deploy_waits_for_the_rollout_and_fails_when_it_is_rolled_back() {
    let server = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("linger-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |floor_ms: u64| {
        let path = dir.join(format!("floor-{floor_ms}.yaml"));
        let text = format!(
            "applications:\n  - name: linger\n    deployments:\n      - name: Floor\n        bind_args:\n          floor_ms: {floor_ms}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let address = format!("http://{}", server.admin);
    let deploy = |file: PathBuf| {
        Command::new(linger_binary())
            .arg("deploy")
            .arg(file)
            .args(["-a", &address])
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };

    let refused = deploy(config(70_000));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("the config did not roll out"), "{stderr}");
    assert!(
        stderr.contains("linger/Floor: the update was rolled back: replica"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a floor of 70000 ms is past a minute"),
        "{stderr}"
    );
    let reply = linger(server.addr, 0)
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(
        reply.ends_with("\r\n\r\n0"),
        "the old floor serves: {reply}"
    );

    let applied = deploy(config(5));
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(
        stdout.contains("linger/Floor: bind_args floor_ms = 5"),
        "{stdout}"
    );
    assert!(stdout.ends_with("rolled out\n"), "{stdout}");
    let reply = linger(server.addr, 0)
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(
        reply.ends_with("\r\n\r\n5"),
        "the new floor serves: {reply}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
