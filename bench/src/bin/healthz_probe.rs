//! Latency of `GET /-/healthz` as a health checker sees it: one probe at a time, each on a
//! new connection (as a load balancer or the kubelet opens them), a pause between probes
//! so they land at any point of the server's scheduling. `bench/cpu.sh` runs it while the
//! server's every core is busy in node code.
//!
//! `healthz_probe PORT [PROBES] [PAUSE_MS]`: prints `p50_ms=`, `p99_ms=`, `max_ms=` lines;
//! fails if any probe is not answered 200.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"GET /-/healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";

/// One probe: connect, ask, read the whole answer (the server closes after it).
fn probe(port: u16) -> std::io::Result<(Duration, bool)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.write_all(REQUEST)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok((started.elapsed(), reply.starts_with(b"HTTP/1.1 200")))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("arguments are numbers"))
    };
    let port = number(1, 8000) as u16;
    let probes = number(2, 200) as usize;
    let pause = Duration::from_millis(number(3, 10));
    let mut times = Vec::with_capacity(probes);
    for _ in 0..probes {
        match probe(port) {
            Ok((time, true)) => times.push(time),
            Ok((_, false)) => {
                eprintln!("/-/healthz did not answer 200");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("/-/healthz probe failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        std::thread::sleep(pause);
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    println!("p50_ms={:.2}", at(0.5));
    println!("p99_ms={:.2}", at(0.99));
    println!("max_ms={:.2}", at(1.0));
    ExitCode::SUCCESS
}
