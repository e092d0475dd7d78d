//! A text-similarity graph whose embedder runs on batches: the two texts of one request,
//! and those of every request arriving meanwhile, are embedded in one call.

use serde::Serialize;
use serve_runtime::{deployment, graph};

/// How many numbers an embedding has.
pub const DIMS: usize = 256;

/// A stand-in for a text encoder: character trigrams hashed into `DIMS` buckets, scaled
/// to unit length. Like a network's forward pass, one call costs a fixed part (here, a
/// projection table walked once per batch) plus a part per text.
#[deployment(num_cpus = 1, max_ongoing_requests = 64)]
pub struct Embedder {
    projection: Vec<f32>,
}

#[deployment]
impl Embedder {
    fn new() -> Self {
        // A fixed pseudo-random sign per bucket, as a projection layer's weights would be.
        let projection = (0..DIMS as u32)
            .map(|i| {
                if i.wrapping_mul(2_654_435_761) >> 31 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        Embedder { projection }
    }

    /// Embeds a batch of texts: one output per text, in order. Callers pass one text.
    #[batch(max_batch_size = 16, batch_wait_timeout_s = 0.005)]
    pub fn embed(&self, texts: Vec<String>) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.one(t)).collect()
    }
}

impl Embedder {
    fn one(&self, text: &str) -> Vec<f32> {
        let chars: Vec<char> = text.to_lowercase().chars().collect();
        let mut v = vec![0.0f32; DIMS];
        for w in chars.windows(3) {
            let h = w.iter().fold(2_166_136_261u32, |h, c| {
                (h ^ *c as u32).wrapping_mul(16_777_619)
            });
            let at = h as usize % DIMS;
            v[at] += self.projection[at];
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

/// The cosine of two unit vectors.
#[deployment]
pub async fn cosine(a: Vec<f32>, b: Vec<f32>) -> Similarity {
    let similarity = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>();
    Similarity {
        similarity: (similarity * 1000.0).round() / 1000.0,
    }
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Similarity {
    /// From -1 (opposite) through 0 (unrelated) to 1 (the same trigrams).
    pub similarity: f32,
}

/// `POST /similarity {"left": "...", "right": "..."}` → `{"similarity": 0.83}`.
#[graph(route_prefix = "/similarity")]
pub async fn similarity(left: String, right: String) -> Similarity {
    let embedder = Embedder::bind();
    let a = embedder.embed(left);
    let b = embedder.embed(right);
    cosine(a, b)
}
