use serve_runtime::deployment;

// A deployment lives as long as its replicas: it cannot borrow.
#[deployment]
struct Model<'a> {
    labels: &'a [String],
}

#[deployment]
impl<'a> Model<'a> {
    fn new() -> Self {
        Model { labels: &[] }
    }

    async fn predict(&self, x: u32) -> usize {
        self.labels.len() + x as usize
    }
}

fn main() {}
