//! Placeholders recognised by what they are: a body that dictionary words, counting runs and short
//! numbers explain much better than chance (`notarealkey`, `envvar1234567890`, `12345678abcd`).
//!
//! The decision is a description length. A random body of `n` characters takes `n·log2(62)` bits to
//! write down. The same body can also be written as a sequence of tokens drawn from a probabilistic
//! model of placeholder text:
//!
//! | token | probability |
//! | --- | --- |
//! | a word of `rules/words.txt` (line `r`, 0-based) | 0.6 · 1/((r+1)·H) · case (lower 0.7, Capitalized 0.2, UPPER 0.1) |
//! | a counting run of `L ≥ 3` (`1234`, `9876`, `7890123`, `abcd`, `ZYX`) | 0.1 · class (digits ½, lower ¼, upper ¼) · 1/start · ½ direction · 1/((L-2)(L-1)) |
//! | a number of 1 to 4 digits | 0.1 · ¼ · 10^-digits |
//! | any one character | 0.2 · 1/62 |
//!
//! (`H` makes the word probabilities sum to 1: Zipf's law over the list, most frequent first.) The
//! body's cost is that of its cheapest tokenisation (minus log2 of its probability). A body is a
//! placeholder when that cost is at least `margin_bits` below `n·log2(62)`: the words and runs
//! explain at least that much of it, and they leave at most `max_unexplained` of its characters
//! to single-character tokens (a body made *mostly* of words: `FixtureNoNewline6Uh5Yg4Tf` is not).
//!
//! The bound on mistakes follows from the model being a probability distribution (every kind of
//! token, and every choice within one, sums to at most 1): at most `2^(n·log2 62 − margin)` bodies of
//! length `n` can have a cost that low, so a random body is called a placeholder with a chance below
//! `2^-margin_bits`, whatever its length. A random body that happens to contain a short word pays
//! for the characters around it at 0.2·1/62 each (8.3 bits, more than the 5.95 of a random character),
//! so one word found by chance never makes it a placeholder.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A rule's `placeholder_words`: when words and runs make a body a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceholderWords {
    /// The tokenisation must cost at least this many bits fewer than the random form.
    pub margin_bits: f64,
    /// At most this share of the body's characters may be left unexplained (single characters).
    pub max_unexplained: f64,
}

impl PlaceholderWords {
    /// Whether words and counting runs explain `body`.
    pub fn explain(&self, body: &[u8]) -> bool {
        if !body.iter().all(u8::is_ascii_alphanumeric) {
            return false;
        }
        let (cost, unexplained) = remembered_cost(body);
        let saved = body.len() as f64 * random_bits_per_char() - cost;
        saved >= self.margin_bits && unexplained as f64 <= self.max_unexplained * body.len() as f64
    }
}

/// The word list, one word a line, the most frequent first.
pub const WORDS: &str = include_str!("../../rules/words.txt");

const P_WORD: f64 = 0.6;
const P_RUN: f64 = 0.1;
const P_NUMBER: f64 = 0.1;
const P_CHAR: f64 = 0.2;
const P_LOWER: f64 = 0.7;
const P_CAPITALIZED: f64 = 0.2;
const P_UPPER: f64 = 0.1;
/// The longest number token.
const MAX_NUMBER: usize = 4;

/// Bits a random body character takes: log2(62).
pub fn random_bits_per_char() -> f64 {
    62f64.log2()
}

/// A trie over the lower-case words: each node's children sit together in `children`, in letter
/// order, found by a bit per letter (one popcount a step, no search).
struct Node {
    /// Bit `c - b'a'` is set for each letter `c` with a child.
    letters: u32,
    /// Where the node's children start in [`Model::children`].
    first: u32,
    /// Bits of the word that ends here (type and word, not its case).
    bits: Option<f64>,
}

struct Model {
    nodes: Vec<Node>,
    children: Vec<u32>,
}

impl Model {
    fn build(words: &str) -> Model {
        let list: Vec<&str> = words
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty() && !w.starts_with('#'))
            .collect();
        let h: f64 = (1..=list.len()).map(|r| 1.0 / r as f64).sum();
        // Built as a map first (letter → child per node), then laid out flat.
        let mut edges: Vec<std::collections::BTreeMap<u8, usize>> = vec![Default::default()];
        let mut bits: Vec<Option<f64>> = vec![None];
        for (rank, word) in list.iter().enumerate() {
            let mut at = 0usize;
            for b in word.bytes().map(|b| b.to_ascii_lowercase()) {
                if !b.is_ascii_lowercase() {
                    // Only letters make words (a listed word with anything else is left out).
                    at = usize::MAX;
                    break;
                }
                let next = edges.len();
                at = *edges[at].entry(b).or_insert(next);
                if at == next {
                    edges.push(Default::default());
                    bits.push(None);
                }
            }
            if at == usize::MAX {
                continue;
            }
            // A word listed twice keeps its more frequent place.
            if bits[at].is_none() {
                bits[at] = Some(-(P_WORD / ((rank + 1) as f64 * h)).log2());
            }
        }
        let mut children = Vec::new();
        let nodes = edges
            .iter()
            .zip(bits)
            .map(|(out, bits)| {
                let first = children.len() as u32;
                let mut letters = 0u32;
                for (&letter, &child) in out {
                    letters |= 1 << (letter - b'a');
                    children.push(child as u32);
                }
                Node {
                    letters,
                    first,
                    bits,
                }
            })
            .collect();
        Model { nodes, children }
    }

    /// The child of `node` by the lower-case letter `c`.
    fn child(&self, node: usize, c: u8) -> Option<usize> {
        let n = &self.nodes[node];
        let bit = 1u32 << (c - b'a');
        (n.letters & bit != 0).then(|| {
            self.children[(n.first + (n.letters & (bit - 1)).count_ones()) as usize] as usize
        })
    }

    /// Bits of the cheapest tokenisation of `body` (ASCII letters and digits), and how many of its
    /// characters that tokenisation leaves unexplained (single-character tokens).
    fn cost(&self, body: &[u8]) -> (f64, usize) {
        let n = body.len();
        let mut best = vec![(f64::INFINITY, 0usize); n + 1];
        best[0] = (0.0, 0);
        let char_bits = -(P_CHAR / 62.0).log2();
        for i in 0..n {
            let (here, unexplained) = best[i];
            if !here.is_finite() {
                continue;
            }
            let mut relax_with = |end: usize, bits: f64, single: usize| {
                if here + bits < best[end].0 {
                    best[end] = (here + bits, unexplained + single);
                }
            };
            relax_with(i + 1, char_bits, 1);
            let mut relax = |end: usize, bits: f64| relax_with(end, bits, 0);
            // Numbers: 1 to 4 digits.
            let digits = body[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            for len in 1..=digits.min(MAX_NUMBER) {
                relax(
                    i + len,
                    -(P_NUMBER / MAX_NUMBER as f64).log2() + len as f64 * 10f64.log2(),
                );
            }
            // Counting runs, up and down.
            for step in [1i8, -1] {
                let len = run_len(&body[i..], step);
                let Some(class_bits) = run_class_bits(body[i]) else {
                    continue;
                };
                for l in 3..=len {
                    let length_bits = (((l - 2) * (l - 1)) as f64).log2();
                    relax(i + l, -P_RUN.log2() + class_bits + 1.0 + length_bits);
                }
            }
            // Words, in one of three cases.
            let mut node = 0usize;
            let (mut lower, mut upper, mut capitalized) = (true, true, true);
            for (k, &b) in body[i..].iter().enumerate() {
                if !b.is_ascii_alphabetic() {
                    break;
                }
                let is_upper = b.is_ascii_uppercase();
                lower &= !is_upper;
                upper &= is_upper;
                capitalized &= if k == 0 { is_upper } else { !is_upper };
                if !(lower || upper || capitalized) {
                    break;
                }
                match self.child(node, b.to_ascii_lowercase()) {
                    Some(next) => node = next,
                    None => break,
                }
                if let Some(bits) = self.nodes[node].bits {
                    // A one-letter upper-case word is both UPPER and Capitalized: either will do.
                    let case = if lower {
                        P_LOWER
                    } else if capitalized {
                        P_CAPITALIZED
                    } else {
                        P_UPPER
                    };
                    relax(i + k + 1, bits - case.log2());
                }
            }
        }
        best[n]
    }
}

/// Bits for the class and first character of a run starting with `b`.
fn run_class_bits(b: u8) -> Option<f64> {
    match b {
        b'0'..=b'9' => Some(1.0 + 10f64.log2()),
        b'a'..=b'z' | b'A'..=b'Z' => Some(2.0 + 26f64.log2()),
        _ => None,
    }
}

/// How many characters from `text[0]` count by `step` (digits wrap from 9 to 0 and back).
fn run_len(text: &[u8], step: i8) -> usize {
    let Some(&first) = text.first() else {
        return 0;
    };
    let (lo, hi) = match first {
        b'0'..=b'9' => (b'0', b'9'),
        b'a'..=b'z' => (b'a', b'z'),
        b'A'..=b'Z' => (b'A', b'Z'),
        _ => return 0,
    };
    let wraps = lo == b'0';
    let mut len = 1;
    let mut prev = first;
    for &b in &text[1..] {
        let next = match (step, prev) {
            (1, p) if p == hi && wraps => lo,
            (-1, p) if p == lo && wraps => hi,
            (1, p) if p < hi => p + 1,
            (-1, p) if p > lo => p - 1,
            _ => break,
        };
        if b != next {
            break;
        }
        len += 1;
        prev = b;
    }
    len
}

/// Bodies whose cost a thread remembers: a file that repeats the same few placeholders (a
/// fixture, or a hostile file made of them) costs the word model once per body, not per line.
const REMEMBERED: usize = 1024;

/// [`Model::cost`] of `body`, remembered per thread for the last [`REMEMBERED`] distinct bodies
/// (all forgotten at once when full).
fn remembered_cost(body: &[u8]) -> (f64, usize) {
    type Seen = std::collections::HashMap<Box<[u8]>, (f64, usize)>;
    thread_local! {
        static SEEN: std::cell::RefCell<Seen> = Default::default();
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some(&cost) = seen.get(body) {
            return cost;
        }
        let cost = model().cost(body);
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(body.into(), cost);
        cost
    })
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::build(WORDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> PlaceholderWords {
        PlaceholderWords {
            margin_bits: 22.0,
            max_unexplained: 0.2,
        }
    }

    #[test]
    fn bodies_made_of_words_and_runs_are_placeholders() {
        for body in [
            "notarealkey",
            "thisisaboguskey",
            "provisioned",
            "envvar1234567890",
            "abc123456789qwerty",
            "12345678abcd",
            "yourkeyhere",
            "test1234567890",
            "YOURSECRETKEYHERE",
            "Whole1Key2Only3On4Request5",
        ] {
            assert!(builtin().explain(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn random_looking_bodies_are_not_even_with_words_in_them() {
        let bodies = include_str!("placeholder_keys.txt");
        for body in bodies.split_whitespace() {
            assert!(!builtin().explain(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn a_remembered_cost_is_the_cost_across_the_forgetting() {
        let mut rng = fastrand::Rng::with_seed(7);
        let words = ["not", "a", "real", "key", "test", "Example", "1234", "zyx"];
        let bodies: Vec<Vec<u8>> = (0..REMEMBERED * 3)
            .map(|i| {
                let mut body: Vec<u8> = (0..rng.usize(1..6))
                    .flat_map(|_| words[rng.usize(..words.len())].bytes())
                    .collect();
                if i % 3 == 0 {
                    body.extend((0..rng.usize(1..30)).map(|_| rng.alphanumeric() as u8));
                }
                body
            })
            .collect();
        // Each body twice, in an order that spans more than one forgetting.
        for body in bodies.iter().chain(bodies.iter().rev()) {
            assert_eq!(remembered_cost(body), model().cost(body), "{body:?}");
        }
    }

    #[test]
    fn runs_count_up_and_down_and_digits_wrap() {
        assert_eq!(run_len(b"1234567890x", 1), 10);
        assert_eq!(run_len(b"9876x", -1), 4);
        assert_eq!(run_len(b"abcdZ", 1), 4);
        assert_eq!(run_len(b"zab", 1), 1);
        assert_eq!(run_len(b"a1", 1), 1);
    }

    #[test]
    fn the_model_is_a_probability_distribution() {
        // Words: Zipf over the list sums to 1; cases sum to 1; token kinds sum to 1.
        assert!((P_WORD + P_RUN + P_NUMBER + P_CHAR - 1.0).abs() < 1e-12);
        assert!((P_LOWER + P_CAPITALIZED + P_UPPER - 1.0).abs() < 1e-12);
        let m = model();
        let total: f64 = m
            .nodes
            .iter()
            .filter_map(|n| n.bits)
            .map(|b| 2f64.powf(-b) / P_WORD)
            .sum();
        assert!(total <= 1.0 + 1e-9, "{total}");
        // Run lengths: sum over L >= 3 of 1/((L-2)(L-1)) = 1.
        let lengths: f64 = (3..100_000u64)
            .map(|l| 1.0 / ((l - 2) * (l - 1)) as f64)
            .sum();
        assert!(lengths <= 1.0);
    }
}
