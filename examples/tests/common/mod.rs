//! What the example's tests share: a client with timeouts, a scriptable image server, the
//! example binary run as a child process, and temporary folders.

#![allow(dead_code, reason = "each test crate uses a different part")]

pub mod bomb;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long any one request may take before the test fails rather than hangs.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn image_path(name: &str) -> String {
    format!(
        "{}/content_understanding/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn file_url(name: &str) -> String {
    format!("file://{}", image_path(name))
}

/// POSTs `body` to the service and returns the status and the JSON it answered.
pub async fn post(addr: SocketAddr, body: Value) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("http://{addr}/classify"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::from(body.to_string()))
        .unwrap();
    let answer = async {
        let response = client.request(request).await.expect("the service answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes)
    };
    let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, answer)
        .await
        .unwrap_or_else(|_| panic!("no answer within {REQUEST_TIMEOUT:?}"));
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "the answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

/// GETs `path` and returns the status and the body as text.
pub async fn get_text(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let answer = async {
        let response = client
            .get(format!("http://{addr}{path}").parse().unwrap())
            .await
            .expect("the service answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, answer)
        .await
        .unwrap_or_else(|_| panic!("no answer within {REQUEST_TIMEOUT:?}"))
}

pub async fn classify(addr: SocketAddr, url: &str, category: &str) -> (StatusCode, Value) {
    post(
        addr,
        serde_json::json!({ "image_url": url, "category": category }),
    )
    .await
}

/// Asserts a JSON error: its status, the deployment it names, and that its message
/// contains each of `needles`.
pub fn assert_error(
    (status, body): (StatusCode, Value),
    expected: StatusCode,
    deployment: Option<&str>,
    needles: &[&str],
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["deployment"].as_str(), deployment, "{body}");
    let message = body["error"].as_str().expect("an `error` message");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
}

/// An HTTP/1.1 server on loopback answering each path with raw bytes, so tests can also
/// send what a well-behaved server would not: a length it never sends, or no length.
pub struct ImageServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl ImageServer {
    pub async fn start(routes: Vec<(&'static str, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        let routes = Arc::new(routes);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(stream, Arc::clone(&routes)));
            }
        });
        ImageServer { addr, connections }
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn answer(mut stream: tokio::net::TcpStream, routes: Arc<Vec<(&'static str, Vec<u8>)>>) {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default();
    let not_found = response("404 Not Found", Some(0), b"");
    let reply = routes
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(&not_found, |(_, reply)| reply);
    // The downloader hangs up early on purpose in the size tests.
    let _ = stream.write_all(reply).await;
    let _ = stream.shutdown().await;
}

/// A response that closes the connection; `length: None` sends no Content-Length, so the
/// body runs to the close.
pub fn response(status: &str, length: Option<u64>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    if let Some(length) = length {
        head += &format!("content-length: {length}\r\n");
    }
    head += "\r\n";
    [head.as_bytes(), body].concat()
}

pub fn ok(body: &[u8]) -> Vec<u8> {
    response("200 OK", Some(body.len() as u64), body)
}

/// The binary `cargo test` builds for the example, next to this test's own `deps` folder.
pub fn example_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir.join("examples").join(format!(
        "content_understanding{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        binary.is_file(),
        "the example binary is not at {}: `cargo test -p serve-examples` builds it, a run \
         filtered with `--test` does not; build it with \
         `cargo build -p serve-examples --example content_understanding`",
        binary.display()
    );
    binary
}

/// The example binary with the example's own variables cleared, so the tests do not depend
/// on the environment they run in.
pub fn example_command() -> Command {
    command_for(&example_binary())
}

/// `binary` (the example, or a copy of it) with the example's own variables cleared.
pub fn command_for(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env_remove("CONTENT_FILE_ROOT")
        .env_remove("CONTENT_ALLOW_PRIVATE_HOSTS")
        .env("NO_COLOR", "1");
    command
}

pub fn run_example(args: &[&str]) -> Output {
    let output = example_command().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "`content_understanding {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The example binary serving on a free port; killed if the test ends without stopping it.
pub struct Example {
    child: Child,
    pub addr: SocketAddr,
}

impl Example {
    /// Starts it with `env` set and waits (a minute at most) until it says it is ready.
    /// Blocks: from async code, call [`Example::start`].
    pub fn start_blocking(env: &[(&str, &str)]) -> Self {
        Self::start_with_args(&[], env)
    }

    /// [`Example::start_blocking`], with `args` after `--port 0` (unless they give a port).
    pub fn start_with_args(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_from(example_command(), args, env)
    }

    /// [`Example::start_with_args`], running `command` (the example, or a copy of it).
    pub fn start_from(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port: &[&str] = if args.contains(&"--port") {
            &[]
        } else {
            &["--port", "0"]
        };
        let mut child = command
            .args(port)
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A thread drains the log, so the child never blocks on a full pipe.
        let (lines_tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut log = Vec::new();
        let addr = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(wait) else {
                let _ = child.kill();
                panic!("no `ready on http://...` in the log within a minute: {log:#?}");
            };
            if let Some(rest) = line.split("ready on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
            log.push(line);
        };
        Example { child, addr }
    }

    /// [`Example::start_blocking`] from async code.
    pub async fn start(env: &[(&'static str, String)]) -> Self {
        let env = env.to_vec();
        on_a_thread(move || {
            let env: Vec<_> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Example::start_blocking(&env)
        })
        .await
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The most memory the process has held resident so far (`VmHWM`), in KiB.
    #[cfg(target_os = "linux")]
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the process is running");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("a VmHWM line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Sends SIGTERM and waits for the process to exit, failing after `within`.
    #[cfg(unix)]
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {within:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs blocking `work` on a thread of its own, and waits for it without blocking the
/// async runtime.
pub async fn on_a_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result.await.expect("the thread finished its work")
}

/// A fresh folder under the system's temporary one, removed when dropped; two tests
/// asking for the same name at once get two folders.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "content-understanding-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
