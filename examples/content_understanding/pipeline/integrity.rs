//! Judging whether the image is good enough to trust what the models say about it.

use serve_runtime::deployment;

use crate::pipeline::tensor::Tensor;

/// How usable the image is.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// From 0 (flat or blurred) to 1 (crisp detail).
    pub sharpness: f32,
    /// The weights that produced it.
    pub weights: String,
}

/// The mean absolute Laplacian at which sharpness reaches `1 - 1/e` (about 0.63): roughly a
/// photo with clear edges, once resized to the model's input.
const SHARP_LAPLACIAN: f32 = 0.02;

/// Stand-in for an image-quality network: sharpness from the mean absolute Laplacian of
/// the luminance, the classic measure of focus. Like `Segmentation`, it records its
/// `weights` path rather than opening it.
#[deployment(num_cpus = 0.25)]
pub struct Integrity {
    weights: String,
}

#[deployment]
impl Integrity {
    pub fn new(weights: String) -> Self {
        Integrity { weights }
    }

    pub async fn forward(&self, image: Tensor) -> Quality {
        Quality {
            sharpness: sharpness(&image),
            weights: self.weights.clone(),
        }
    }
}

fn sharpness(image: &Tensor) -> f32 {
    let (width, height) = (image.width(), image.height());
    if width < 3 || height < 3 {
        return 0.0;
    }
    let luma = image.luminance();
    let at = |x: usize, y: usize| luma[y * width + x];
    let mut total = 0.0;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let laplacian =
                4.0 * at(x, y) - at(x - 1, y) - at(x + 1, y) - at(x, y - 1) - at(x, y + 1);
            total += laplacian.abs();
        }
    }
    let mean = total / ((width - 2) * (height - 2)) as f32;
    1.0 - (-mean / SHARP_LAPLACIAN).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tensor::ImageSize;

    fn tensor(luma: impl Fn(u32, u32) -> f32) -> Tensor {
        let size = ImageSize {
            width: 64,
            height: 64,
        };
        Tensor::from_fn(64, 64, size, |x, y| [luma(x, y); 3])
    }

    #[test]
    fn flat_is_zero_and_fine_detail_is_near_one() {
        assert_eq!(sharpness(&tensor(|_, _| 0.5)), 0.0);
        let checkerboard = tensor(|x, y| ((x + y) % 2) as f32);
        assert!(sharpness(&checkerboard) > 0.99);
    }

    #[test]
    fn blurring_lowers_sharpness() {
        let step = |x: u32| if x % 16 < 8 { 0.0 } else { 1.0 };
        let sharp = tensor(|x, _| step(x));
        // The same stripes through a 5-pixel box blur.
        let blurred = tensor(|x, _| (x.saturating_sub(2)..=x + 2).map(step).sum::<f32>() / 5.0);
        let (s, b) = (sharpness(&sharp), sharpness(&blurred));
        assert!(s > b && b > 0.0, "sharp {s}, blurred {b}");
    }

    #[tokio::test]
    async fn the_quality_records_the_weights() {
        let quality = Integrity::new("weights/int.bin".into())
            .forward(tensor(|_, _| 0.5))
            .await;
        assert_eq!(quality.weights, "weights/int.bin");
    }
}
