use serve_runtime::{deployment, graph};

#[deployment]
async fn sum(a: u8, b: u8) -> u8 {
    a + b
}

#[graph]
async fn wide(
    a: u8,
    b: u8,
    _c: u8,
    _d: u8,
    _e: u8,
    _f: u8,
    _g: u8,
    _h: u8,
    _i: u8,
    _j: u8,
    _k: u8,
    _l: u8,
    _m: u8,
) -> u8 {
    sum(a, b)
}

fn main() {}
