//! Which build a process runs: processes of different builds would read each other's
//! values with different types, so a call between them is refused instead.

use std::hash::Hasher;
use std::io::Read;
use std::sync::OnceLock;

/// The header a call carries its caller's build in.
pub(crate) const HEADER: &str = "serve-build";

/// A hash of this process's executable: the same binary on every machine gives the same
/// id, any rebuild that changes it another. Read once (a large debug binary takes a
/// fraction of a second); call [`warm`] at start so no request pays for it.
pub(crate) fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| match hash_executable() {
        Ok(hash) => format!("{hash:016x}"),
        // Without the file the id cannot tell builds apart; name what is known instead.
        Err(e) => {
            tracing::warn!("cannot read this executable to identify its build: {e}");
            format!("unread-{}", env!("CARGO_PKG_VERSION"))
        }
    })
}

/// Computes the id off the async threads.
pub(crate) async fn warm() {
    let _ = tokio::task::spawn_blocking(build_id).await;
}

fn hash_executable() -> std::io::Result<u64> {
    let mut file = std::fs::File::open(std::env::current_exe()?)?;
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.write(&buf[..n]);
    }
}
