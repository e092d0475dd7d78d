//! A text-generation graph that streams its answer token by token: a light tokenizer, then
//! a stand-in language model on a thread of its own whose tokens reach the client as they
//! are made.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde::Serialize;
use serve_runtime::{ItemStream, deployment, graph};

/// How long the stand-in model "computes" each token.
pub const TOKEN_TIME: Duration = Duration::from_millis(20);

/// Splits a prompt into lower-case words: a stand-in for a real tokenizer.
#[deployment]
pub async fn tokenize(prompt: String) -> Vec<String> {
    prompt
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect()
}

/// A stand-in language model: each next word is picked from a small vocabulary by a hash
/// of the words so far, so the same prompt always gives the same story.
#[deployment(num_cpus = 1, max_ongoing_requests = 4)]
pub struct Storyteller {
    vocabulary: Vec<&'static str>,
}

/// One generated token.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Token {
    /// Its place in the answer, from 0.
    pub index: u32,
    pub text: String,
}

#[deployment]
impl Storyteller {
    fn new() -> Self {
        let vocabulary = "the a fox river moon walked sang under over quietly and then \
                          bright old lantern forest found lost home"
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect();
        Storyteller { vocabulary }
    }

    /// Continues `words` with up to `max_tokens` more, one at a time. Runs on the
    /// replica's own thread: the stream's items are made there, each as the client (or
    /// the channel to it) takes the previous one.
    pub fn continue_story(&self, words: Vec<String>, max_tokens: u32) -> ItemStream<Token> {
        let vocabulary = self.vocabulary.clone();
        let mut state = words
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, w| mix(h, w));
        ItemStream::new(futures_util::stream::iter(0..max_tokens).map(move |index| {
            std::thread::sleep(TOKEN_TIME);
            let text = vocabulary[(state % vocabulary.len() as u64) as usize];
            state = mix(state, text);
            Token {
                index,
                text: text.to_owned(),
            }
        }))
    }
}

fn mix(h: u64, word: &str) -> u64 {
    word.bytes()
        .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `POST /generate {"prompt": "...", "max_tokens": 8}`: JSON lines, or server-sent events
/// with `accept: text/event-stream`, one token each.
#[graph(route_prefix = "/generate")]
pub async fn generate(prompt: String, max_tokens: u32) -> ItemStream<Token> {
    let words = tokenize(prompt);
    let teller = Storyteller::bind();
    teller.continue_story(words, max_tokens)
}
