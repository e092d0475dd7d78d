//! The thin workload: the content-understanding topology (download -> preprocess -> fan-out
//! to segmentation, integrity and a dispatcher over four classifiers -> aggregate) where every
//! node does trivial work, so what is measured is the framework.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serve_runtime::{Handle, deployment, graph};

/// The request body both servers take.
#[derive(Deserialize)]
pub struct Request {
    pub image_url: String,
    pub category: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Label {
    pub classifier: String,
    pub label: String,
    pub score: f32,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub foreground: f32,
    pub integrity: f32,
    pub label: Label,
}

pub type Tensor = Arc<Vec<f32>>;

// The work itself, shared by the graph and the baseline.

pub fn download(url: &str) -> Vec<u8> {
    url.bytes().cycle().take(64).collect()
}

pub fn preprocess(bytes: &[u8]) -> Tensor {
    Arc::new(
        bytes
            .iter()
            .take(16)
            .map(|&b| f32::from(b) / 255.0)
            .collect(),
    )
}

pub fn segment(t: &[f32]) -> f32 {
    t.iter().sum::<f32>() / t.len() as f32
}

pub fn integrity(t: &[f32]) -> f32 {
    let max = t.iter().copied().fold(f32::MIN, f32::max);
    let min = t.iter().copied().fold(f32::MAX, f32::min);
    max - min
}

pub fn classify(classifier: &str, labels: [&str; 2], t: &[f32]) -> Label {
    let score = t[0];
    Label {
        classifier: classifier.to_owned(),
        label: labels[usize::from(score > 0.5)].to_owned(),
        score,
    }
}

pub fn classify_by(category: &str, t: &[f32]) -> Label {
    match category {
        "fruit" => classify("fruit", ["apple", "banana"], t),
        "car" => classify("car", ["sedan", "truck"], t),
        "plant" => classify("plant", ["leaf", "flower"], t),
        _ => classify("general", ["thing", "scene"], t),
    }
}

pub fn aggregate(foreground: f32, integrity: f32, label: Label) -> Report {
    Report {
        foreground,
        integrity,
        label,
    }
}

// The same work as a graph. Every deployment is `remote = true`, so that `thin_split` can
// run each in a process of its own; in one process that costs nothing.

#[deployment(remote = true)]
async fn downloader(image_url: String) -> Vec<u8> {
    download(&image_url)
}

#[deployment(remote = true)]
async fn preprocessor(bytes: Vec<u8>) -> Tensor {
    preprocess(&bytes)
}

#[deployment(num_replicas = 2, remote = true)]
async fn segmentation(t: Tensor) -> f32 {
    segment(&t)
}

#[deployment(remote = true)]
async fn integrity_check(t: Tensor) -> f32 {
    integrity(&t)
}

macro_rules! classifier {
    ($name:ident, $label:literal, $labels:expr) => {
        #[deployment(remote = true)]
        #[derive(Default)]
        pub struct $name;

        #[deployment]
        impl $name {
            async fn classify(&self, t: Tensor) -> Label {
                classify($label, $labels, &t)
            }
        }
    };
}

classifier!(Fruit, "fruit", ["apple", "banana"]);
classifier!(Car, "car", ["sedan", "truck"]);
classifier!(Plant, "plant", ["leaf", "flower"]);
classifier!(General, "general", ["thing", "scene"]);

#[deployment(remote = true)]
pub struct Dispatcher {
    fruit: Handle<Fruit>,
    car: Handle<Car>,
    plant: Handle<Plant>,
    general: Handle<General>,
}

#[deployment]
impl Dispatcher {
    fn new(
        fruit: Handle<Fruit>,
        car: Handle<Car>,
        plant: Handle<Plant>,
        general: Handle<General>,
    ) -> Self {
        Dispatcher {
            fruit,
            car,
            plant,
            general,
        }
    }

    async fn run(&self, t: Tensor, category: String) -> Result<Label, serve_runtime::Error> {
        match category.as_str() {
            "fruit" => self.fruit.classify(t).await,
            "car" => self.car.classify(t).await,
            "plant" => self.plant.classify(t).await,
            _ => self.general.classify(t).await,
        }
    }
}

#[deployment(remote = true)]
async fn aggregator(foreground: f32, integrity: f32, label: Label) -> Report {
    aggregate(foreground, integrity, label)
}

#[graph(route_prefix = "/classify")]
pub async fn thin(image_url: String, category: String) -> Report {
    let dispatcher = Dispatcher::bind(Fruit::bind(), Car::bind(), Plant::bind(), General::bind());
    let bytes = downloader(image_url);
    let tensor = preprocessor(bytes);
    let seg = segmentation(tensor);
    let integ = integrity_check(tensor);
    let label = dispatcher.run(tensor, category);
    aggregator(seg, integ, label)
}

/// The same work inline, as one bare handler would do it.
pub fn inline(request: Request) -> Report {
    let bytes = download(&request.image_url);
    let tensor = preprocess(&bytes);
    let seg = segment(&tensor);
    let integ = integrity(&tensor);
    let label = classify_by(&request.category, &tensor);
    aggregate(seg, integ, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn graph_and_inline_agree() {
        let g = serve_runtime::start(thin).await.unwrap();
        for category in ["fruit", "car", "plant", "other"] {
            let url = "http://example.invalid/x.png".to_owned();
            let by_graph = g.call((url.clone(), category.to_owned())).await.unwrap();
            let by_hand = inline(Request {
                image_url: url,
                category: category.to_owned(),
            });
            assert_eq!(by_graph, by_hand);
        }
    }
}
