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

use base64::engine::general_purpose::STANDARD_NO_PAD;
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
/// The UTF-16 code unit at `buf[i..i + 2]` as (low byte, high byte).
pub(super) fn utf16_unit(buf: &[u8], i: usize, big_endian: bool) -> Option<(u8, u8)> {
    buf.get(i..i + 2).map(|p| {
        if big_endian {
            (p[1], p[0])
        } else {
            (p[0], p[1])
        }
    })
}

pub(super) fn from_utf16(
    buf: &[u8],
    at: usize,
    big_endian: bool,
    max: usize,
) -> (Vec<u8>, Option<u8>) {
    let unit = |i: usize| utf16_unit(buf, i, big_endian);
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

/// The prefix with every byte that is not a letter or digit percent-encoded, in upper- and
/// lower-case hex (`sk%5Flive%5F`, `sk%5flive%5f`); none for a prefix of letters and digits only.
pub(super) fn percent_literals(prefix: &[u8]) -> Vec<Vec<u8>> {
    if prefix.iter().all(u8::is_ascii_alphanumeric) {
        return Vec::new();
    }
    [true, false]
        .iter()
        .map(|&upper| {
            let mut text = Vec::new();
            for &b in prefix {
                if b.is_ascii_alphanumeric() {
                    text.push(b);
                } else if upper {
                    text.extend_from_slice(format!("%{b:02X}").as_bytes());
                } else {
                    text.extend_from_slice(format!("%{b:02x}").as_bytes());
                }
            }
            text
        })
        .collect()
}

/// Wrapped base64: the narrowest line width read as one text, the widest, and the most indentation
/// (spaces or tabs) a wrapped line may have. A line break joins two lines only when the first is a
/// whole line of the block: indentation, then `W` base64 characters (`MIN_WRAP ≤ W ≤ MAX_WRAP`, no
/// padding); and the next has the same indentation and at most `W` base64 characters (the last line
/// may be shorter, and padded). Every line after the first of a block keeps its first line's width.
pub const MIN_WRAP: usize = 16;
pub const MAX_WRAP: usize = 256;
pub const MAX_INDENT: usize = 32;

/// How far before a prefilter hit the base64 decoder may look: back over one line break to the start
/// of the whole line before it.
pub const BASE64_BEFORE: usize = MAX_WRAP + MAX_INDENT + 2 + 16;

/// How far after a hit the base64 decoder may look for a key of `max` bytes: its characters, the
/// line breaks and indentation between them, and the rest of the last line.
pub fn base64_after(max: usize) -> usize {
    let chars = (max + 3).div_ceil(3) * 4 + 8;
    chars + (chars / MIN_WRAP + 2) * (MAX_INDENT + 2) + MAX_WRAP + MAX_INDENT + 2
}

/// A fragment of a prefix's base64 encoding at one alignment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Base64Hint {
    pub rule: usize,
    /// Which of the rule's prefixes.
    pub prefix: usize,
    pub prefix_len: usize,
    /// How many bytes of the quantum come before the prefix (0, 1 or 2).
    align: usize,
    /// How many base64 characters of the quantum come before the fragment's first character.
    lead: usize,
    /// The first of the two characters (counted from the quantum's start) that encode the byte
    /// after the prefix, and the shift that takes that byte out of their 12 bits.
    body_char: usize,
    body_shift: u32,
}

/// A key decoded from base64 around a hint.
pub(super) struct Decoded {
    /// The decoded key: the prefix, then the run of ASCII letters and digits after it (at most
    /// `max` bytes in all, one more when the run goes on).
    pub bytes: Vec<u8>,
    /// The decoded byte before the prefix, if the base64 text goes on before it.
    pub before: Option<u8>,
    /// Offset in the buffer of the character that encodes the key's first byte.
    pub offset: usize,
}

/// Shortest fragment used as a literal: shorter ones would fire on ordinary text too often.
const FRAGMENT: usize = 6;

/// The hint literals of a prefix, each with what it means. The fixed middle of the encoding (`M`,
/// 10 characters for an 8-byte prefix) is looked for as its first 6 and its last 6 characters, so
/// that a line break anywhere in `M` leaves one of them whole; where neither is whole (a break just
/// after the 5th character), as the part before the break with the line break itself. Prefixes
/// whose middle is shorter than 6 characters get no hints.
pub(super) fn base64_hints(
    rule: usize,
    prefix_index: usize,
    prefix: &[u8],
) -> Vec<(Vec<u8>, Base64Hint)> {
    let mut hints = Vec::new();
    for align in 0..3 {
        let mut bytes = vec![0u8; align];
        bytes.extend_from_slice(prefix);
        let encoded = STANDARD_NO_PAD.encode(&bytes).into_bytes();
        // Character i holds bits 6i..6i+6: only those wholly inside the prefix's bits are fixed.
        let first = (8 * align).div_ceil(6);
        let end = 8 * (align + prefix.len()) / 6;
        if end < first + FRAGMENT {
            continue;
        }
        let middle = &encoded[first..end];
        let len = middle.len();
        let hint = |lead| Base64Hint {
            rule,
            prefix: prefix_index,
            prefix_len: prefix.len(),
            align,
            lead,
            body_char: end,
            body_shift: (4 - 8 * (align + prefix.len()) % 6) as u32,
        };
        let mut texts = vec![(middle[..FRAGMENT].to_vec(), hint(first))];
        if len > FRAGMENT {
            texts.push((
                middle[len - FRAGMENT..].to_vec(),
                hint(first + len - FRAGMENT),
            ));
        }
        // Breaks after j characters that leave neither fragment whole.
        for j in (len.saturating_sub(FRAGMENT) + 1)..FRAGMENT.min(len) {
            if j >= 3 && j >= len - j {
                for eol in [&b"\n"[..], b"\r\n"] {
                    let mut text = middle[..j].to_vec();
                    text.extend_from_slice(eol);
                    texts.push((text, hint(first)));
                }
            }
        }
        for (text, hint) in texts {
            let url_safe: Vec<u8> = text.iter().map(|&b| to_url_safe(b)).collect();
            if url_safe != text {
                hints.push((url_safe, hint));
            }
            hints.push((text, hint));
        }
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

/// The 6-bit value of each base64 character of either alphabet; 0xff for any other byte.
static B64: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'-' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'_' as usize] = 63;
    table
};

/// The 6-bit value of a base64 character of either alphabet.
#[inline]
fn b64_value(b: u8) -> Option<u8> {
    let v = B64[b as usize];
    (v != 0xff).then_some(v)
}

#[inline]
pub(super) fn is_b64(b: u8) -> bool {
    B64[b as usize] != 0xff
}

/// Whether every byte of `bytes` is a base64 character, without a branch per byte (0xff, the mark
/// of any other byte, is the only value with its top bit set).
#[inline]
pub(super) fn all_b64(bytes: &[u8]) -> bool {
    bytes.iter().fold(0, |acc, &b| acc | B64[b as usize]) & 0x80 == 0
}

fn is_indent(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Base64 text read across the line breaks of a wrapped block.
struct Wrapped<'a> {
    buf: &'a [u8],
}

/// A line of a wrapped block: where its indentation and its base64 characters start and end.
struct Line {
    start: usize,
    content: usize,
    content_end: usize,
}

impl Wrapped<'_> {
    /// The line holding `pos`, if it is indentation then base64 characters (then optional padding)
    /// then a line end, within the bounds of a wrapped block.
    fn line_at(&self, pos: usize) -> Option<Line> {
        let buf = self.buf;
        let lo = pos.saturating_sub(MAX_WRAP + MAX_INDENT + 1);
        let mut content = pos;
        while content > lo && is_b64(buf[content - 1]) {
            content -= 1;
        }
        let mut start = content;
        while start > lo && is_indent(buf[start - 1]) {
            start -= 1;
        }
        if start > 0 && buf[start - 1] != b'\n' {
            return None;
        }
        if content - start > MAX_INDENT {
            return None;
        }
        let hi = buf.len().min(content + MAX_WRAP + 1);
        let mut content_end = pos;
        while content_end < hi && is_b64(buf[content_end]) {
            content_end += 1;
        }
        if content_end - content > MAX_WRAP {
            return None;
        }
        let mut end = content_end;
        while end < buf.len() && end < content_end + 2 && buf[end] == b'=' {
            end += 1;
        }
        match buf.get(end) {
            None | Some(b'\n') => {}
            Some(b'\r') if buf.get(end + 1) == Some(&b'\n') => {}
            _ => return None,
        }
        Some(Line {
            start,
            content,
            content_end,
        })
    }

    /// Where the line after the one ending (its base64 characters) at `end` starts.
    fn next_line_start(&self, end: usize) -> Option<usize> {
        match self.buf.get(end..)? {
            [b'\n', ..] => Some(end + 1),
            [b'\r', b'\n', ..] => Some(end + 2),
            _ => None,
        }
    }

    /// Whether `a` and `b` (the line after it) are two lines of one wrapped block of width `width`
    /// (`a`'s own width when `None`); returns the width.
    fn joins(&self, a: &Line, b: &Line, width: Option<usize>) -> Option<usize> {
        let w = a.content_end - a.content;
        let padded = self.buf.get(a.content_end) == Some(&b'=');
        let indent = |l: &Line| &self.buf[l.start..l.content];
        (!padded
            && (MIN_WRAP..=MAX_WRAP).contains(&w)
            && width.is_none_or(|width| width == w)
            && indent(a) == indent(b)
            && b.content_end > b.content
            && b.content_end - b.content <= w)
            .then_some(w)
    }

    /// The base64 character before the one at `pos`, across a line break of a wrapped block.
    fn prev(&self, pos: usize) -> Option<usize> {
        if pos > 0 && is_b64(self.buf[pos - 1]) {
            return Some(pos - 1);
        }
        let b = self.line_at(pos)?;
        if b.content != pos || b.start == 0 {
            return None;
        }
        // The previous line's last character: before "\n" or "\r\n".
        let mut end = b.start - 1;
        if end > 0 && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        if end == 0 || !is_b64(self.buf[end - 1]) {
            return None;
        }
        let a = self.line_at(end - 1)?;
        self.joins(&a, &b, None)?;
        Some(end - 1)
    }

    /// The base64 character after the one at `pos`, across a line break of a wrapped block whose
    /// width is `width` (set by the first break crossed).
    fn next(&self, pos: usize, width: &mut Option<usize>) -> Next {
        match self.buf.get(pos + 1) {
            Some(&b) if is_b64(b) => return Next::At(pos + 1),
            Some(b'\n' | b'\r') => {}
            _ => return Next::End,
        }
        let Some(a) = self.line_at(pos) else {
            return self.cut_here(pos);
        };
        let Some(start) = self.next_line_start(a.content_end) else {
            return Next::End;
        };
        let mut content = start;
        while content < self.buf.len() && is_indent(self.buf[content]) {
            content += 1;
        }
        match self.buf.get(content) {
            Some(&c) if is_b64(c) => {}
            _ => return Next::End,
        }
        let Some(b) = self.line_at(content) else {
            return Next::Cut;
        };
        match self.joins(&a, &b, *width) {
            Some(w) => {
                *width = Some(w);
                Next::At(b.content)
            }
            None => Next::Cut,
        }
    }

    /// The text stops at a line end after `pos`: cut short when the next line goes on with base64.
    fn cut_here(&self, pos: usize) -> Next {
        let Some(start) = self.next_line_start(pos + 1) else {
            return Next::End;
        };
        let rest = &self.buf[start..self.buf.len().min(start + MAX_INDENT + MIN_WRAP)];
        let content: Vec<u8> = rest.iter().copied().skip_while(|&b| is_indent(b)).collect();
        if content.len() >= MIN_WRAP && content[..MIN_WRAP].iter().all(|&b| is_b64(b)) {
            Next::Cut
        } else {
            Next::End
        }
    }
}

enum Next {
    At(usize),
    /// The text ends here.
    End,
    /// The text stops here but seems to go on: what was decoded may be cut short.
    Cut,
}

/// Fills `out` with the base64 characters of the text starting `lead` characters before `at`, read
/// across line breaks (LF or CRLF, then indentation) where the characters on both sides are base64.
/// False when there are not that many such characters.
fn characters_around(buf: &[u8], at: usize, lead: usize, out: &mut [u8]) -> bool {
    // Back over `lead` characters, across line breaks.
    let mut pos = at;
    for _ in 0..lead {
        pos = match pos.checked_sub(1) {
            Some(p) if is_b64(buf[p]) => p,
            _ => {
                let mut p = pos;
                while p > 0 && is_indent(buf[p - 1]) {
                    p -= 1;
                }
                if p == 0 || buf[p - 1] != b'\n' {
                    return false;
                }
                p -= 1;
                if p > 0 && buf[p - 1] == b'\r' {
                    p -= 1;
                }
                match p.checked_sub(1) {
                    Some(q) if is_b64(buf[q]) => q,
                    _ => return false,
                }
            }
        };
    }
    // Forward from there.
    for slot in out.iter_mut() {
        let mut p = pos;
        if !buf.get(p).is_some_and(|&b| is_b64(b)) {
            match buf.get(p..) {
                Some([b'\n', ..]) => p += 1,
                Some([b'\r', b'\n', ..]) => p += 2,
                _ => return false,
            }
            while p < buf.len() && is_indent(buf[p]) {
                p += 1;
            }
            if !buf.get(p).is_some_and(|&b| is_b64(b)) {
                return false;
            }
        }
        *slot = buf[p];
        pos = p + 1;
    }
    true
}

impl Base64Hint {
    /// Fast rejection: the byte after the prefix comes from two characters. When it cannot start a
    /// body there is no key, whatever the rest (text full of prefixes followed by punctuation costs
    /// a few lookups a hit, not a decoding). The characters are read across a line break as a
    /// wrapped block would join it: where the block does join there, [`Base64Hint::decode`] reads
    /// these same characters; where it does not, it stops before the body and finds nothing either.
    #[inline]
    pub fn rejects(&self, buf: &[u8], at: usize) -> bool {
        let c0 = self.body_char;
        let first = |a: u8, b: u8| {
            let v = (u32::from(B64[a as usize]) << 6) | u32::from(B64[b as usize]);
            !((v >> self.body_shift) as u8).is_ascii_alphanumeric()
        };
        // One line: the common case, a slice of base64 characters.
        if let Some(w) = at
            .checked_sub(self.lead)
            .and_then(|g| buf.get(g..g + c0 + 2))
        {
            if all_b64(w) {
                return first(w[c0], w[c0 + 1]);
            }
        }
        let mut window = [0u8; 64];
        match window.get_mut(..c0 + 2) {
            Some(w) => characters_around(buf, at, self.lead, w) && first(w[c0], w[c0 + 1]),
            None => false,
        }
    }

    /// Decodes the key around a hint found at `at`: from the start of the prefix's quantum, across
    /// the line breaks of a wrapped block, for as long as the key's body runs (at most `max` bytes
    /// in all, and the byte after). `None` when `prefix` is not there, or when the body runs into
    /// the end of what could be decoded and the text looks cut short there (it goes on with base64
    /// the block's wrapping cannot join, or its last bits are not what an encoder writes): the key
    /// may be longer than what is seen, so it is never taken as whole.
    pub fn decode(&self, buf: &[u8], at: usize, prefix: &[u8], max: usize) -> Option<Decoded> {
        let text = Wrapped { buf };
        let mut group = at;
        for _ in 0..self.lead {
            group = text.prev(group)?;
        }
        let key_start = self.align;
        let prefix_end = key_start + prefix.len();
        let mut decoded = 0usize;
        let mut key: Vec<u8> = Vec::new();
        let mut before = None;
        let mut pos = group;
        let mut width = None;
        let mut offset = None;
        let (mut acc, mut bits, mut chars) = (0u32, 0u32, 0usize);
        let ended = loop {
            let c = b64_value(buf[pos])?;
            if offset.is_none() && 6 * chars + 6 > 8 * key_start {
                offset = Some(pos);
            }
            acc = (acc << 6) | u32::from(c);
            bits += 6;
            chars += 1;
            if bits >= 8 {
                bits -= 8;
                let b = (acc >> bits) as u8;
                acc &= (1 << bits) - 1;
                match decoded {
                    i if i < key_start => before = Some(b),
                    i if i < prefix_end => {
                        if b != prefix[i - key_start] {
                            return None;
                        }
                    }
                    i => {
                        if i == prefix_end {
                            if !b.is_ascii_alphanumeric() {
                                // No body at all: no key.
                                return None;
                            }
                            key.reserve(max + 1);
                            key.extend_from_slice(prefix);
                        }
                        key.push(b);
                        if !b.is_ascii_alphanumeric() || i + 1 >= key_start + max {
                            // The body ended inside the decoded text (or is longer than any key).
                            break Next::At(pos);
                        }
                    }
                }
                decoded += 1;
            }
            match text.next(pos, &mut width) {
                Next::At(p) => pos = p,
                other => break other,
            }
        };
        if key.is_empty() {
            return None;
        }
        match ended {
            Next::At(_) => {}
            // The body runs to the end of the text: whole only where the text really ends.
            Next::Cut => return None,
            Next::End if chars % 4 == 1 || acc != 0 => return None,
            Next::End => {}
        }
        if key_start == 0 {
            before = self.byte_before(&text, group);
        }
        Some(Decoded {
            bytes: key,
            before,
            offset: offset?,
        })
    }

    /// The last byte of the quantum before the one starting at `group`, if the text goes on before it.
    fn byte_before(&self, text: &Wrapped, group: usize) -> Option<u8> {
        // A quantum at the start of a line is also where a new text may start (one value a line):
        // the line before it is not read as its beginning.
        if group > 0 && !is_b64(text.buf[group - 1]) {
            return None;
        }
        let mut pos = group;
        let mut chars = [0u8; 4];
        for slot in chars.iter_mut().rev() {
            pos = text.prev(pos)?;
            *slot = b64_value(text.buf[pos])?;
        }
        let v = chars.iter().fold(0u32, |acc, &c| (acc << 6) | c as u32);
        Some(v as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_the_fixed_middle_of_the_encoding() {
        let hints = base64_hints(0, 0, b"sk_live_");
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
