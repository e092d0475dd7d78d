//! The downloader's blocking calls, on threads of their own.

use std::net::SocketAddr;

use bytes::Bytes;
use serve_runtime::deployment;

use super::error::DownloadError;
use super::files::FileRoot;
use super::hosts;

/// Reads files and resolves host names: system calls that block a thread for as long as
/// the disk or DNS takes. As sync methods they run on this deployment's own threads, so
/// they never hold up the server's async workers, and there are at most four of them at
/// once however many requests arrive (tokio's blocking pool, where `tokio::fs` and
/// `spawn_blocking` go, grows to 512 threads).
///
/// - `num_cpus = 0`: the threads wait on I/O, not on the CPU, so they reserve none and the
///   graph still fits on two CPUs. Each replica still gets one thread.
/// - `num_replicas = 4`: four calls at once, so one slow DNS answer does not stall every
///   file read.
/// - `max_ongoing_requests = 1`: a replica takes a call only when its thread is free;
///   other calls wait in the deployment's queue for whichever replica frees first, not
///   behind a slow call. That queue (1,000 by default) is deeper than the requests the
///   ingress lets in at once (100), and a caller that gives up drops its queued call.
#[deployment(num_replicas = 4, num_cpus = 0, max_ongoing_requests = 1)]
#[derive(Default)]
pub struct BlockingIo;

#[deployment]
impl BlockingIo {
    /// The file at `path`, if `root` allows it: see [`FileRoot::read`].
    pub fn read_file(
        &self,
        root: FileRoot,
        path: String,
        limit: u64,
    ) -> Result<Bytes, DownloadError> {
        root.read(&path, limit)
    }

    /// The addresses `host` resolves to; the caller checks them.
    pub fn resolve(&self, host: String, port: u16) -> Result<Vec<SocketAddr>, DownloadError> {
        hosts::resolve(&host, port)
    }
}
