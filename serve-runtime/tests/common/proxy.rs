//! A TCP proxy on loopback that can stop forwarding: what it reads while stopped it
//! holds until it goes on, as a stopped or partitioned process's socket does. Shared by
//! the split tests and `bench/src/bin/split_faults.rs` (by path).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy: connections to `addr` are forwarded to its target.
pub struct Proxy {
    pub addr: SocketAddr,
    stopped: Arc<watch::Sender<bool>>,
}

impl Proxy {
    pub async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stopped = Arc::new(watch::channel(false).0);
        let state = Arc::clone(&stopped);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, state.subscribe()));
                tokio::spawn(pipe(server_read, client_write, state.subscribe()));
            }
        });
        Self { addr, stopped }
    }

    /// Stops forwarding, or goes on.
    pub fn stop(&self, stopped: bool) {
        self.stopped.send_replace(stopped);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stopped: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stopped.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
