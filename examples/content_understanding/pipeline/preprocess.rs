//! Turning downloaded bytes into the tensor every model reads.

use std::io::Cursor;

use bytes::Bytes;
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};
use serve_runtime::deployment;

use crate::pipeline::tensor::{ImageSize, Tensor};

/// The side of the square the models take.
pub const INPUT_SIDE: u32 = 224;

/// The most pixels decoded: 4096 x 4096, 16.8 megapixels. A 16 MP phone photo fits, and
/// the models see 224 x 224, so more buys nothing; while a small file can claim any size
/// (a 2 MB PNG can say 16384 x 16384, 268 MP, which would decode to gigabytes).
pub const MAX_PIXELS: u64 = 4096 * 4096;

/// The longest side decoded. The resize's scratch rows grow with the width, so this bounds
/// them where the pixel budget alone would not (16.8 MP one pixel high).
pub const MAX_SIDE: u32 = 8192;

/// What the decoder may allocate (the image crate's `Limits::max_alloc`): the largest image
/// within [`MAX_PIXELS`] at 8 bytes a pixel (16-bit RGBA PNG), 128 MiB.
///
/// Memory for one decode, at worst: the decoded image (128 MiB) and its 8-bit RGB copy
/// (3 bytes a pixel, 48 MiB) are alive together while converting; then the copy and the
/// resize's scratch rows (`MAX_SIDE` x 224 x 16 bytes, 28 MiB). A progressive JPEG's
/// coefficients (at most 96 MiB), which `max_alloc` does not count, are freed with its
/// decoder before the copy, and its decoded image is at most 48 MiB (8-bit RGB). So one
/// decode takes about 180 MiB at worst (measured: 177.5 MiB for a 4096 x 4096 16-bit RGBA
/// PNG), and the Preprocessor, two decodes at once, about 360 MiB (measured: 354 MiB with
/// two such requests at once, 360 MiB with eight), besides the downloaded files waiting
/// for it (each at most `MAX_DOWNLOAD_BYTES`).
pub const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 8;

/// The downloaded bytes are not an image we read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot decode the {len} downloaded bytes as a PNG or JPEG image: {source}")]
    Undecodable { len: usize, source: ImageError },
    #[error(
        "the image is {width} x {height} pixels, over the limit of {MAX_PIXELS} pixels and \
         {MAX_SIDE} a side"
    )]
    TooLarge { width: u32, height: u32 },
}

/// Decodes PNG or JPEG, resizes to `INPUT_SIDE` x `INPUT_SIDE` and scales colours to
/// `[0, 1]`. A real model would also normalise with its training mean and deviation; the
/// stand-in models read plain colours.
///
/// Decoding and resizing are CPU work (milliseconds for a photo, more for the largest
/// images), so `process` is a sync method on threads of the Preprocessor's own: two
/// replicas of half a CPU each, a thread each, so at most two decodes run at once and
/// memory stays within twice the bound above (with Integrity's and General's halves, the
/// graph reserves 2 CPUs). `max_ongoing_requests = 1`: a replica takes a call only when its
/// thread is free, and the others wait in the deployment's queue for whichever replica
/// frees first rather than behind a slow decode.
#[deployment(num_replicas = 2, num_cpus = 0.5, max_ongoing_requests = 1)]
#[derive(Default)]
pub struct Preprocessor;

#[deployment]
impl Preprocessor {
    pub fn process(&self, image: Bytes) -> Result<Tensor, DecodeError> {
        let rgb = decode(&image)?.into_rgb8();
        let original = ImageSize {
            width: rgb.width(),
            height: rgb.height(),
        };
        let small = imageops::resize(&rgb, INPUT_SIDE, INPUT_SIDE, FilterType::Triangle);
        drop(rgb);
        Ok(Tensor::from_fn(INPUT_SIDE, INPUT_SIDE, original, |x, y| {
            small.get_pixel(x, y).0.map(|c| f32::from(c) / 255.0)
        }))
    }
}

/// Reads the header, refuses an image over the budget, and only then decodes it.
fn decode(bytes: &[u8]) -> Result<DynamicImage, DecodeError> {
    let undecodable = |source| DecodeError::Undecodable {
        len: bytes.len(),
        source,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| undecodable(ImageError::IoError(e)))?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS
        || width > MAX_SIDE
        || height > MAX_SIDE
        || decoder.total_bytes() > MAX_DECODE_BYTES
    {
        return Err(DecodeError::TooLarge { width, height });
    }
    DynamicImage::from_decoder(decoder).map_err(undecodable)
}

#[cfg(test)]
mod tests {
    use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
    use image::{ExtendedColorType, ImageEncoder};

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

    /// A black greyscale PNG, quick to write at any size.
    fn grey_png(width: u32, height: u32) -> Vec<u8> {
        let pixels = vec![0; width as usize * height as usize];
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::NoFilter)
            .write_image(&pixels, width, height, ExtendedColorType::L8)
            .unwrap();
        out
    }

    #[test]
    fn resizes_and_scales_keeping_the_original_size() {
        let t = Preprocessor.process(png(100, 40).into()).unwrap();
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

    #[test]
    fn undecodable_bytes_say_how_many_and_why() {
        let err = Preprocessor
            .process(Bytes::from_static(b"GIF89a not really"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot decode the 17 downloaded bytes as a PNG or JPEG image: "),
            "{err}"
        );
        let mut truncated = png(10, 10);
        truncated.truncate(truncated.len() / 2);
        assert!(Preprocessor.process(truncated.into()).is_err());
    }

    #[test]
    fn images_over_the_budget_are_refused_from_their_header() {
        let just_over = MAX_PIXELS / u64::from(MAX_SIDE) + 1;
        let cases = [
            (MAX_SIDE + 1, 1),
            (1, MAX_SIDE + 1),
            (MAX_SIDE, just_over as u32),
        ];
        for (width, height) in cases {
            let err = Preprocessor
                .process(grey_png(width, height).into())
                .unwrap_err();
            assert!(
                matches!(err, DecodeError::TooLarge { width: w, height: h } if (w, h) == (width, height)),
                "{err}"
            );
            assert!(
                err.to_string().starts_with(&format!(
                    "the image is {width} x {height} pixels, over the limit of 16777216 pixels"
                )),
                "{err}"
            );
        }
        let at_limit = grey_png(MAX_SIDE, (MAX_PIXELS / u64::from(MAX_SIDE)) as u32);
        let t = Preprocessor.process(at_limit.into()).unwrap();
        assert_eq!((t.original().width, t.original().height), (8192, 2048));
    }
}
