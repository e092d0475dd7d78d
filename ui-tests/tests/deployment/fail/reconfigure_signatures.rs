use serde::Deserialize;
use serve_runtime::deployment;

#[derive(Deserialize)]
struct Settings {
    threshold: f32,
}

#[deployment]
#[derive(Default)]
struct Borrowed;

#[deployment]
impl Borrowed {
    async fn reconfigure(&self, settings: &Settings) {
        let _ = settings.threshold;
    }
}

#[deployment]
#[derive(Default)]
struct Nothing;

#[deployment]
impl Nothing {
    async fn reconfigure(&self) {}
}

#[deployment]
#[derive(Default)]
struct Answers;

#[deployment]
impl Answers {
    fn reconfigure(&self, settings: Settings) -> f32 {
        settings.threshold
    }
}

fn main() {}
