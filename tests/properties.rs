//! Properties of matching, location, redaction and fingerprints, over random inputs.

use base64::Engine;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use skguard::findings::{Encoding, Secret};
use skguard::matching::Matcher;
use skguard::rules::RuleSet;
use skguard::sources::StreamScanner;

/// Text around keys: no `_` (so no prefix can form), no `\` (so no escape), no `%` (so no
/// percent-encoding), some multi-byte characters and newlines.
fn filler() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ a-jA-J0-9=:;,.'\"\n\té→中-]{0,80}").unwrap()
}

/// A key body that is not a placeholder: random, with at least three distinct characters.
fn body() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9]{10,247}")
        .unwrap()
        .prop_filter("not a placeholder", |b| {
            let mut chars: Vec<char> = b.chars().collect();
            chars.sort();
            chars.dedup();
            chars.len() >= 3
                && !b.to_ascii_lowercase().contains("xxxxxx")
                && !b.to_ascii_lowercase().starts_with("abcdefghij")
        })
}

fn scan(bytes: &[u8]) -> Vec<(u64, u64, String, Encoding)> {
    static MATCHER: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
    let matcher = MATCHER.get_or_init(|| Matcher::new(RuleSet::builtin()));
    let mut scanner = StreamScanner::new(matcher);
    let mut out = Vec::new();
    scanner.scan(&mut &bytes[..], &mut out).unwrap();
    out.into_iter()
        .map(|l| {
            (
                l.line,
                l.column,
                l.candidate.secret.expose().to_string(),
                l.candidate.encoding,
            )
        })
        .collect()
}

/// Line and column (in characters) of byte offset `at` in `text`.
fn place(text: &str, at: usize) -> (u64, u64) {
    let before = &text[..at];
    let line = before.matches('\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() as u64 + 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_random_key_in_random_text_is_found_where_it_is(
        before in filler(), after in filler(), body in body(), live in any::<bool>(), encoding in 0..5u8,
    ) {
        let key = format!("{}{body}", if live { "sk_live_" } else { "sk_test_" });
        // The key's boundaries: what precedes is not a word character, what follows does not
        // continue the body.
        let before = format!("{before} ");
        let after = format!(" {after}");
        let (bytes, expected_at, expected_encoding) = match encoding {
            0 => {
                let text = format!("{before}{key}{after}");
                let at = place(&text, before.len());
                (text.into_bytes(), at, Encoding::Raw)
            }
            1 => {
                let text = format!("{before}\"\\n{key}\"{after}");
                let at = place(&text, before.len() + 3);
                (text.into_bytes(), at, Encoding::Escape)
            }
            2 => {
                let text = format!("{before}?k=%22{key}{after}");
                let at = place(&text, before.len() + 6);
                (text.into_bytes(), at, Encoding::Percent)
            }
            3 => {
                // base64 of "x=" + key on a line of its own after the filler.
                let prefix = format!("{before}\nsecret: ");
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("x={key}\n"));
                let text = format!("{prefix}{encoded}\n");
                let (line, column) = place(&text, prefix.len());
                (text.into_bytes(), (line, column + 2 * 4 / 3), Encoding::Base64)
            }
            _ => {
                let text = format!("{before}{key}{after}");
                let (line, _) = place(&text, before.len());
                let line_start = text[..before.len()].rfind('\n').map_or(0, |i| i + 1);
                let column = text[line_start..before.len()].encode_utf16().count() as u64 + 1;
                let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
                (utf16, (line, column), Encoding::Utf16)
            }
        };
        let found = scan(&bytes);
        prop_assert_eq!(found.len(), 1, "{:?}", found);
        prop_assert_eq!(&found[0].2, &key);
        prop_assert_eq!(found[0].3, expected_encoding);
        prop_assert_eq!((found[0].0, found[0].1), expected_at);
    }

    #[test]
    fn redaction_reveals_at_most_a_quarter_and_never_more_than_eight(body in "[A-Za-z0-9]{10,247}") {
        let key = format!("sk_live_{body}");
        let secret = Secret::new(key.clone(), 8);
        let redacted = secret.redacted();
        let shown = redacted.trim_start_matches("sk_live_").replace('…', "");
        prop_assert!(shown.chars().count() <= 8);
        prop_assert!(shown.chars().count() * 4 <= body.len());
        prop_assert!(!redacted.contains(&body));
        let debug = format!("{:?}", secret);
        prop_assert!(!debug.contains(&body));
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_key(body in "[A-Za-z0-9]{10,247}") {
        let key = format!("sk_test_{body}");
        let expected = format!("sha256:{:x}", Sha256::digest(key.as_bytes()));
        prop_assert_eq!(Secret::new(key, 8).fingerprint(), expected);
    }

    #[test]
    fn placeholders_are_never_findings(c in "[A-Za-z0-9]", n in 10usize..247, mask in 6usize..40, tail in "[A-Za-z0-9]{0,8}") {
        let repeated = format!("KEY=sk_live_{}\n", c.repeat(n));
        prop_assert!(scan(repeated.as_bytes()).is_empty());
        let masked = format!("KEY=sk_test_{}{tail}\n", "x".repeat(mask));
        prop_assert!(scan(masked.as_bytes()).is_empty());
    }
}

/// No random body is taken for a placeholder: 10^5 seeded bodies of every length from 10 to 247
/// (the computed chance is below 1e-6 a body from 24 characters up, README "What counts as a key").
#[test]
fn random_bodies_are_never_placeholders() {
    let rules = RuleSet::builtin();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // SplitMix64, seeded: the same bodies on every run.
    let mut state: u64 = 0x5eed_0012;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for rule in ["sk_live", "sk_test"] {
        let rule = rules.by_id(rule).unwrap();
        let prefix = rule.spec.prefixes[0].as_bytes();
        for i in 0..50_000u64 {
            let len = 10 + (i % 238) as usize;
            let mut text = prefix.to_vec();
            text.extend((0..len).map(|_| alphabet[(next() % 62) as usize]));
            assert!(
                rule.confirm(&text, prefix.len()).is_some(),
                "a random body taken for a placeholder: {}",
                String::from_utf8_lossy(&text[prefix.len()..])
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A key in base64 wrapped at any width from 16 to 100, LF or CRLF, indented or not, after any
    /// text and any lead inside the encoded value, is found whole once, at the line and column of
    /// its first encoded character, with the streamed reader as with the whole buffer.
    #[test]
    fn a_key_in_wrapped_base64_is_found_whole_at_its_first_encoded_character(
        before in filler(), body in body(), lead in "[a-z=:]{0,90}", width in 16usize..100,
        crlf in any::<bool>(), indent in "( {0,8}|\t)",
    ) {
        let key = format!("sk_live_{body}");
        let eol = if crlf { "\r\n" } else { "\n" };
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{lead} {key}\n"));
        let head = format!("{before}\nvalue: |{eol}");
        let mut text = head.clone();
        for line in encoded.as_bytes().chunks(width) {
            text.push_str(&indent);
            text.push_str(std::str::from_utf8(line).unwrap());
            text.push_str(eol);
        }
        // The key's first byte is byte lead+1 of the value: its character is at (lead+1)*4/3.
        let first = (lead.len() + 1) * 8 / 6;
        let at = head.len()
            + first / width * (indent.len() + width + eol.len())
            + indent.len()
            + first % width;
        let found = scan(text.as_bytes());
        prop_assert_eq!(found, vec![(place(&text, at).0, place(&text, at).1, key, Encoding::Base64)]);
    }
}
