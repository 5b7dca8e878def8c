//! Matching: from bytes to candidate keys.
//!
//! One Aho-Corasick automaton holds every literal that can start a key, in every form a key is
//! stored in: the rules' prefixes as they are (`sk_live_`), in UTF-16 (`s\0k\0…`), and the part of
//! their base64 encoding that does not depend on the bytes around them, at each of the three
//! alignments a prefix can have in a base64 quantum. The automaton scans a buffer once; only at a
//! hit does any other work happen: the rule's anchored pattern confirms the key, the boundary rule
//! is applied to the *decoded* text (so `"\nsk_live_…"` in JSON and `%22sk_live_…` in a URL are
//! keys), and placeholders are dropped. Nothing is decoded unless a literal points at it.
//!
//! The matcher is pure: bytes in, candidates out. Lines, paths and suppression belong to the
//! callers ([`crate::sources`], [`crate::findings`]).

mod decode;
pub mod placeholder;
mod runs;

use std::ops::Range;

use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa, AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};

use crate::findings::{Encoding, Secret};
use crate::rules::RuleSet;

/// How many bytes before a prefilter hit the matcher may look at (escape sequences, the base64
/// quantum before a hint, and for wrapped base64 the whole line before the hint's line).
pub const CONTEXT_BEFORE: usize = 512;
const _: () = assert!(decode::BASE64_BEFORE <= CONTEXT_BEFORE);

/// Hits closer than this many bytes apart are dense; after `DENSE_RUN` of them in a row the
/// automaton runs without its prefilter, until two hits are more than `4 * DENSE_GAP` apart.
const DENSE_GAP: usize = 64;
const DENSE_RUN: u32 = 16;

/// Rule sets whose literals (in every form) add up to at most this many bytes get a DFA for dense
/// text (the built-in rules': about 400).
const DFA_MAX_PATTERN_BYTES: usize = 4096;

/// What [`Matcher::next_hit`] found.
enum Next {
    /// A hit: its start, pattern and end.
    Hit(usize, usize, usize),
    /// No hit starts before this position.
    Sparse(usize),
    /// No hit in the rest of the buffer.
    Done,
}

/// A key the matcher found.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// Offset in the buffer of the first byte of the key's stored form (for base64: the
    /// character where the key's first byte is encoded).
    pub offset: usize,
    pub secret: Secret,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy)]
enum Literal {
    /// A rule's prefix as it is.
    Raw { rule: usize, prefix_len: usize },
    /// A rule's prefix in UTF-16, either byte order.
    Utf16 { rule: usize, prefix_len: usize },
    /// A fragment of the stable part of a prefix's base64 encoding.
    Base64(decode::Base64Hint),
    /// A prefix with its punctuation percent-encoded (`sk%5Flive%5F`).
    Percent {
        rule: usize,
        prefix: usize,
        len: usize,
    },
}

/// Finds candidate keys in buffers. Build once per scan; share between threads.
#[derive(Debug, Clone)]
pub struct Matcher {
    rules: RuleSet,
    automaton: AhoCorasick,
    /// The same automaton without a prefilter, for text where hits are dense (see [`Matcher::find`]).
    /// A DFA (searched without dynamic dispatch, a few instructions a byte), only for rule sets
    /// whose literals are small: user rules come from the scanned tree, and a DFA is a table of
    /// every state times every byte class (680 MB for a 100 KB configuration, or a panic). Without
    /// it, dense text is searched with `automaton`, as sparse text is.
    dense: Option<dfa::DFA>,
    /// Its literals made of base64 characters, for dense hits inside base64 text.
    runs: Option<runs::RunLiterals>,
    /// The length of its longest pattern.
    longest: usize,
    /// What each pattern of the automaton means (one text can mean several things when rules share
    /// a prefix).
    literals: Vec<Vec<Literal>>,
    context_after: usize,
}

impl Matcher {
    pub fn new(rules: RuleSet) -> Matcher {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut literals: Vec<Vec<Literal>> = Vec::new();
        let mut add =
            |text: Vec<u8>, literal: Literal| match patterns.iter().position(|p| *p == text) {
                Some(i) => literals[i].push(literal),
                None => {
                    patterns.push(text);
                    literals.push(vec![literal]);
                }
            };
        for (rule, r) in rules.rules().iter().enumerate() {
            for (index, prefix) in r.spec.prefixes.iter().enumerate() {
                let prefix = prefix.as_bytes();
                let prefix_len = prefix.len();
                add(prefix.to_vec(), Literal::Raw { rule, prefix_len });
                add(
                    decode::utf16_literal(prefix),
                    Literal::Utf16 { rule, prefix_len },
                );
                for (text, hint) in decode::base64_hints(rule, index, prefix) {
                    add(text, Literal::Base64(hint));
                }
                for text in decode::percent_literals(prefix) {
                    let len = text.len();
                    add(
                        text,
                        Literal::Percent {
                            rule,
                            prefix: index,
                            len,
                        },
                    );
                }
            }
        }
        let small = patterns.iter().map(Vec::len).sum::<usize>() <= DFA_MAX_PATTERN_BYTES;
        // aho-corasick makes a DFA of up to 100 patterns whatever their length: few long user
        // prefixes would make it huge.
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .kind((!small).then_some(AhoCorasickKind::ContiguousNFA))
            .build(&patterns)
            .expect("rule literals always build an automaton");
        let dense = small
            .then(|| {
                dfa::Builder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .prefilter(false)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        let runs = runs::RunLiterals::new(&patterns);
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(1);
        // Enough bytes after a hit to see a whole key in its widest form (UTF-16, or base64 wrapped
        // over narrow indented lines) and the byte after.
        let max = rules.max_key_len();
        let context_after = (2 * (max + 2) + 16).max(decode::base64_after(max + 1));
        Matcher {
            rules,
            automaton,
            dense,
            runs,
            longest,
            literals,
            context_after,
        }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// How many bytes after a hit the matcher may need to see.
    pub fn context_after(&self) -> usize {
        self.context_after
    }

    /// Appends to `out` the candidates of `buf` whose offset lies in `keep`. `base` is the offset of
    /// `buf` in its file (UTF-16 code units are aligned to the file, not the buffer). The bytes
    /// around `keep` are context: a caller that scans a stream in overlapping chunks keeps each
    /// candidate in exactly one chunk.
    pub fn find(&self, buf: &[u8], base: u64, keep: Range<usize>, out: &mut Vec<Candidate>) {
        // The prefilter skips ordinary text at memory speed, but starts over at every hit: where
        // hits come every few bytes (a long base64 text of prefixes, a file of nothing but
        // prefixes) that is most of the work. There the automaton runs without it, and inside runs
        // of base64 characters `runs` finds the same hits faster still, until hits are sparse
        // again. All three find the same hits; only the speed differs.
        let mut pos = 0;
        let mut dense = false;
        let mut last = 0usize;
        let mut close = 0u32;
        // The end of the run of base64 characters around `pos`, once known (see `runs`).
        let mut run_end = 0usize;
        while pos < buf.len() {
            let (start, pattern, end) = match self.next_hit(buf, pos, dense, &mut run_end) {
                Next::Hit(start, pattern, end) => (start, pattern, end),
                Next::Sparse(at) => {
                    // No hit for a while: back to the prefilter.
                    (dense, close, pos) = (false, 0, at);
                    continue;
                }
                Next::Done => break,
            };
            let gap = start - last;
            last = start;
            if dense {
                dense = gap <= DENSE_GAP * 4;
            } else {
                close = if gap <= DENSE_GAP { close + 1 } else { 0 };
                dense = close >= DENSE_RUN;
            }
            for &literal in &self.literals[pattern] {
                if let Some(c) = self.at_hit(literal, buf, base, start) {
                    if keep.contains(&c.offset) {
                        out.push(c);
                    }
                }
            }
            pos = end;
        }
    }

    /// [`Matcher::find`] with the prefiltered automaton alone, hit after hit: what the dense paths
    /// must agree with.
    #[cfg(test)]
    fn find_reference(&self, buf: &[u8], base: u64, keep: Range<usize>, out: &mut Vec<Candidate>) {
        for hit in self.automaton.find_iter(buf) {
            for &literal in &self.literals[hit.pattern().as_usize()] {
                if let Some(c) = self.at_hit(literal, buf, base, hit.start()) {
                    if keep.contains(&c.offset) {
                        out.push(c);
                    }
                }
            }
        }
    }

    /// The automaton's next leftmost-first hit at or after `pos`. Where hits are dense, only
    /// within `4 * DENSE_GAP` bytes of `pos`: a long text without hits is left to the prefilter.
    fn next_hit(&self, buf: &[u8], pos: usize, dense: bool, run_end: &mut usize) -> Next {
        if !dense {
            return match self.automaton.find(Input::new(buf).span(pos..buf.len())) {
                Some(hit) => Next::Hit(hit.start(), hit.pattern().as_usize(), hit.end()),
                None => Next::Done,
            };
        }
        // Hits that start before `window` end before `reach`: in `buf[..reach]` the leftmost-first
        // hit is the same as in `buf` when it starts before `window` (a pattern that starts there
        // and goes on past `reach` would start later).
        let window = (pos + 4 * DENSE_GAP).min(buf.len());
        let reach = (window + self.longest - 1).min(buf.len());
        let mut from = pos;
        if let Some(runs) = &self.runs {
            if *run_end <= pos {
                *run_end = runs::RunLiterals::run_end(buf, pos);
            }
            match runs.scan(buf, pos, *run_end, window) {
                runs::RunScan::Hit(start, pattern, end) => return Next::Hit(start, pattern, end),
                runs::RunScan::Until(p) if p >= window => return Next::Sparse(window),
                runs::RunScan::Until(p) => from = p,
            }
        }
        let input = Input::new(&buf[..reach]).span(from..reach);
        let hit = match &self.dense {
            Some(dfa) => dfa
                .try_find(&input)
                .expect("an unanchored search of a DFA cannot fail"),
            None => self.automaton.find(input),
        };
        match hit {
            Some(hit) if hit.start() < window => {
                Next::Hit(hit.start(), hit.pattern().as_usize(), hit.end())
            }
            _ if window < buf.len() => Next::Sparse(window),
            _ => Next::Done,
        }
    }

    /// The candidate a literal found at `at` points at, if any.
    fn at_hit(&self, literal: Literal, buf: &[u8], base: u64, at: usize) -> Option<Candidate> {
        match literal {
            Literal::Raw { rule, prefix_len } => self.raw(rule, prefix_len, buf, at),
            Literal::Utf16 { rule, prefix_len } => {
                // The literal is both byte orders at once (see `decode::utf16_literal`): code
                // units are aligned to the file, so the offset's parity tells which this is.
                if (base + at as u64) % 2 == 0 {
                    self.utf16(rule, prefix_len, false, buf, at)
                } else {
                    // At the very start of a buffer this is context before a kept range: skip.
                    let at = at.checked_sub(1)?;
                    self.utf16(rule, prefix_len, true, buf, at)
                }
            }
            Literal::Base64(hint) => self.base64(&hint, buf, at),
            Literal::Percent { rule, prefix, len } => self.percent(rule, prefix, len, buf, at),
        }
    }

    /// A prefix as it is: raw, or behind a JSON/JS escape or a percent-encoded byte.
    fn raw(&self, rule: usize, prefix_len: usize, buf: &[u8], at: usize) -> Option<Candidate> {
        let encoding = match at.checked_sub(1).map(|i| buf[i]) {
            None => Encoding::Raw,
            Some(b) if !is_word(b) => Encoding::Raw,
            Some(_) => match decode::char_before(buf, at) {
                Some((decoded, encoding)) if !is_word(decoded) => encoding,
                _ => return None,
            },
        };
        let text = &buf[at..];
        let len = self.rules.get(rule).confirm(text, prefix_len)?;
        Some(candidate(rule, at, &text[..len], prefix_len, encoding))
    }

    fn utf16(
        &self,
        rule: usize,
        prefix_len: usize,
        big_endian: bool,
        buf: &[u8],
        at: usize,
    ) -> Option<Candidate> {
        let r = self.rules.get(rule);
        // The character after the prefix, when it cannot follow one, ends the look here.
        if let Some((lo, 0)) = decode::utf16_unit(buf, at + 2 * prefix_len, big_endian) {
            if lo.is_ascii() && !r.may_follow_prefix(lo) {
                return None;
            }
        }
        let (text, before) = decode::from_utf16(buf, at, big_endian, r.max_len + 1);
        if before.is_some_and(is_word) {
            return None;
        }
        let len = r.confirm(&text, prefix_len)?;
        Some(candidate(
            rule,
            at,
            &text[..len],
            prefix_len,
            Encoding::Utf16,
        ))
    }

    /// A prefix written with its punctuation percent-encoded, then the body as it is.
    fn percent(
        &self,
        rule: usize,
        prefix: usize,
        len: usize,
        buf: &[u8],
        at: usize,
    ) -> Option<Candidate> {
        let r = self.rules.get(rule);
        if at > 0 && is_word(buf[at - 1]) {
            match decode::char_before(buf, at) {
                Some((decoded, _)) if !is_word(decoded) => {}
                _ => return None,
            }
        }
        let prefix = &r.spec.prefixes[prefix];
        let rest = &buf[at + len..buf.len().min(at + len + r.max_len + 1)];
        if rest.first().is_some_and(|&b| !r.may_follow_prefix(b)) {
            return None;
        }
        let mut text = prefix.as_bytes().to_vec();
        text.extend_from_slice(rest);
        let key_len = r.confirm(&text, prefix.len())?;
        Some(candidate(
            rule,
            at,
            &text[..key_len],
            prefix.len(),
            Encoding::Percent,
        ))
    }

    fn base64(&self, hint: &decode::Base64Hint, buf: &[u8], at: usize) -> Option<Candidate> {
        if hint.rejects(buf, at) {
            return None;
        }
        let r = self.rules.get(hint.rule);
        let prefix = &r.spec.prefixes[hint.prefix];
        let decoded = hint.decode(buf, at, prefix.as_bytes(), r.max_len + 1)?;
        if decoded.before.is_some_and(is_word) {
            return None;
        }
        let text = &decoded.bytes[..];
        let len = r.confirm(text, hint.prefix_len)?;
        Some(candidate(
            hint.rule,
            decoded.offset,
            &text[..len],
            hint.prefix_len,
            Encoding::Base64,
        ))
    }
}

fn candidate(
    rule: usize,
    offset: usize,
    key: &[u8],
    prefix_len: usize,
    encoding: Encoding,
) -> Candidate {
    let key = String::from_utf8_lossy(key).into_owned();
    Candidate {
        rule,
        offset,
        secret: Secret::new(key, prefix_len),
        encoding,
    }
}

/// The key boundary: a key is not preceded by a letter, digit or `_`.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const BODY: &str = "Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1";

    fn live() -> String {
        format!("sk_live_{BODY}")
    }

    fn find(buf: &[u8]) -> Vec<(usize, String, Encoding)> {
        static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
        let m = M.get_or_init(|| Matcher::new(RuleSet::builtin()));
        let mut out = Vec::new();
        m.find(buf, 0, 0..buf.len(), &mut out);
        out.into_iter()
            .map(|c| (c.offset, c.secret.expose().to_string(), c.encoding))
            .collect()
    }

    #[test]
    fn raw_keys_and_the_boundary_rule() {
        let k = live();
        assert_eq!(find(k.as_bytes()), vec![(0, k.clone(), Encoding::Raw)]);
        assert_eq!(
            find(format!("x={k}\n").as_bytes()),
            vec![(2, k.clone(), Encoding::Raw)]
        );
        assert!(find(format!("de{k}").as_bytes()).is_empty());
        assert!(find(format!("_{k}").as_bytes()).is_empty());
        assert!(find(format!("7{k}").as_bytes()).is_empty());
        assert!(find(b"risk_test_DataProcessorFactory").is_empty());
    }

    #[test]
    fn escaped_keys_are_found_behind_json_and_js_escapes() {
        let k = live();
        for (text, at) in [
            (format!(r#""a\n{k}""#), 4),
            (format!(r#""\t{k}""#), 3),
            (format!(r#""\u0022{k}""#), 7),
            (format!(r#"'\x20{k}'"#), 5),
        ] {
            assert_eq!(
                find(text.as_bytes()),
                vec![(at, k.clone(), Encoding::Escape)],
                "{text}"
            );
        }
        // An escaped backslash: the text really is `\` then `n`, so the `n` is part of a word.
        assert!(find(format!(r#""\\n{k}""#).as_bytes()).is_empty());
        // \u0041 is "A": still a word character before the key.
        assert!(find(format!(r#""\u0041{k}""#).as_bytes()).is_empty());
    }

    #[test]
    fn percent_encoded_context_is_decoded() {
        let k = live();
        let url = format!("https://x.test/?k=%22{k}%22");
        assert_eq!(
            find(url.as_bytes()),
            vec![(21, k.clone(), Encoding::Percent)]
        );
        assert!(find(format!("?k=%41{k}").as_bytes()).is_empty());
    }

    #[test]
    fn base64_keys_at_every_alignment_and_in_both_alphabets() {
        let k = live();
        // Leads of 0 to 6 bytes put the prefix at every alignment in its quantum.
        for lead in ["", "\n", "x=", "ab ", "KEY=", "{\"k\":\""] {
            let plain = format!("{lead}{k}\n");
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ] {
                let encoded = engine.encode(&plain);
                let text = format!("data: {encoded}\n");
                let found = find(text.as_bytes());
                assert_eq!(found.len(), 1, "{lead:?} {text}");
                let (offset, key, encoding) = &found[0];
                assert_eq!((key.as_str(), *encoding), (k.as_str(), Encoding::Base64));
                assert_eq!(*offset, 6 + lead.len() * 4 / 3, "{lead:?}");
            }
        }
        // The boundary rule applies to the decoded text.
        let text = base64::engine::general_purpose::STANDARD.encode(format!("x{k}"));
        assert!(find(text.as_bytes()).is_empty());
    }

    /// `text` base64-encoded and wrapped at `width` with `eol` and `indent` before every line.
    fn wrapped(text: &str, width: usize, eol: &str, indent: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        encoded
            .as_bytes()
            .chunks(width)
            .map(|line| format!("{indent}{}{eol}", std::str::from_utf8(line).unwrap()))
            .collect()
    }

    #[test]
    fn wrapped_base64_is_read_as_one_text() {
        let k = live();
        for width in [16, 60, 64, 70, 76] {
            for eol in ["\n", "\r\n"] {
                for indent in ["", "  ", "\t"] {
                    // Leads that put the key's encoding across a line break at every place.
                    for lead in 0..width {
                        let plain = format!("{}{k}\n", "x=".repeat(lead / 2 + 1));
                        let text = format!("data: |\n{}", wrapped(&plain, width, eol, indent));
                        let found = find(text.as_bytes());
                        assert_eq!(found.len(), 1, "{width} {eol:?} {indent:?} {lead}: {text}");
                        let (offset, key, encoding) = &found[0];
                        assert_eq!((key.as_str(), *encoding), (k.as_str(), Encoding::Base64));
                        // Reported at its first encoded character.
                        let chars = (lead / 2 + 1) * 2 * 4 / 3;
                        let line = chars / width;
                        let expect = "data: |\n".len()
                            + line * (indent.len() + width + eol.len())
                            + indent.len()
                            + chars % width;
                        assert_eq!(*offset, expect, "{width} {eol:?} {indent:?} {lead}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_key_cut_short_by_the_end_of_the_text_is_not_a_key() {
        let k = format!("sk_live_{BODY}{BODY}{BODY}");
        let encoded = wrapped(&format!("{k}\n"), 76, "\n", "");
        let lines: Vec<&str> = encoded.lines().collect();
        assert!(lines.len() >= 2);
        // Whole, it is found whole.
        assert_eq!(find(encoded.as_bytes())[0].1, k);
        // The next line cannot be joined (indented unlike the first: not one block), so the
        // first line ends mid-key: the key is not reported cut short.
        let first = format!("{}\n  {}\n", lines[0], lines[1]);
        assert!(find(first.as_bytes()).is_empty(), "{first}");
        // Nor when the next line cannot be joined (wider than the first: not one block).
        let wider = format!("{}\n{}\n", lines[0], "QUFB".repeat(20));
        assert!(find(wider.as_bytes()).is_empty(), "{wider}");
        // A key that ends inside one line is whole, wherever the text stops.
        let short = base64::engine::general_purpose::STANDARD.encode(live());
        assert_eq!(find(short.as_bytes()).len(), 1);
        let short_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(live());
        assert_eq!(
            find(format!("k: {short_nopad}\nnext: 1\n").as_bytes()).len(),
            1
        );
    }

    #[test]
    fn base64_lines_of_one_value_each_are_not_joined_into_one_key() {
        // Two padded values one a line: the first is whole and the second is no continuation.
        let a = base64::engine::general_purpose::STANDARD.encode(live());
        let b = base64::engine::general_purpose::STANDARD.encode(format!("sk_test_{BODY}"));
        let found = find(format!("{a}\n{b}\n").as_bytes());
        let keys: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(keys, vec![live(), format!("sk_test_{BODY}")]);
    }

    #[test]
    fn percent_encoded_prefixes_are_found() {
        for text in [
            format!("https://x.test/?k=sk%5Flive%5F{BODY}&x=1"),
            format!("https://x.test/?k=sk%5flive%5f{BODY}"),
        ] {
            let found = find(text.as_bytes());
            assert_eq!(found, vec![(18, live(), Encoding::Percent)], "{text}");
        }
        assert!(find(format!("xsk%5Flive%5F{BODY}").as_bytes()).is_empty());
        assert_eq!(find(format!("%22sk%5Flive%5F{BODY}").as_bytes()).len(), 1);
    }

    #[test]
    fn placeholders_by_what_they_are() {
        for body in [
            "notarealkey",
            "thisisaboguskey",
            "provisioned",
            "envvar1234567890",
            "abc123456789qwerty",
            "12345678abcd",
            "yourkeyhere",
            "test1234567890",
            "Zt7Kq2Wm9Rb4EXAMPLE",
            "Zt7sampleKq2Wm9Rb4",
            "PlaceholderZt7Kq2Wm9",
            "FAKEZt7Kq2Wm9Rb4",
            "Zt7Kq2Wm9Rb4Fake",
        ] {
            let text = format!("sk_live_{body}");
            assert!(find(text.as_bytes()).is_empty(), "{body}");
        }
        for body in [
            "Zt7KeyWm9Rb4Xv8Lp3Nc6Hd1",
            "Zt7Kq2FAKEWm9Rb4",
            "Zt7Kq2Wm9Rb4ExAmPlE",
            BODY,
        ] {
            let text = format!("sk_live_{body}");
            assert_eq!(find(text.as_bytes()).len(), 1, "{body}");
        }
    }

    #[test]
    fn basic_auth_transcripts_masks_and_the_documentation_example() {
        // A key as the user name of Basic auth: base64 of `key:`.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", live()));
        let found = find(format!("Authorization: Basic {basic}\r\n").as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, live());
        for text in [
            "sk_live_XXXXXXXXXXXXXXXX",
            "sk_live_xxxxxxxxxxxx1234",
            "sk_live_7777777777777",
            "sk_live_abc123xyz789",
        ] {
            assert!(find(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn utf16_keys_in_both_byte_orders() {
        let k = live();
        let line = format!("key = {k}\r\n");
        let le: Vec<u8> = line.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = line.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(find(&le), vec![(12, k.clone(), Encoding::Utf16)]);
        assert_eq!(find(&be), vec![(12, k.clone(), Encoding::Utf16)]);
        let word: Vec<u8> = format!("x{k}")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(find(&word).is_empty());
    }

    #[test]
    fn placeholders_and_the_documentation_example_are_not_keys() {
        for text in [
            "sk_live_abc123xyz789",
            "sk_live_xxxxxxxxxxxxxxxx",
            "sk_test_0000000000000",
        ] {
            assert!(find(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn keep_range_assigns_each_candidate_to_one_chunk() {
        let m = Matcher::new(RuleSet::builtin());
        let k = live();
        let buf = format!("{k} {k}");
        let mut out = Vec::new();
        m.find(buf.as_bytes(), 0, 0..5, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        m.find(buf.as_bytes(), 0, 5..buf.len(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].offset, k.len() + 1);
    }

    /// Every rule finds each of its examples and none of its negative examples.
    #[test]
    fn every_rule_against_its_own_examples() {
        let rules = RuleSet::builtin();
        let m = Matcher::new(rules.clone());
        for (index, rule) in rules.rules().iter().enumerate() {
            assert!(
                !rule.spec.examples.is_empty(),
                "{} has no examples",
                rule.id()
            );
            assert!(
                !rule.spec.negative_examples.is_empty(),
                "{} has no negative examples",
                rule.id()
            );
            for example in &rule.spec.examples {
                let mut out = Vec::new();
                m.find(example.as_bytes(), 0, 0..example.len(), &mut out);
                assert!(
                    out.iter().any(|c| c.rule == index),
                    "{}: example not found: {example}",
                    rule.id()
                );
            }
            for example in &rule.spec.negative_examples {
                let mut out = Vec::new();
                m.find(example.as_bytes(), 0, 0..example.len(), &mut out);
                assert!(
                    out.iter().all(|c| c.rule != index),
                    "{}: negative example found: {example}",
                    rule.id()
                );
            }
        }
    }

    /// Text where hits are dense (so that `find` leaves the prefilter for the DFA and the base64
    /// runs), mixed with keys in every form, line breaks and separators: `find` gives exactly what
    /// the prefiltered automaton alone gives, hit after hit.
    mod dense {
        use base64::Engine;
        use proptest::prelude::*;

        use super::super::*;

        fn matcher() -> &'static Matcher {
            static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
            M.get_or_init(|| Matcher::new(RuleSet::builtin()))
        }

        type View = Vec<(usize, usize, String, Encoding)>;

        fn view(c: &[Candidate]) -> View {
            c.iter()
                .map(|c| (c.rule, c.offset, c.secret.expose().to_string(), c.encoding))
                .collect()
        }

        /// What `find` and `find_reference` find in `buf[keep]`.
        fn both(m: &Matcher, buf: &[u8], keep: Range<usize>) -> (View, View) {
            let (mut fast, mut reference) = (Vec::new(), Vec::new());
            m.find(buf, 0, keep.clone(), &mut fast);
            m.find_reference(buf, 0, keep, &mut reference);
            (view(&fast), view(&reference))
        }

        fn b64(bytes: &[u8], url: bool) -> String {
            if url {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            } else {
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }
        }

        fn prefix(live: bool) -> &'static str {
            if live {
                "sk_live_"
            } else {
                "sk_test_"
            }
        }

        /// One piece of text.
        fn piece() -> impl Strategy<Value = String> {
            let body = "[A-Za-z0-9]{10,40}";
            prop_oneof![
                // Base64 of a prefix and punctuation, repeated: a hit every 12 characters.
                (any::<bool>(), 1..40usize, "[!-/:-@]", any::<bool>()).prop_map(
                    |(live, n, p, url)| b64(
                        format!("{}{p}", prefix(live)).repeat(n).as_bytes(),
                        url
                    )
                ),
                // Base64 of a key, at any alignment, in either alphabet, with or without padding.
                (any::<bool>(), body, 0..3usize, "[ -~]{0,2}", any::<bool>()).prop_map(
                    |(live, body, lead, end, url)| {
                        let text = format!("{}{}{body}{end}", &"xy="[..lead], prefix(live));
                        b64(text.as_bytes(), url)
                    }
                ),
                // Base64 text of keys and prefixes, wrapped, maybe indented, LF or CRLF.
                (
                    any::<bool>(),
                    body,
                    1..20usize,
                    16..90usize,
                    "[ ]{0,4}",
                    any::<bool>()
                )
                    .prop_map(|(live, body, n, width, indent, crlf)| {
                        let text = format!("{}!{}{body}.", prefix(live).repeat(n), prefix(live));
                        let encoded = b64(text.as_bytes(), false);
                        let eol = if crlf { "\r\n" } else { "\n" };
                        let lines: Vec<String> = encoded
                            .as_bytes()
                            .chunks(width)
                            .map(|l| format!("{indent}{}", String::from_utf8_lossy(l)))
                            .collect();
                        format!("{eol}{}{eol}", lines.join(eol))
                    }),
                // Raw keys and prefixes, percent-encoded prefixes, UTF-16.
                (any::<bool>(), body).prop_map(|(live, body)| format!("{}{body}", prefix(live))),
                (any::<bool>(), 1..10usize)
                    .prop_map(|(live, n)| format!("{}!", prefix(live)).repeat(n)),
                (any::<bool>(), body)
                    .prop_map(|(live, body)| format!("{}{body}", prefix(live).replace('_', "%5F"))),
                (any::<bool>(), body).prop_map(|(live, body)| {
                    format!("{}{body}", prefix(live))
                        .chars()
                        .flat_map(|c| [c, '\0'])
                        .collect()
                }),
                // Plain base64 characters, text without hits (back to the prefilter), separators.
                "[A-Za-z0-9+/_-]{0,40}",
                "[a-j ]{200,700}",
                "[\n =:\"%\\\r\t]{1,3}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn dense_paths_find_what_the_prefiltered_automaton_finds(
                pieces in proptest::collection::vec(piece(), 1..40),
                keep_from in 0..64usize,
            ) {
                let text = pieces.concat();
                let buf = text.as_bytes();
                let keep = keep_from.min(buf.len())..buf.len();
                let (fast, reference) = both(matcher(), buf, keep);
                prop_assert_eq!(fast, reference);
            }
        }

        /// Every hit at every distance from the end of a base64 run, after dense hits: where the run
        /// scanner hands over to the DFA, nothing is lost or found twice.
        #[test]
        fn hits_at_every_distance_from_the_end_of_a_run() {
            let key = format!("sk_live_{}", "Qw7Er6Ty5Ui4Op3As2Df1Gh");
            let dense = b64("sk_test_!".repeat(40).as_bytes(), false);
            let mut endings = vec![
                "c2tfbG".to_string(),
                "sk_live_".to_string(),
                key.clone(),
                format!("{}Ab3De6Gh9Jk", "sk%5Flive%5F"),
            ];
            for lead in ["", ":", "::"] {
                endings.push(b64(format!("{lead}{key}").as_bytes(), false));
                endings.push(b64(format!("{lead}{key}").as_bytes(), true));
                endings.push(b64(format!("{lead}sk_live_!").as_bytes(), false));
            }
            let m = matcher();
            let mut checked = 0;
            for filler in 0..16 {
                for ending in &endings {
                    for cut in 0..=ending.len() {
                        for sep in ["\n", "=", "%5F"] {
                            let text = format!(
                                "{dense}{}{}{sep}{}{dense}",
                                &"Ab9".repeat(8)[..filler],
                                &ending[..cut],
                                &ending[cut..],
                            );
                            let (fast, reference) = both(m, text.as_bytes(), 0..text.len());
                            assert_eq!(fast, reference, "{text:?}");
                            checked += reference.len();
                        }
                    }
                }
            }
            // Keys were there to be found, not only prefixes followed by punctuation.
            assert!(checked > 1000, "{checked}");

            // Wrapped blocks: a key at every distance from a line's end, after dense hits in the
            // same block.
            let mut found = 0;
            for width in [16, 17, 19, 24, 31, 64, 76] {
                for shift in 0..width {
                    for (eol, indent) in [("\n", ""), ("\r\n", "  ")] {
                        let text = format!(
                            "{}{}:{key}.",
                            "sk_test_!".repeat(40),
                            &"Ab9".repeat(width)[..shift]
                        );
                        let encoded = b64(text.as_bytes(), false);
                        let block: Vec<String> = encoded
                            .as_bytes()
                            .chunks(width)
                            .map(|l| format!("{indent}{}", String::from_utf8_lossy(l)))
                            .collect();
                        let text = format!("{}{eol}", block.join(eol));
                        let (fast, reference) = both(m, text.as_bytes(), 0..text.len());
                        assert_eq!(fast, reference, "{text:?}");
                        found += fast.len();
                    }
                }
            }
            assert_eq!(
                found,
                2 * [16, 17, 19, 24, 31, 64, 76].iter().sum::<usize>()
            );
        }

        /// The run scanner and the DFA are really used on such text, and keep finding keys there.
        #[test]
        fn a_key_after_megabytes_of_dense_hits_is_found() {
            let key = format!("sk_live_{}", "Qw7Er6Ty5Ui4Op3As2Df1Gh");
            let dense = b64("sk_live_!".repeat(200_000).as_bytes(), false);
            for text in [
                format!("{dense}{}", b64(format!(":{key}").as_bytes(), false)),
                format!("{dense}\n{key}\n"),
                dense
                    .as_bytes()
                    .chunks(76)
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .chain([b64(format!("{key}.").as_bytes(), false)])
                    .collect::<Vec<_>>()
                    .join("\n"),
            ] {
                let (fast, reference) = both(matcher(), text.as_bytes(), 0..text.len());
                let found: Vec<&str> = fast.iter().map(|c| c.2.as_str()).collect();
                assert_eq!(found, [key.as_str()]);
                assert_eq!(fast, reference);
            }
        }

        /// A rule set of the built-in rules and `prefixes` as one user rule each (a body of 2 to 30
        /// letters and digits).
        fn with_rules(prefixes: &[String]) -> Matcher {
            let mut rules = RuleSet::builtin();
            let specs = prefixes
                .iter()
                .enumerate()
                .map(|(i, p)| crate::rules::RuleSpec {
                    id: format!("user{i}"),
                    kind: None,
                    name: "user".into(),
                    description: "user".into(),
                    provider: None,
                    severity: crate::rules::Severity::High,
                    prefixes: vec![p.clone()],
                    pattern: format!("{}[A-Za-z0-9]{{2,30}}", regex::escape(p)),
                    remediation: "r".into(),
                    placeholders: Vec::new(),
                    placeholder_words: None,
                    examples: Vec::new(),
                    negative_examples: Vec::new(),
                })
                .collect();
            rules.extend(specs, "test").expect("the rules compile");
            Matcher::new(rules)
        }

        fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
            items[rng.usize(..items.len())]
        }

        /// Random text around `prefixes`: raw, dense, in base64 at every alignment (wrapped or
        /// not), UTF-16, percent-encoded, base64 characters and separators.
        fn random_text(rng: &mut fastrand::Rng, prefixes: &[String]) -> Vec<u8> {
            let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            let mut out = Vec::new();
            for _ in 0..rng.usize(1..30) {
                let p = prefixes[rng.usize(..prefixes.len())].as_bytes();
                let body: Vec<u8> = (0..rng.usize(0..34))
                    .map(|_| alnum[rng.usize(..alnum.len())])
                    .collect();
                let end = pick(rng, &["", "!", ".", "_", "-", "=", "\n", " "]).as_bytes();
                let mut key = p.to_vec();
                key.extend_from_slice(&body);
                key.extend_from_slice(end);
                match rng.usize(..10) {
                    0 => out.extend_from_slice(&key),
                    1 => {
                        let unit =
                            [p, pick(rng, &["!", ".", "-", "_", "A", ""]).as_bytes()].concat();
                        out.extend_from_slice(&unit.repeat(rng.usize(1..40)));
                    }
                    2 | 3 => {
                        let lead = &b"xy:"[..rng.usize(0..3)];
                        let unit = [lead, &key].concat();
                        let text = unit.repeat(rng.usize(1..30));
                        let encoded = b64(&text, rng.bool()).into_bytes();
                        if rng.bool() {
                            out.extend_from_slice(&encoded);
                        } else {
                            let width = rng.usize(12..90);
                            let eol = pick(rng, &["\n", "\r\n", "\r\r\n", "\n\n"]);
                            let indent = pick(rng, &["", " ", "  ", "\t"]);
                            for line in encoded.chunks(width) {
                                out.extend_from_slice(indent.as_bytes());
                                out.extend_from_slice(line);
                                out.extend_from_slice(eol.as_bytes());
                            }
                        }
                    }
                    4 => out.extend(key.iter().flat_map(|&b| [b, 0])),
                    5 => {
                        for &b in p {
                            if b.is_ascii_alphanumeric() {
                                out.push(b);
                            } else {
                                out.extend_from_slice(format!("%{b:02X}").as_bytes());
                            }
                        }
                        out.extend_from_slice(&body);
                    }
                    6 => {
                        let chars = b"ab_-+/=%AQ09kKsS";
                        out.extend((0..rng.usize(0..40)).map(|_| chars[rng.usize(..chars.len())]));
                    }
                    7 => out.extend((0..rng.usize(200..700)).map(|_| b'a' + rng.u8(..10))),
                    8 => out.extend_from_slice(
                        pick(rng, &["\n", "=", "\r\n", "  ", ":", "%5F"]).as_bytes(),
                    ),
                    _ => {
                        // Dense built-in hits in base64, to switch to the dense paths.
                        let unit = pick(rng, &["sk_live_!", "sk_test_.", "sk_live_"]);
                        out.extend_from_slice(
                            b64(unit.repeat(rng.usize(1..40)).as_bytes(), rng.bool()).as_bytes(),
                        );
                    }
                }
            }
            out
        }

        /// User rules with short, odd prefixes (3 bytes, base64 characters only, `_` and `-`, `%`,
        /// `=`, prefixes of each other): every path still finds what the prefiltered automaton finds.
        #[test]
        fn user_rules_dense_paths_agree_with_the_prefiltered_automaton() {
            let mut rng = fastrand::Rng::with_seed(0x5eed);
            let chars = ["a", "b", "_", "-", "+", "/", "=", "%", "Q", "k", "s", "A"];
            let mut found = 0;
            for round in 0..300 {
                let prefixes: Vec<String> = (0..rng.usize(1..4))
                    .map(|_| {
                        (0..rng.usize(3..10))
                            .map(|_| pick(&mut rng, &chars))
                            .collect()
                    })
                    .collect();
                let m = with_rules(&prefixes);
                for _ in 0..20 {
                    let buf = random_text(&mut rng, &prefixes);
                    let keep = rng.usize(..=buf.len().min(64))..buf.len();
                    let (fast, reference) = both(&m, &buf, keep);
                    assert_eq!(
                        fast,
                        reference,
                        "round {round} {prefixes:?} {:?}",
                        String::from_utf8_lossy(&buf)
                    );
                    found += reference.len();
                }
            }
            assert!(found > 1000, "{found}");
        }

        /// Where the fast rejection says no, decoding finds nothing either: at every position of
        /// random wrapped and unwrapped base64 text, for every base64 literal of the matcher.
        #[test]
        fn base64_rejection_never_drops_what_decoding_finds() {
            let mut rng = fastrand::Rng::with_seed(0xb64);
            let prefixes = [
                "sk_live_".to_string(),
                "ab_-+/=%Q".to_string(),
                "kQ/k".to_string(),
            ];
            let m = with_rules(&prefixes);
            let hints: Vec<decode::Base64Hint> = m
                .literals
                .iter()
                .flatten()
                .filter_map(|l| match l {
                    Literal::Base64(h) => Some(*h),
                    _ => None,
                })
                .collect();
            let (mut checked, mut decoded) = (0, 0);
            for _ in 0..200 {
                let buf = random_text(&mut rng, &prefixes);
                for at in 0..buf.len() {
                    for hint in &hints {
                        let r = m.rules.get(hint.rule);
                        let prefix = &r.spec.prefixes[hint.prefix];
                        let d = hint.decode(&buf, at, prefix.as_bytes(), r.max_len + 1);
                        decoded += usize::from(d.is_some());
                        if hint.rejects(&buf, at) {
                            checked += 1;
                            assert!(
                                d.is_none(),
                                "rejected at {at} but decodes to {:?}: {:?}",
                                String::from_utf8_lossy(&d.unwrap().bytes),
                                String::from_utf8_lossy(&buf)
                            );
                        }
                    }
                }
            }
            assert!(checked > 10_000 && decoded > 1000, "{checked} {decoded}");
        }

        /// A `.skguard.toml` in a scanned tree is hostile: user rules with many long prefixes give
        /// the automaton many states. The automaton for dense text must cost no more than the
        /// prefiltered one already does (a DFA of every state times every byte class took 680 MB
        /// for a 100 KB configuration, and panicked for a 1.4 MB one), and still find the keys.
        #[test]
        fn long_user_prefixes_do_not_blow_up_the_dense_automaton() {
            let mut rng = fastrand::Rng::with_seed(7);
            let chars: Vec<char> = ('!'..='~').collect();
            let prefixes: Vec<String> = (0..40)
                .map(|_| (0..64).map(|_| chars[rng.usize(..chars.len())]).collect())
                .collect();
            // The built-in rules' few patterns still get a DFA.
            assert!(matcher().dense.is_some());
            let m = with_rules(&prefixes);
            assert!(m.dense.is_none());
            assert_eq!(
                m.automaton.kind(),
                aho_corasick::AhoCorasickKind::ContiguousNFA
            );
            assert!(
                m.automaton.memory_usage() < 4 << 20,
                "{} bytes",
                m.automaton.memory_usage()
            );
            let text = format!(
                "{}\n{}Ab3De6Gh9Jk\n",
                b64("sk_live_!".repeat(100).as_bytes(), false),
                prefixes[3]
            );
            let mut out = Vec::new();
            m.find(text.as_bytes(), 0, 0..text.len(), &mut out);
            let found: Vec<&str> = out.iter().map(|c| c.secret.expose()).collect();
            assert_eq!(found, [format!("{}Ab3De6Gh9Jk", prefixes[3])]);
        }

        /// Many user prefixes that start with the same 4 bytes land in one bucket of the run
        /// scanner, which compares every one of them at every position of a base64 run (2,000 such
        /// prefixes made 1 MB of 'A's with a hit every 244 bytes take 2.6 s instead of 0.1 s).
        /// There the scanner is not used; the built-in rules keep it; both find the same.
        #[test]
        fn prefixes_sharing_their_first_bytes_do_not_slow_the_run_scanner() {
            assert!(matcher().runs.is_some());
            let tails = ["b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
            let prefixes: Vec<String> = (0..40)
                .map(|i| format!("AAAA{}{}Q", tails[i / 10], tails[i % 10]))
                .collect();
            let m = with_rules(&prefixes);
            assert!(m.runs.is_none());
            let key = format!("{}Ab3De6Gh9Jk", prefixes[17]);
            let text = format!(
                "{}{}.{}\n{key}\n",
                prefixes[5].repeat(20),
                format!("{}{}", "A".repeat(240), prefixes[9]).repeat(20),
                prefixes[1]
            );
            let (fast, reference) = both(&m, text.as_bytes(), 0..text.len());
            assert_eq!(fast, reference);
            let found: Vec<&str> = fast.iter().map(|c| c.2.as_str()).collect();
            assert_eq!(found, [key.as_str()]);
        }
    }
}
