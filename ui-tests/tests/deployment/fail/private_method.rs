// A handle calls a deployment's methods with their own visibility: a private method is
// callable only where the method itself is.
mod models {
    use serve_runtime::deployment;

    #[deployment]
    #[derive(Default)]
    pub struct Scorer;

    #[deployment]
    impl Scorer {
        pub async fn score(&self, x: f64) -> f64 {
            self.secret(x).await
        }

        async fn secret(&self, x: f64) -> f64 {
            x * 2.0
        }
    }
}

async fn outside(scorer: serve_runtime::Handle<models::Scorer>) {
    let _ = scorer.score(1.0).await;
    let _ = scorer.secret(1.0).await;
}

fn main() {
    let _ = outside;
}
