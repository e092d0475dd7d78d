//! Coarse colour names for pixels: the one feature the stand-in classifiers look at.

use crate::pipeline::tensor::Tensor;

/// A named region of HSV space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Black,
    White,
    Grey,
    Red,
    Orange,
    Yellow,
    Green,
    Cyan,
    Blue,
    Magenta,
}

impl Colour {
    const COUNT: usize = Colour::Magenta as usize + 1;

    /// The name of an RGB colour with components in `[0, 1]`.
    pub fn of([r, g, b]: [f32; 3]) -> Colour {
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
        if max < 0.2 {
            return Colour::Black;
        }
        if saturation < 0.2 {
            return if max > 0.8 {
                Colour::White
            } else {
                Colour::Grey
            };
        }
        match hue(r, g, b, max, min) {
            h if !(15.0..345.0).contains(&h) => Colour::Red,
            h if h < 45.0 => Colour::Orange,
            h if h < 70.0 => Colour::Yellow,
            h if h < 170.0 => Colour::Green,
            h if h < 200.0 => Colour::Cyan,
            h if h < 260.0 => Colour::Blue,
            _ => Colour::Magenta,
        }
    }
}

/// The hue in degrees, `[0, 360)`, of a colour that is not grey (`max > min`).
fn hue(r: f32, g: f32, b: f32, max: f32, min: f32) -> f32 {
    let delta = max - min;
    let h = if max == r {
        60.0 * ((g - b) / delta)
    } else if max == g {
        60.0 * ((b - r) / delta + 2.0)
    } else {
        60.0 * ((r - g) / delta + 4.0)
    };
    h.rem_euclid(360.0)
}

/// The share of an image's pixels that has each colour.
#[derive(Debug)]
pub struct Histogram {
    shares: [f32; Colour::COUNT],
}

impl Histogram {
    pub fn of(image: &Tensor) -> Histogram {
        let mut counts = [0usize; Colour::COUNT];
        for pixel in image.pixels() {
            counts[Colour::of(pixel) as usize] += 1;
        }
        let total = counts.iter().sum::<usize>().max(1) as f32;
        Histogram {
            shares: counts.map(|c| c as f32 / total),
        }
    }

    /// The share of pixels of `colour`, in `[0, 1]`.
    pub fn share(&self, colour: Colour) -> f32 {
        self.shares[colour as usize]
    }

    /// The entry of `choices` (not empty) whose colour covers most of the image, with its
    /// share; the first one on a tie.
    pub fn most<'a, T>(&self, choices: &'a [(Colour, T)]) -> (&'a T, f32) {
        let mut best = (&choices[0].1, self.share(choices[0].0));
        for (colour, value) in &choices[1..] {
            let share = self.share(*colour);
            if share > best.1 {
                best = (value, share);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tensor::ImageSize;

    #[test]
    fn names_colours() {
        let cases = [
            ([0.05, 0.1, 0.02], Colour::Black),
            ([0.95, 0.93, 0.9], Colour::White),
            ([0.5, 0.5, 0.52], Colour::Grey),
            ([0.9, 0.2, 0.2], Colour::Red),
            ([0.9, 0.2, 0.35], Colour::Red),
            ([1.0, 0.5, 0.0], Colour::Orange),
            ([0.9, 0.85, 0.1], Colour::Yellow),
            ([0.2, 0.6, 0.2], Colour::Green),
            ([0.1, 0.8, 0.8], Colour::Cyan),
            ([0.1, 0.2, 0.9], Colour::Blue),
            ([0.7, 0.1, 0.8], Colour::Magenta),
        ];
        for (rgb, colour) in cases {
            assert_eq!(Colour::of(rgb), colour, "{rgb:?}");
        }
    }

    #[test]
    fn shares_and_the_largest_choice() {
        let size = ImageSize {
            width: 4,
            height: 1,
        };
        let image = Tensor::from_fn(4, 1, size, |x, _| match x {
            0 => [0.0, 0.0, 0.0],
            _ => [0.2, 0.7, 0.2],
        });
        let h = Histogram::of(&image);
        assert_eq!(h.share(Colour::Green), 0.75);
        assert_eq!(h.share(Colour::Black), 0.25);
        assert_eq!(h.share(Colour::Red), 0.0);
        let choices = [(Colour::Red, "red"), (Colour::Green, "green")];
        assert_eq!(h.most(&choices), (&"green", 0.75));
        let absent = [(Colour::Red, "red"), (Colour::Blue, "blue")];
        assert_eq!(h.most(&absent), (&"red", 0.0), "first on a tie");
    }
}
