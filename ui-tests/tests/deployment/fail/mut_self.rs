use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Counter {
    n: u64,
}

#[deployment]
impl Counter {
    async fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() {}
