use serve_runtime::{App, deployment};

pub struct Image {
    pub pixels: Vec<u8>,
}

#[deployment]
async fn classify(image: Image) -> String {
    format!("{} pixels", image.pixels.len())
}

fn main() {
    let _app = App::new().deployment::<classify>();
}
