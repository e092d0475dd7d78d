use serve_runtime::{deployment, graph};

struct Image(Vec<u8>);

#[deployment]
async fn load(url: String) -> Image {
    Image(url.into_bytes())
}

#[deployment]
async fn size(image: Image) -> usize {
    image.0.len()
}

#[deployment]
async fn add(a: usize, b: usize) -> usize {
    a + b
}

#[graph]
async fn g(url: String) -> usize {
    let image = load(url);
    let a = size(image);
    let b = size(image);
    add(a, b)
}

fn main() {}
