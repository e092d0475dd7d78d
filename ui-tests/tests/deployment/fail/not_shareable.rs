use std::cell::RefCell;
use std::rc::Rc;

use serve_runtime::{deployment, graph};

#[deployment]
struct Counter {
    seen: RefCell<u32>,
}

#[deployment]
impl Counter {
    fn new() -> Self {
        Counter { seen: RefCell::new(0) }
    }
    async fn count(&self, x: u32) -> u32 {
        *self.seen.borrow_mut() += x;
        *self.seen.borrow()
    }
}

#[deployment]
struct Vocabulary {
    words: Rc<Vec<String>>,
}

#[deployment]
impl Vocabulary {
    fn new() -> Self {
        Vocabulary { words: Rc::new(Vec::new()) }
    }
    async fn size(&self, _x: u32) -> u32 {
        self.words.len() as u32
    }
}

#[graph]
async fn g(x: u32) -> u32 {
    let c = Counter::bind();
    let v = Vocabulary::bind();
    let n = c.count(x);
    v.size(n)
}

fn main() {}
