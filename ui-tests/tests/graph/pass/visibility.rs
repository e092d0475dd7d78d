//! A graph's name stands for it wherever its visibility lets it be named.

mod graphs {
    use serve_runtime::{deployment, graph};

    #[deployment]
    async fn double(x: u32) -> u32 {
        x * 2
    }

    #[graph]
    pub(crate) async fn in_crate(x: u32) -> u32 {
        double(x)
    }

    pub mod inner {
        use serve_runtime::graph;

        #[graph]
        pub(super) async fn in_parent(x: u32) -> u32 {
            super::double(x)
        }

        #[graph]
        pub(in crate::graphs) async fn in_path(x: u32, y: u32) -> u32 {
            super::add(x, y)
        }
    }

    #[deployment]
    async fn add(x: u32, y: u32) -> u32 {
        x + y
    }

    pub fn app() -> serve_runtime::App {
        serve_runtime::App::new()
            .graph(in_crate)
            .graph(inner::in_parent)
            .graph(inner::in_path)
    }
}

fn main() {
    let _ = graphs::app();
    let _ = serve_runtime::start(graphs::in_crate);
}
