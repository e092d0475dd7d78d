use serve_runtime::deployment;

#[deployment]
fn step(x: u32) -> u32 {
    x
}

fn main() {}
