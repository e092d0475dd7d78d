use serve_runtime::{deployment, graph};

#[deployment]
async fn describe(x: u32) -> String {
    format!("{x}")
}

#[deployment]
async fn shout(text: String) -> String {
    text.to_uppercase()
}

#[graph]
async fn g(x: u32) -> String {
    let text: u32 = describe(x);
    shout(text)
}

fn main() {}
