//! The encodings a key is found through. Each one is driven by a prefilter hit: nothing is decoded
//! unless a literal says a key may be there.
//!
//! - escape, percent: the prefix itself is plain text, but the byte before it is a JSON/JS escape
//!   (`\n`, `\x22`, `\u0022`) or a percent-encoded byte (`%22`): the boundary rule applies to the
//!   decoded character ([`char_before`]).
//! - utf16: the prefix as UTF-16 code units, either byte order ([`utf16`], [`from_utf16`]).
//! - base64: a prefix's base64 encoding depends on the bytes around it only at its edges; the middle
//!   is fixed for each of the three positions the prefix can take in a 3-byte quantum. Those middles
//!   are the literals ([`base64_hints`]); a hit tells where the quantum starts, and only that window is
//!   decoded ([`Base64Hint::decode`]). Both alphabets (standard and URL-safe) are handled.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::findings::Encoding;

/// The decoded character just before `at` when the bytes before it are an escape sequence or a
/// percent-encoded byte. Non-ASCII characters are given as `0x80` (never a word character).
pub(super) fn char_before(buf: &[u8], at: usize) -> Option<(u8, Encoding)> {
    let escape = |start: usize| buf[start] == b'\\' && starts_escape(buf, start);
    if at >= 2 && escape(at - 2) {
        let decoded = match buf[at - 1] {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'v' => 0x0b,
            b'0' => 0,
            // In JavaScript an unknown escape is the character itself (`\a` is `a`).
            other => other,
        };
        return Some((decoded, Encoding::Escape));
    }
    if at >= 4 && buf[at - 3] == b'x' && escape(at - 4) {
        return hex(&buf[at - 2..at]).map(|v| (ascii_or_other(v), Encoding::Escape));
    }
    if at >= 6 && buf[at - 5] == b'u' && escape(at - 6) {
        return hex(&buf[at - 4..at]).map(|v| (ascii_or_other(v), Encoding::Escape));
    }
    if at >= 3 && buf[at - 3] == b'%' {
        let mut decoded = percent_encoding::percent_decode(&buf[at - 3..at]);
        let first = decoded.next()?;
        // A `%` not followed by two hex digits decodes to itself: no percent-encoding there.
        return (first != b'%').then_some((first, Encoding::Percent));
    }
    None
}

/// Whether the backslash at `i` starts an escape: it is not itself escaped by an odd number of
/// backslashes before it.
fn starts_escape(buf: &[u8], i: usize) -> bool {
    buf[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

fn hex(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
}

fn ascii_or_other(v: u32) -> u8 {
    if v < 0x80 {
        v as u8
    } else {
        0x80
    }
}

/// The literal that finds `text` in UTF-16 of either byte order: its little-endian code units
/// without the last zero byte (`s\0k\0…_`). That is also the big-endian form (`\0s\0k…\0_`) one
/// byte in, and it starts with no zero byte, so zero-filled data does not wake the prefilter.
pub(super) fn utf16_literal(text: &[u8]) -> Vec<u8> {
    let mut units: Vec<u8> = text.iter().flat_map(|&b| [b, 0]).collect();
    units.pop();
    units
}

/// The ASCII text of the UTF-16 code units from `at` (at most `max` of them, stopping at the first
/// non-ASCII unit), and the character before `at` (`0x80` for a non-ASCII one).
pub(super) fn from_utf16(
    buf: &[u8],
    at: usize,
    big_endian: bool,
    max: usize,
) -> (Vec<u8>, Option<u8>) {
    let unit = |i: usize| {
        buf.get(i..i + 2).map(|p| {
            if big_endian {
                (p[1], p[0])
            } else {
                (p[0], p[1])
            }
        })
    };
    let mut text = Vec::with_capacity(max.min(512));
    let mut i = at;
    while text.len() < max {
        match unit(i) {
            Some((lo, 0)) if lo.is_ascii() => text.push(lo),
            _ => break,
        }
        i += 2;
    }
    let before =
        at.checked_sub(2)
            .and_then(unit)
            .map(|(lo, hi)| if hi == 0 && lo.is_ascii() { lo } else { 0x80 });
    (text, before)
}

/// The stable middle of a prefix's base64 encoding at one alignment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Base64Hint {
    pub rule: usize,
    pub prefix_len: usize,
    /// How many bytes of the quantum come before the prefix (0, 1 or 2).
    align: usize,
    /// How many base64 characters of the quantum come before the hint's text.
    lead: usize,
}

/// A window of decoded base64 around a hint.
pub(super) struct Decoded {
    pub bytes: Vec<u8>,
    /// Where the prefix starts in `bytes`.
    pub key_start: usize,
    /// The decoded byte before the prefix, if the base64 text goes on before it.
    pub before: Option<u8>,
    /// Offset in the buffer of the character that encodes the key's first byte.
    pub offset: usize,
}

/// The hint literals of a prefix, each with what it means. Hints shorter than 6 characters would
/// fire on ordinary text too often, so short prefixes get none.
pub(super) fn base64_hints(rule: usize, prefix: &[u8]) -> Vec<(Vec<u8>, Base64Hint)> {
    let mut hints = Vec::new();
    for align in 0..3 {
        let mut bytes = vec![0u8; align];
        bytes.extend_from_slice(prefix);
        let encoded = STANDARD_NO_PAD.encode(&bytes).into_bytes();
        // Character i holds bits 6i..6i+6: only those wholly inside the prefix's bits are fixed.
        let first = (8 * align).div_ceil(6);
        let end = 8 * (align + prefix.len()) / 6;
        if end < first + 6 {
            continue;
        }
        let text = encoded[first..end].to_vec();
        let hint = Base64Hint {
            rule,
            prefix_len: prefix.len(),
            align,
            lead: first,
        };
        let url_safe: Vec<u8> = text.iter().map(|&b| to_url_safe(b)).collect();
        if url_safe != text {
            hints.push((url_safe, hint));
        }
        hints.push((text, hint));
    }
    hints
}

fn to_url_safe(b: u8) -> u8 {
    match b {
        b'+' => b'-',
        b'/' => b'_',
        b => b,
    }
}

/// A base64 character of either alphabet, mapped to the standard one.
fn standard_b64(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => Some(b),
        b'-' => Some(b'+'),
        b'_' => Some(b'/'),
        _ => None,
    }
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

impl Base64Hint {
    /// Decodes the base64 text around a hint found at `at`: from the start of the prefix's quantum
    /// for as many characters as a key of `max` bytes needs.
    pub fn decode(&self, buf: &[u8], at: usize, max: usize) -> Option<Decoded> {
        let group = at.checked_sub(self.lead)?;
        let limit = buf
            .len()
            .min(group + (self.align + max).div_ceil(3) * 4 + 4);
        let mut text: Vec<u8> = buf[group..limit]
            .iter()
            .map_while(|&b| standard_b64(b))
            .collect();
        if text.len() % 4 == 1 {
            text.pop();
        }
        let bytes = LENIENT.decode(&text).ok()?;
        if bytes.len() < self.align + self.prefix_len {
            return None;
        }
        let before = if self.align > 0 {
            Some(bytes[self.align - 1])
        } else {
            group
                .checked_sub(4)
                .and_then(|start| {
                    buf[start..group]
                        .iter()
                        .map(|&b| standard_b64(b))
                        .collect::<Option<Vec<u8>>>()
                })
                .and_then(|quantum| LENIENT.decode(quantum).ok())
                .and_then(|decoded| decoded.last().copied())
        };
        Some(Decoded {
            bytes,
            key_start: self.align,
            before,
            offset: group + self.align * 4 / 3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_the_fixed_middle_of_the_encoding() {
        let hints = base64_hints(0, b"sk_live_");
        let texts: Vec<String> = hints
            .iter()
            .map(|(t, _)| String::from_utf8(t.clone()).unwrap())
            .collect();
        // Every hint must occur in the encoding of the prefix after any 0..3 bytes.
        for lead in [&b""[..], b"\x00", b"\xff\xfe", b"ab", b"abc"] {
            let mut bytes = lead.to_vec();
            bytes.extend_from_slice(b"sk_live_");
            bytes.extend_from_slice(b"Ab3De6Gh9Jk2");
            let encoded = STANDARD_NO_PAD.encode(&bytes);
            assert!(
                texts.iter().any(|t| encoded.contains(t.as_str())),
                "{lead:?}: {encoded} vs {texts:?}"
            );
        }
        assert!(hints.iter().all(|(t, _)| t.len() >= 6));
    }

    #[test]
    fn char_before_decodes_escapes_and_percent_bytes() {
        assert_eq!(char_before(br"a\nX", 3), Some((b'\n', Encoding::Escape)));
        assert_eq!(char_before(br"a\\nX", 4), None);
        assert_eq!(char_before(br"\x41X", 4), Some((b'A', Encoding::Escape)));
        assert_eq!(char_before(br"\u00e9X", 6), Some((0x80, Encoding::Escape)));
        assert_eq!(char_before(b"%2fX", 3), Some((b'/', Encoding::Percent)));
        assert_eq!(char_before(b"%zzX", 3), None);
        assert_eq!(char_before(b"abcX", 3), None);
    }
}
