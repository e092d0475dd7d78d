//! Finding the object in the image.

use serde::{Deserialize, Serialize};
use serve_runtime::deployment;

use crate::pipeline::tensor::{ImageSize, Tensor};

/// A rectangle in the pixels of the original image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What segmentation found, in the coordinates of the original image.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub image: ImageSize,
    /// The share of the image that is foreground, in `[0, 1]`.
    pub foreground: f32,
    /// Around all foreground pixels; `None` when there are none.
    pub bbox: Option<BoundingBox>,
    /// The weights that produced it.
    pub weights: String,
}

/// Stand-in for a segmentation network. It splits pixels at the mean luminance and calls
/// foreground the side that most of the border is not on, since photos are usually framed
/// with background around the subject.
///
/// `weights` is where a real network's weights would load from. No weights ship with this
/// example, so the stand-in does not open the file; it records the path in every mask, and
/// so in every report, to say which model answered.
#[deployment(num_replicas = 2, max_ongoing_requests = 16)]
pub struct Segmentation {
    weights: String,
}

#[deployment]
impl Segmentation {
    pub fn new(weights: String) -> Self {
        Segmentation { weights }
    }

    pub async fn forward(&self, image: Tensor) -> Mask {
        let (foreground, bbox) = segment(&image);
        Mask {
            image: image.original(),
            foreground,
            bbox,
            weights: self.weights.clone(),
        }
    }
}

fn segment(image: &Tensor) -> (f32, Option<BoundingBox>) {
    let (width, height) = (image.width(), image.height());
    let luma = image.luminance();
    let mean = luma.iter().sum::<f32>() / luma.len() as f32;
    let bright = |i: usize| luma[i] > mean;
    let border: Vec<usize> = (0..luma.len())
        .filter(|i| {
            let (x, y) = (i % width, i / width);
            x == 0 || y == 0 || x + 1 == width || y + 1 == height
        })
        .collect();
    let bright_border = border.iter().filter(|&&i| bright(i)).count();
    // On a tie (no clear background) the bright side is the subject.
    let bright_is_foreground = bright_border * 2 <= border.len();

    let mut count = 0;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for i in (0..luma.len()).filter(|&i| bright(i) == bright_is_foreground) {
        let (x, y) = (i % width, i / width);
        count += 1;
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let share = count as f32 / luma.len() as f32;
    let bbox = (count > 0).then(|| {
        let original = image.original();
        let (left, right) = scale(x0, x1, width, original.width);
        let (top, bottom) = scale(y0, y1, height, original.height);
        BoundingBox {
            x: left,
            y: top,
            width: right - left,
            height: bottom - top,
        }
    });
    (share, bbox)
}

/// Maps the inclusive span `first..=last` of `from` samples onto `to` pixels, as a
/// half-open span that covers every pixel the samples came from.
fn scale(first: usize, last: usize, from: usize, to: u32) -> (u32, u32) {
    let ratio = f64::from(to) / from as f64;
    let start = (first as f64 * ratio).floor() as u32;
    let end = ((last + 1) as f64 * ratio).ceil() as u32;
    (start, end.min(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(side: u32, original: u32, rgb: impl Fn(u32, u32) -> [f32; 3]) -> Tensor {
        let size = ImageSize {
            width: original,
            height: original,
        };
        Tensor::from_fn(side, side, size, rgb)
    }

    #[test]
    fn half_black_half_white_is_half_foreground() {
        let image = tensor(224, 448, |x, _| if x < 112 { [0.0; 3] } else { [1.0; 3] });
        let (share, bbox) = segment(&image);
        assert_eq!(share, 0.5);
        let bbox = bbox.unwrap();
        assert_eq!(
            (bbox.x, bbox.y, bbox.width, bbox.height),
            (224, 0, 224, 448)
        );
    }

    #[test]
    fn a_dark_subject_on_a_light_background_is_the_foreground() {
        let image = tensor(10, 100, |x, y| {
            if (3..7).contains(&x) && (2..5).contains(&y) {
                [0.1; 3]
            } else {
                [0.9; 3]
            }
        });
        let (share, bbox) = segment(&image);
        assert_eq!(share, 0.12);
        assert_eq!(
            bbox,
            Some(BoundingBox {
                x: 30,
                y: 20,
                width: 40,
                height: 30
            })
        );
    }

    #[test]
    fn a_flat_image_has_no_foreground() {
        let (share, bbox) = segment(&tensor(16, 16, |_, _| [0.4, 0.5, 0.6]));
        assert_eq!((share, bbox), (0.0, None));
    }

    #[tokio::test]
    async fn the_mask_records_the_weights_and_the_original_size() {
        let seg = Segmentation::new("weights/seg.bin".into());
        let mask = seg.forward(tensor(8, 64, |_, _| [0.0; 3])).await;
        assert_eq!(mask.weights, "weights/seg.bin");
        assert_eq!(mask.image.width, 64);
    }
}
