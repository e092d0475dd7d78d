//! State a deployment may hold: what `RefCell`/`Cell`/`Rc` are refused for, written the
//! shareable way, and a type of the user's own that happens to be called `Cell`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serve_runtime::deployment;

/// A grid cell: the name alone says nothing.
#[derive(Default)]
struct Cell {
    value: u32,
}

#[deployment]
#[derive(Default)]
struct Counter {
    calls: AtomicU64,
    seen: Mutex<RefCell<Vec<u32>>>,
    shared: Arc<Mutex<u32>>,
    cell: Cell,
}

#[deployment]
impl Counter {
    async fn count(&self, x: u32) -> u64 {
        self.seen.lock().unwrap().borrow_mut().push(x + self.cell.value);
        *self.shared.lock().unwrap() += x;
        self.calls.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn main() {}
