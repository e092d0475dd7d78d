use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn predict(&self, x: f32) -> f32 {
        x
    }

    async fn check_health(&self, deep: bool) -> Result<(), String> {
        if deep { Err("no".into()) } else { Ok(()) }
    }

    async fn shutdown(&self) -> bool {
        true
    }
}

fn main() {}
