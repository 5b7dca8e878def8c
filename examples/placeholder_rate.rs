//! How often a random key body is wrongly taken for a placeholder (run by bench/placeholder-rate.sh).
//!
//!     cargo run --release --example placeholder_rate -- [BODIES] [SEED]
//!
//! For bodies of 10, 24 and 99 characters drawn uniformly from [A-Za-z0-9] with a seeded generator,
//! counts those the built-in sk_live rule does not report (every such body matches the key grammar,
//! so only a placeholder rule can drop it), next to the computed bound.

use skguard::rules::RuleSet;

/// SplitMix64: small, seeded, good enough to draw characters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The chance that a random body of `n` characters matches a placeholder pattern of the built-in
/// rules, bounded by the sum over the patterns, plus the model's bound 2^-margin.
fn bound(n: usize, margin: f64) -> f64 {
    let p = |k: usize| 62f64.powi(-(k as i32));
    let anywhere = |k: usize| {
        if n >= k {
            3.0 * (n - k + 1) as f64 * p(k)
        } else {
            0.0
        }
    };
    let fake = 2.0 * 3.0 * p(4);
    let markers = anywhere(5) + anywhere(6) + anywhere(7) + anywhere(11); // DUMMY, SAMPLE, EXAMPLE, PLACEHOLDER
    let masks = if n >= 6 {
        2.0 * (n - 5) as f64 * p(6)
    } else {
        0.0
    };
    let repeated = 62.0 * p(n);
    let sequences = 4.0 * p(9) + 2.0 * p(12);
    fake + markers + masks + repeated + sequences + 2f64.powf(-margin)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bodies: u64 = args
        .next()
        .map_or(10_000_000, |a| a.parse().expect("BODIES"));
    let seed: u64 = args.next().map_or(12, |a| a.parse().expect("SEED"));
    let rules = RuleSet::builtin();
    let rule = rules.by_id("sk_live").expect("built-in rule");
    let margin = rule
        .spec
        .placeholder_words
        .expect("placeholder_words")
        .margin_bits;
    println!("{bodies} random bodies per length, seed {seed}, margin {margin} bits");
    for n in [10usize, 24, 99] {
        let mut rng = Rng(seed ^ n as u64);
        let mut text = b"sk_live_".to_vec();
        let mut flagged = 0u64;
        let mut example = None;
        for _ in 0..bodies {
            text.truncate(8);
            for _ in 0..n {
                text.push(ALPHABET[(rng.next() % 62) as usize]);
            }
            if rule.confirm(&text, 8).is_none() {
                flagged += 1;
                example.get_or_insert_with(|| String::from_utf8_lossy(&text[8..]).into_owned());
            }
        }
        println!(
            "length {n:>2}: {flagged} of {bodies} taken for placeholders (rate {:.1e}); computed bound {:.2e}{}",
            flagged as f64 / bodies as f64,
            bound(n, margin),
            example.map_or(String::new(), |e| format!("; first: {e}")),
        );
    }
}
