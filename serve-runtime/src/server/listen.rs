//! Binding a listener, alone on its port or sharing it with the process it replaces.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The kernel's queue of connections not yet accepted (what the standard library uses).
const BACKLOG: u32 = 1024;

/// Binds the first of `addrs` that can be bound. With `reuse_port`, the port may already
/// be held by other listeners that set it too (the process this one replaces): on Linux,
/// new connections then go to this, the newest listener, and the older one only finishes
/// the connections it holds, so closing it loses none from its queue.
pub(crate) fn bind(addrs: &[SocketAddr], reuse_port: bool) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in addrs {
        let bound = if reuse_port {
            bind_shared(*addr)
        } else {
            std::net::TcpListener::bind(addr).and_then(|l| {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)
            })
        };
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on")))
}

#[cfg(unix)]
fn bind_shared(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    #[cfg(target_os = "linux")]
    steer_to_newest(&listener)?;
    Ok(listener)
}

#[cfg(not(unix))]
fn bind_shared(_addr: SocketAddr) -> io::Result<TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--reuse-port needs SO_REUSEPORT, which this system does not have",
    ))
}

/// Sends every new connection of the port's group to the listener that joined second: the
/// one that replaces the first. Without it the kernel spreads connections by a hash, and
/// the connections queued on the old listener when it closes are reset. When the old
/// listener closes, the newest becomes the first, the index points past the group, and
/// the kernel falls back to its hash, over one listener.
///
/// The program is the group's, so the newest process's replaces any older one's.
#[cfg(target_os = "linux")]
fn steer_to_newest(listener: &TcpListener) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::AttachReusePortCbpf};

    // Classic BPF, one instruction: return 1 (the index in the group).
    let mut program = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 1,
    }];
    // The kernel copies the program during the call; `program` outlives it.
    let filter = libc::sock_fprog {
        len: 1,
        filter: program.as_mut_ptr(),
    };
    setsockopt(listener, AttachReusePortCbpf, &filter).map_err(io::Error::from)
}
