//! The value the models share: an image as RGB planes of `f32`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Width and height of an image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    pub width: u32,
    pub height: u32,
}

/// An image ready for the models: shape `[3, height, width]` (channel-major, as vision
/// models take it), colours in `[0, 1]`, and the size of the image it was made from.
///
/// Three models read the same tensor; the samples sit behind an `Arc`, so handing one to
/// each of them copies a pointer, not 600 KB. It is serde so that it can cross to the
/// general classifier when that runs in a process of its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tensor {
    shape: [usize; 3],
    data: Arc<[f32]>,
    original: ImageSize,
}

impl Tensor {
    /// A `width` x `height` tensor whose pixel at `(x, y)` is `rgb(x, y)`.
    pub fn from_fn(
        width: u32,
        height: u32,
        original: ImageSize,
        rgb: impl Fn(u32, u32) -> [f32; 3],
    ) -> Self {
        let plane = width as usize * height as usize;
        let mut data = vec![0.0; 3 * plane];
        for y in 0..height {
            for x in 0..width {
                let i = y as usize * width as usize + x as usize;
                for (c, value) in rgb(x, y).into_iter().enumerate() {
                    data[c * plane + i] = value;
                }
            }
        }
        Tensor {
            shape: [3, height as usize, width as usize],
            data: data.into(),
            original,
        }
    }

    pub fn width(&self) -> usize {
        self.shape[2]
    }

    pub fn height(&self) -> usize {
        self.shape[1]
    }

    /// The size of the image before it was resized.
    pub fn original(&self) -> ImageSize {
        self.original
    }

    /// The samples as they are laid out: the red plane, then green, then blue, each row by
    /// row.
    pub fn planes(&self) -> &[f32] {
        &self.data
    }

    /// Every pixel as `[r, g, b]`, row by row.
    pub fn pixels(&self) -> impl Iterator<Item = [f32; 3]> + '_ {
        let plane = self.width() * self.height();
        let (r, rest) = self.data.split_at(plane);
        let (g, b) = rest.split_at(plane);
        r.iter().zip(g).zip(b).map(|((&r, &g), &b)| [r, g, b])
    }

    /// Perceived brightness of every pixel (ITU-R BT.601 weights), row by row.
    pub fn luminance(&self) -> Vec<f32> {
        self.pixels()
            .map(|[r, g, b]| 0.299 * r + 0.587 * g + 0.114 * b)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: ImageSize = ImageSize {
        width: 20,
        height: 10,
    };

    #[test]
    fn planes_are_channel_major() {
        let t = Tensor::from_fn(2, 3, SIZE, |x, y| [x as f32, y as f32, 0.5]);
        assert_eq!(t.shape, [3, 3, 2]);
        assert_eq!(t.original(), SIZE);
        assert_eq!(
            &t.data[..6],
            [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
            "red plane first"
        );
        let pixels: Vec<_> = t.pixels().collect();
        assert_eq!(pixels[3], [1.0, 1.0, 0.5], "(x=1, y=1)");
    }

    #[test]
    fn clones_share_the_samples() {
        let t = Tensor::from_fn(4, 4, SIZE, |_, _| [0.0; 3]);
        assert!(Arc::ptr_eq(&t.data, &t.clone().data));
    }

    #[test]
    fn luminance_weighs_green_most() {
        let t = Tensor::from_fn(3, 1, SIZE, |x, _| {
            let mut rgb = [0.0; 3];
            rgb[x as usize] = 1.0;
            rgb
        });
        let l = t.luminance();
        assert!(l[1] > l[0] && l[0] > l[2], "{l:?}");
        let white = Tensor::from_fn(1, 1, SIZE, |_, _| [1.0; 3]);
        assert!((white.luminance()[0] - 1.0).abs() < 1e-6);
    }
}
