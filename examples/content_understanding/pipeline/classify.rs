//! Four classifiers and the dispatcher that picks one per request.
//!
//! The general classifier is a real network ([`General`], an ImageNet model). The three
//! specialists are stand-ins for fine-tuned networks: each names the label from its own
//! small set whose colour covers most of the image, and its confidence is that colour's
//! share of the pixels. Cheap and honest, and enough to show routing; swap in real models
//! behind the same `classify` signature.

use serde::{Deserialize, Serialize};
use serve_runtime::{Handle, deployment};

use crate::pipeline::colour::{Colour, Histogram};
pub use crate::pipeline::general::General;
use crate::pipeline::tensor::Tensor;

/// What a classifier says about an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Which classifier answered: `fruit`, `car`, `plant` or `general`.
    pub classifier: String,
    pub name: String,
    /// In `[0, 1]`.
    pub confidence: f32,
    /// The best classes with their probabilities, best first, from the classifiers that
    /// score many (the general one); empty for the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<Score>,
}

/// One class and the probability a classifier gives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub name: String,
    pub score: f32,
}

impl Label {
    fn pick(classifier: &str, labels: &[(Colour, &str)], image: &Tensor) -> Label {
        let (name, confidence) = Histogram::of(image).most(labels);
        Label {
            classifier: classifier.to_owned(),
            name: (*name).to_owned(),
            confidence,
            top: Vec::new(),
        }
    }
}

const FRUITS: &[(Colour, &str)] = &[
    (Colour::Red, "apple"),
    (Colour::Orange, "orange"),
    (Colour::Yellow, "banana"),
    (Colour::Green, "pear"),
    (Colour::Magenta, "plum"),
];

const CARS: &[(Colour, &str)] = &[
    (Colour::Grey, "silver car"),
    (Colour::Black, "black car"),
    (Colour::White, "white car"),
    (Colour::Red, "red car"),
    (Colour::Blue, "blue car"),
];

const PLANTS: &[(Colour, &str)] = &[
    (Colour::Green, "leaf"),
    (Colour::Yellow, "sunflower"),
    (Colour::Red, "rose"),
    (Colour::Magenta, "orchid"),
    (Colour::Orange, "autumn leaf"),
];

#[deployment]
#[derive(Default)]
pub struct Fruit;

#[deployment]
impl Fruit {
    pub async fn classify(&self, image: Tensor) -> Label {
        Label::pick("fruit", FRUITS, &image)
    }
}

#[deployment]
#[derive(Default)]
pub struct Car;

#[deployment]
impl Car {
    pub async fn classify(&self, image: Tensor) -> Label {
        Label::pick("car", CARS, &image)
    }
}

#[deployment]
#[derive(Default)]
pub struct Plant;

#[deployment]
impl Plant {
    pub async fn classify(&self, image: Tensor) -> Label {
        Label::pick("plant", PLANTS, &image)
    }
}

/// Sends each image to the classifier for the request's category; the choice is made per
/// request, so the graph holds handles to all four.
#[deployment]
pub struct Dispatcher {
    fruit: Handle<Fruit>,
    car: Handle<Car>,
    plant: Handle<Plant>,
    general: Handle<General>,
}

#[deployment]
impl Dispatcher {
    pub fn new(
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

    /// `category` is matched ignoring case and surrounding spaces; any other category goes
    /// to the general classifier.
    pub async fn run(
        &self,
        image: Tensor,
        category: String,
    ) -> Result<Label, serve_runtime::Error> {
        match category.trim().to_ascii_lowercase().as_str() {
            "fruit" => self.fruit.classify(image).await,
            "car" => self.car.classify(image).await,
            "plant" => self.plant.classify(image).await,
            _ => self.general.classify(image).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tensor::ImageSize;

    fn filled(rgb: [f32; 3]) -> Tensor {
        let size = ImageSize {
            width: 8,
            height: 8,
        };
        Tensor::from_fn(8, 8, size, |_, _| rgb)
    }

    #[tokio::test]
    async fn each_classifier_answers_from_its_own_labels() {
        let red = filled([0.85, 0.1, 0.1]);
        let green = filled([0.2, 0.6, 0.2]);
        let grey = filled([0.6, 0.6, 0.62]);
        let cases = [
            (Fruit.classify(red.clone()).await, "fruit", "apple"),
            (Fruit.classify(green.clone()).await, "fruit", "pear"),
            (Plant.classify(green.clone()).await, "plant", "leaf"),
            (Plant.classify(red.clone()).await, "plant", "rose"),
            (Car.classify(grey.clone()).await, "car", "silver car"),
            (Car.classify(red).await, "car", "red car"),
        ];
        for (label, classifier, name) in cases {
            assert_eq!(
                (label.classifier.as_str(), label.name.as_str()),
                (classifier, name)
            );
            assert_eq!(label.confidence, 1.0);
        }
    }

    #[tokio::test]
    async fn confidence_is_the_share_of_the_winning_colour() {
        let size = ImageSize {
            width: 4,
            height: 1,
        };
        let mostly_yellow = Tensor::from_fn(4, 1, size, |x, _| {
            if x == 0 {
                [0.9, 0.5, 0.0]
            } else {
                [0.9, 0.85, 0.1]
            }
        });
        let label = Fruit.classify(mostly_yellow).await;
        assert_eq!((label.name.as_str(), label.confidence), ("banana", 0.75));
    }
}
