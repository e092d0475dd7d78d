//! Turning downloaded bytes into the tensor every model reads.

use std::io::Cursor;

use bytes::Bytes;
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageError, ImageReader, Limits};
use serve_runtime::deployment;

use crate::pipeline::tensor::{ImageSize, Tensor};

/// The side of the square the models take.
pub const INPUT_SIDE: u32 = 224;

/// The largest width or height decoded: a small file can claim a huge size, and decoding it
/// would take gigabytes.
const MAX_SIDE: u32 = 16_384;

/// The downloaded bytes are not an image we can read.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the {len} downloaded bytes as a PNG or JPEG image: {source}")]
pub struct DecodeError {
    len: usize,
    source: ImageError,
}

/// Decodes PNG or JPEG, resizes to `INPUT_SIDE` x `INPUT_SIDE` and scales colours to
/// `[0, 1]`. A real model would also normalise with its training mean and deviation; the
/// stand-in models read plain colours.
#[deployment]
#[derive(Default)]
pub struct Preprocessor;

#[deployment]
impl Preprocessor {
    pub async fn process(&self, image: Bytes) -> Result<Tensor, DecodeError> {
        // Decoding and resizing take milliseconds of CPU; on the blocking pool they do not
        // hold up the async workers that move other requests' bytes.
        let len = image.len();
        blocking(move || to_tensor(&image))
            .await
            .map_err(|source| DecodeError { len, source })
    }
}

fn to_tensor(bytes: &[u8]) -> Result<Tensor, ImageError> {
    let image = decode(bytes)?;
    let original = ImageSize {
        width: image.width(),
        height: image.height(),
    };
    let rgb = imageops::resize(
        &image.into_rgb8(),
        INPUT_SIDE,
        INPUT_SIDE,
        FilterType::Triangle,
    );
    Ok(Tensor::from_fn(INPUT_SIDE, INPUT_SIDE, original, |x, y| {
        rgb.get_pixel(x, y).0.map(|c| f32::from(c) / 255.0)
    }))
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    reader.decode()
}

/// Runs `work` on tokio's blocking pool. A panic there is resumed here, so the runtime
/// reports it as this deployment's panic like any other.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        // Blocking tasks cannot be aborted, so the only other failure is the runtime
        // shutting down, which would not be waiting on this request any more.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 128, 0])
            }
        });
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[tokio::test]
    async fn resizes_and_scales_keeping_the_original_size() {
        let t = Preprocessor.process(png(100, 40).into()).await.unwrap();
        assert_eq!(
            t.original(),
            ImageSize {
                width: 100,
                height: 40
            }
        );
        assert_eq!((t.width(), t.height()), (224, 224));
        let pixels: Vec<_> = t.pixels().collect();
        assert_eq!(pixels[0], [0.0, 0.0, 0.0]);
        let last = pixels[pixels.len() - 1];
        assert_eq!(last[0], 1.0);
        assert!((last[1] - 128.0 / 255.0).abs() < 1e-6, "{last:?}");
    }

    #[tokio::test]
    async fn undecodable_bytes_say_how_many_and_why() {
        let err = Preprocessor
            .process(Bytes::from_static(b"GIF89a not really"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot decode the 17 downloaded bytes as a PNG or JPEG image: "),
            "{err}"
        );
        let mut truncated = png(10, 10);
        truncated.truncate(truncated.len() / 2);
        assert!(Preprocessor.process(truncated.into()).await.is_err());
    }

    #[test]
    fn oversized_images_are_refused() {
        let err = to_tensor(&png(MAX_SIDE + 1, 1)).unwrap_err();
        assert!(matches!(err, ImageError::Limits(_)), "{err}");
    }
}
