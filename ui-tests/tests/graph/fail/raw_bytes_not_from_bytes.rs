use serve_runtime::{deployment, graph};

pub struct Image {
    pub pixels: Vec<u8>,
}

#[deployment]
async fn size(image: Image) -> usize {
    image.pixels.len()
}

// `raw_bytes` hands the body over as it is: the parameter must be `From<Bytes>`.
#[graph(http_adapter = raw_bytes)]
async fn sizes(image: Image) -> usize {
    size(image)
}

fn main() {}
