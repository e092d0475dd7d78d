//! The last node: one answer from the three models' outputs.

use serde::{Deserialize, Serialize};
use serve_runtime::deployment;

use crate::pipeline::classify::Label;
use crate::pipeline::integrity::Quality;
use crate::pipeline::segmentation::{BoundingBox, Mask};

/// Below this sharpness the image is too blurred to trust the other answers much.
const BLURRY_BELOW: f32 = 0.1;
/// Below this confidence the label is little better than a guess.
const UNSURE_BELOW: f32 = 0.25;

/// What the service answers for one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The size of the image as downloaded.
    pub width: u32,
    pub height: u32,
    pub label: Label,
    /// The share of the image that is the subject, in `[0, 1]`.
    pub foreground: f32,
    /// Where the subject is, in the image's pixels.
    pub bbox: Option<BoundingBox>,
    /// In `[0, 1]`.
    pub sharpness: f32,
    /// Reasons to doubt this report; empty when there are none.
    pub warnings: Vec<String>,
    /// The weights of the models that produced it.
    pub models: Models,
}

/// The weights paths of the stand-in models, for tracing an answer back to a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Models {
    pub segmentation: String,
    pub integrity: String,
}

/// Combines the three answers and flags the ones not to trust.
#[deployment]
pub async fn aggregate(mask: Mask, quality: Quality, label: Label) -> Report {
    let mut warnings = Vec::new();
    if quality.sharpness < BLURRY_BELOW {
        warnings.push(format!(
            "the image is blurred or flat (sharpness {:.2} < {BLURRY_BELOW})",
            quality.sharpness
        ));
    }
    if mask.bbox.is_none() {
        warnings.push("no subject stands out from the background".to_owned());
    }
    if label.confidence < UNSURE_BELOW {
        warnings.push(format!(
            "the {} classifier is unsure (confidence {:.2} < {UNSURE_BELOW})",
            label.classifier, label.confidence
        ));
    }
    Report {
        width: mask.image.width,
        height: mask.image.height,
        label,
        foreground: mask.foreground,
        bbox: mask.bbox,
        sharpness: quality.sharpness,
        warnings,
        models: Models {
            segmentation: mask.weights,
            integrity: quality.weights,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tensor::ImageSize;

    fn inputs() -> (Mask, Quality, Label) {
        let mask = Mask {
            image: ImageSize {
                width: 640,
                height: 480,
            },
            foreground: 0.3,
            bbox: Some(BoundingBox {
                x: 10,
                y: 20,
                width: 300,
                height: 200,
            }),
            weights: "seg.bin".into(),
        };
        let quality = Quality {
            sharpness: 0.7,
            weights: "int.bin".into(),
        };
        let label = Label {
            classifier: "fruit".into(),
            name: "apple".into(),
            confidence: 0.8,
            top: Vec::new(),
        };
        (mask, quality, label)
    }

    #[tokio::test]
    async fn a_clear_image_has_no_warnings() {
        let (mask, quality, label) = inputs();
        let report = aggregate(mask.clone(), quality, label.clone()).await;
        assert_eq!((report.width, report.height), (640, 480));
        assert_eq!((report.label, report.bbox), (label, mask.bbox));
        assert_eq!(report.models.segmentation, "seg.bin");
        assert_eq!(report.models.integrity, "int.bin");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[tokio::test]
    async fn doubts_are_spelled_out() {
        let (mut mask, mut quality, mut label) = inputs();
        mask.bbox = None;
        quality.sharpness = 0.02;
        label.confidence = 0.1;
        let report = aggregate(mask, quality, label).await;
        assert_eq!(
            report.warnings,
            [
                "the image is blurred or flat (sharpness 0.02 < 0.1)",
                "no subject stands out from the background",
                "the fruit classifier is unsure (confidence 0.10 < 0.25)",
            ]
        );
    }
}
