//! The general classifier: EfficientNet-Lite0, a network trained on ImageNet's 1000
//! classes, run with tract (pure Rust) on threads of the replica's own. The weights ship
//! with the example (`models/`, where `PROVENANCE.md` says where they come from); nothing is
//! downloaded.

use std::path::Path;
use std::sync::Arc;

use serve_runtime::deployment;
use tract_onnx::prelude::{
    Framework as _, InferenceModelExt as _, IntoRunnable as _, TValue, TractError,
    TypedRunnableModel, tvec,
};

use crate::pipeline::classify::{Label, Score};
use crate::pipeline::preprocess::INPUT_SIDE;
use crate::pipeline::tensor::Tensor;

/// The network, as the example ships it.
pub const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/content_understanding/models/efficientnet_lite0.onnx"
);

/// ImageNet's class names, one a line, in the order of the network's outputs.
const LABELS: &str = include_str!("../models/imagenet_labels.txt");

/// How many of the best classes an answer lists.
pub const TOP: usize = 5;

/// The network could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(String);

impl ModelError {
    fn new(what: &str, e: &TractError) -> Self {
        // tract's context chain says which node or file was at fault.
        Self(format!("{what}: {e:#}"))
    }
}

/// Each replica holds the network, loaded and optimised once in `new`, and runs
/// `classify` (sync, about 28 ms of one core in a release build) on a thread of its own: a
/// quarter of a CPU each puts it there. Two replicas let two images through the network at
/// once, one a core on a two-core machine; on a machine with GPUs, `num_gpus = 0.5` would
/// let two replicas share one. `remote = true` lets it run in a process of its own
/// (`serve --deployments General`, the config's `address` pointing there); without an
/// address it runs in the graph's process, as every other deployment here does.
#[deployment(num_replicas = 2, num_cpus = 0.25, remote = true)]
pub struct General {
    model: Arc<TypedRunnableModel>,
    labels: Vec<&'static str>,
}

#[deployment]
impl General {
    pub fn new() -> Result<Self, ModelError> {
        Self::load(Path::new(MODEL))
    }

    /// The five most likely ImageNet classes; the label is the first, its confidence the
    /// network's probability for it.
    pub fn classify(&self, image: Tensor) -> Result<Label, ModelError> {
        let probabilities = self.probabilities(&image)?;
        let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<Score> = ranked
            .iter()
            .take(TOP)
            .map(|&(class, p)| Score {
                name: self.labels[class].to_owned(),
                score: p,
            })
            .collect();
        Ok(Label {
            classifier: "general".to_owned(),
            name: top[0].name.clone(),
            confidence: top[0].score,
            top,
        })
    }
}

impl General {
    /// Loads and optimises the network at `path`, checking it answers with one score per
    /// label.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let where_ = format!("loading the model `{}`", path.display());
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::new(&where_, &e))?;
        // The first synonym names the class: "tiger cat" for "tiger cat".
        let labels: Vec<&'static str> = LABELS
            .lines()
            .map(|line| line.split(',').next().unwrap_or(line).trim())
            .collect();
        let general = General { model, labels };
        let outputs = general
            .probabilities(&Tensor::from_fn(INPUT_SIDE, INPUT_SIDE, ORIGIN, |_, _| {
                [0.5; 3]
            }))?
            .len();
        if outputs != general.labels.len() {
            return Err(ModelError(format!(
                "{where_}: it scores {outputs} classes, but there are {} labels",
                general.labels.len()
            )));
        }
        Ok(general)
    }

    /// The softmax of the network's logits for `image`.
    fn probabilities(&self, image: &Tensor) -> Result<Vec<f32>, ModelError> {
        let side = INPUT_SIDE as usize;
        if image.width() != side || image.height() != side {
            return Err(ModelError(format!(
                "the model takes {side} x {side} images, not {} x {}",
                image.width(),
                image.height()
            )));
        }
        // The network was trained on RGB in 0..=255 as (x - 127) / 128.
        let input: Vec<f32> = image
            .planes()
            .iter()
            .map(|&c| (c * 255.0 - 127.0) / 128.0)
            .collect();
        let input = tract_onnx::prelude::Tensor::from_shape(&[1, 3, side, side], &input)
            .map_err(|e| ModelError::new("shaping the input", &e))?;
        let outputs = self
            .model
            .run(tvec!(TValue::from(input)))
            .map_err(|e| ModelError::new("running the model", &e))?;
        let logits = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| ModelError::new("reading the model's output", &e))?;
        Ok(softmax(&logits.iter().copied().collect::<Vec<f32>>()))
    }
}

const ORIGIN: crate::pipeline::tensor::ImageSize = crate::pipeline::tensor::ImageSize {
    width: INPUT_SIDE,
    height: INPUT_SIDE,
};

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order() {
        let p = softmax(&[1.0, 3.0, 2.0, 12.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[3] > 0.99 && p[1] > p[2] && p[2] > p[0], "{p:?}");
    }

    #[test]
    fn a_file_that_is_not_a_model_is_refused_naming_it() {
        let dir = std::env::temp_dir().join(format!("not-a-model-{}", std::process::id()));
        std::fs::write(&dir, b"not onnx").unwrap();
        let error = General::load(&dir).err().expect("refused");
        assert!(
            error.to_string().contains(&*dir.to_string_lossy()),
            "{error}"
        );
        std::fs::remove_file(&dir).unwrap();
    }
}
