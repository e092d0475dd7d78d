//! Start-up time: runs a server command and reports the milliseconds from spawning it to
//! its first 200 answer to a POST, then stops it.
//!
//! `first_response PORT PATH BODY -- COMMAND [ARGS...]`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

fn ok(port: u16, path: &str, body: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut reply = Vec::new();
    s.write_all(request.as_bytes()).is_ok()
        && s.read_to_end(&mut reply).is_ok()
        && reply.starts_with(b"HTTP/1.1 200")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(sep) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: first_response PORT PATH BODY -- COMMAND [ARGS...]");
        return ExitCode::FAILURE;
    };
    let (port, path, body) = (
        args[1].parse().expect("PORT is a number"),
        &args[2],
        &args[3],
    );
    let started = Instant::now();
    let mut child = Command::new(&args[sep + 1])
        .args(&args[sep + 2..])
        .spawn()
        .expect("the command starts");
    let answered = loop {
        if ok(port, path, body) {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(30) || child.try_wait().ok().flatten().is_some()
        {
            break None;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    match answered {
        Some(t) => {
            println!("{:.1}", t.as_secs_f64() * 1000.0);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("no 200 answer within 30 s");
            ExitCode::FAILURE
        }
    }
}
