use serve_runtime::deployment;

struct Settings {
    threshold: f32,
}

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn reconfigure(&self, settings: Settings) {
        let _ = settings.threshold;
    }
}

fn main() {}
