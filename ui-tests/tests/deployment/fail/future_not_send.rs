use std::rc::Rc;

use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    // An `Rc` held across an `.await` makes the call's future not `Send`, and a replica's
    // calls may run on its threads.
    async fn predict(&self, x: u32) -> u32 {
        let shared = Rc::new(x);
        tokio::task::yield_now().await;
        *shared
    }
}

fn main() {}
