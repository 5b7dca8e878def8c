//! Scanning one stream of bytes (a file, standard input, a blob) in bounded memory.
//!
//! The stream is read in chunks into one reusable buffer. Consecutive chunks overlap: a chunk keeps
//! [`KEEP_BEFORE`] bytes of the previous one in front and leaves the matcher's context after it
//! for the next one, so no key, and no byte a decoder looks at around a key, is ever cut. Each
//! candidate belongs to the one chunk whose kept range holds its offset. Reads, never memory maps:
//! a file truncated while it is read ends the stream early instead of killing the process.

use std::io::{self, Read};

use memchr::{memchr, memmem, memrchr};

use super::archive;
use crate::findings::Encoding;
use crate::matching::{Candidate, Matcher, CONTEXT_BEFORE};

/// How far from a key (its first or last byte) an inline marker may start and still suppress it.
pub const MARKER_WINDOW: usize = 256;

/// Bytes read at once (the buffer also holds the matcher's context after them).
pub const CHUNK: usize = 256 * 1024;

/// Markers that suppress a finding on their line. `gitleaks:allow` and `pragma: allowlist secret`
/// (detect-secrets) work too, for people who come from those tools.
pub const INLINE_MARKERS: [&str; 3] = [
    "skguard:allow",
    "gitleaks:allow",
    "pragma: allowlist secret",
];

/// A candidate with its place in the stream.
#[derive(Debug, Clone)]
pub struct Located {
    /// 1-based.
    pub line: u64,
    /// 1-based, in Unicode scalar values (UTF-16 code units for UTF-16 text).
    pub column: u64,
    pub candidate: Candidate,
    /// The line carries an inline allow marker.
    pub allowed_inline: bool,
    /// For a key stored as it is (no decoder): the text around it on its line, printable, with
    /// every key redacted (see [`crate::printable::snippet`]).
    pub context: Option<Box<str>>,
}

/// Scans streams with one reusable buffer; one per thread.
pub struct StreamScanner<'m> {
    matcher: &'m Matcher,
    buf: Vec<u8>,
    candidates: Vec<Candidate>,
    markers: Vec<memmem::Finder<'static>>,
    /// What the last stream's first bytes said it is, if an archive.
    archive: Option<archive::Kind>,
}

impl<'m> StreamScanner<'m> {
    pub fn new(matcher: &'m Matcher) -> StreamScanner<'m> {
        StreamScanner {
            matcher,
            buf: vec![0; CHUNK + context_after(matcher)],
            candidates: Vec::new(),
            markers: INLINE_MARKERS
                .iter()
                .map(|m| memmem::Finder::new(m.as_bytes()))
                .collect(),
            archive: None,
        }
    }

    /// The matcher this scanner runs.
    pub fn matcher(&self) -> &'m Matcher {
        self.matcher
    }

    /// The kind of archive the last stream scanned is, by its first bytes.
    pub fn archive(&self) -> Option<archive::Kind> {
        self.archive
    }

    /// Scans `reader` to its end, appending what it finds to `out`; returns the bytes read.
    pub fn scan(&mut self, reader: &mut dyn Read, out: &mut Vec<Located>) -> io::Result<u64> {
        let after = context_after(self.matcher);
        let mut filled = 0;
        let mut base = 0u64;
        let mut keep_from = 0;
        let mut total = 0u64;
        let mut cursor = LineCursor::default();
        let mut utf16_bom = false;
        let mut contexts = 0usize;
        loop {
            let before_fill = filled;
            // A read that fails ends the stream: what was read before it is scanned, then the
            // error is returned (the caller says it; the keys found stay found).
            let (eof, error) = match fill(reader, &mut self.buf, &mut filled) {
                Ok(eof) => (eof, None),
                Err(e) => (true, Some(e)),
            };
            total += (filled - before_fill) as u64;
            if base == 0 {
                utf16_bom = self.buf[..filled].starts_with(&[0xff, 0xfe])
                    || self.buf[..filled].starts_with(&[0xfe, 0xff]);
                self.archive = archive::sniff(&self.buf[..filled]);
            }
            let keep_to = if eof { filled } else { filled - after };
            let buf = &self.buf[..filled];
            self.candidates.clear();
            self.matcher
                .find(buf, base, keep_from..keep_to, &mut self.candidates);
            self.candidates.sort_by_key(|c| c.offset);
            for candidate in self.candidates.drain(..) {
                cursor.advance(buf, base, candidate.offset);
                let column = if candidate.encoding == Encoding::Utf16 {
                    cursor.utf16_column(base + candidate.offset as u64, utf16_bom)
                } else {
                    cursor.column()
                };
                let allowed_inline = allowed_inline(&self.markers, buf, &candidate);
                let context = if contexts < MAX_CONTEXTS {
                    contexts += 1;
                    context(buf, &candidate, base == 0)
                } else {
                    None
                };
                out.push(Located {
                    line: cursor.line,
                    column,
                    candidate,
                    allowed_inline,
                    context,
                });
            }
            if eof {
                return match error {
                    Some(e) => Err(e),
                    None => Ok(total),
                };
            }
            let next = keep_to - KEEP_BEFORE;
            cursor.advance(buf, base, next);
            self.buf.copy_within(next..filled, 0);
            filled -= next;
            base += next as u64;
            keep_from = KEEP_BEFORE;
        }
    }
}

/// Whether an inline marker suppresses `candidate`: no newline between marker and key, and the
/// marker starts within [`MARKER_WINDOW`] bytes of the key's first or last stored byte (the
/// chunks keep that much around every key, see `scan`).
fn allowed_inline(markers: &[memmem::Finder<'_>], buf: &[u8], candidate: &Candidate) -> bool {
    let first = candidate.offset;
    let last = (first + stored_len(candidate)).min(buf.len()) - 1;
    let lo = first.saturating_sub(MARKER_WINDOW);
    let lo = memrchr(b'\n', &buf[lo..first]).map_or(lo, |i| lo + i + 1);
    markers.iter().any(|m| {
        let hi = (last + MARKER_WINDOW + m.needle().len()).min(buf.len());
        // Same line as the key's first encoded character (where it is reported).
        let hi = memchr(b'\n', &buf[first..hi]).map_or(hi, |i| first + i);
        m.find(&buf[lo..hi]).is_some()
    })
}

/// At most this many characters of source text around a key in the human report.
pub const CONTEXT_CHARS: usize = 80;

/// Source text is kept for this many keys of a stream at most (the human report lists 100 a
/// file): a file of a million keys costs no more memory for it than a file of a hundred.
pub const MAX_CONTEXTS: usize = 128;

/// The text around a raw key on its line (the chunk keeps [`MARKER_WINDOW`] bytes on each side);
/// none for a key found through a decoder, whose stored form is not the key.
fn context(buf: &[u8], candidate: &Candidate, stream_start: bool) -> Option<Box<str>> {
    if candidate.encoding != Encoding::Raw {
        return None;
    }
    let first = candidate.offset;
    let end = (first + candidate.secret.expose().len()).min(buf.len());
    let lo = first.saturating_sub(MARKER_WINDOW);
    let (lo, cut_before) = match memrchr(b'\n', &buf[lo..first]) {
        Some(i) => (lo + i + 1, false),
        None => (lo, lo > 0 || !stream_start),
    };
    let hi = (end + MARKER_WINDOW).min(buf.len());
    let (hi, cut_after) = match memchr(b'\n', &buf[end..hi]) {
        Some(i) => (end + i, false),
        None => (hi, true),
    };
    let before = &buf[lo..first];
    let after = buf[end..hi].strip_suffix(b"\r").unwrap_or(&buf[end..hi]);
    if memchr(0, before).is_some() || memchr(0, after).is_some() {
        // Binary data around the key: nothing a person could read.
        return None;
    }
    let shown = crate::printable::snippet(
        before,
        &candidate.secret.redacted(),
        after,
        cut_before,
        cut_after,
        CONTEXT_CHARS,
    );
    Some(shown.into_boxed_str())
}

/// The bytes a key's stored form takes, at least: a raw or escaped key is as long as the key;
/// UTF-16 twice that; base64 four characters for three bytes. (An estimate that never exceeds
/// the stored form, so a marker is never taken from farther away than the rule allows.)
fn stored_len(candidate: &Candidate) -> usize {
    let len = candidate.secret.expose().len();
    match candidate.encoding {
        Encoding::Utf16 => 2 * len,
        Encoding::Base64 => len * 4 / 3,
        _ => len,
    }
    .max(1)
}

/// Bytes kept in front of a chunk: the matcher's context and the marker window before a key.
const KEEP_BEFORE: usize = CONTEXT_BEFORE + MARKER_WINDOW;

/// Bytes left after a chunk for the next one: the matcher's context (which holds a whole stored
/// key) and the marker window after a key, with the longest marker.
fn context_after(matcher: &Matcher) -> usize {
    let longest = INLINE_MARKERS.iter().map(|m| m.len()).max().unwrap_or(0);
    matcher.context_after() + MARKER_WINDOW + longest
}

/// Fills `buf[*filled..]`; true at the end of the stream.
fn fill(reader: &mut dyn Read, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
    while *filled < buf.len() {
        match reader.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Line and column of a position that only moves forward through the stream.
#[derive(Debug)]
struct LineCursor {
    /// Absolute offset the cursor is at.
    at: u64,
    line: u64,
    line_start: u64,
    /// Characters from the start of the line to `at`.
    chars: u64,
}

impl Default for LineCursor {
    fn default() -> Self {
        LineCursor {
            at: 0,
            line: 1,
            line_start: 0,
            chars: 0,
        }
    }
}

impl LineCursor {
    /// Moves to `buf[to]`, where `buf` starts at absolute offset `base` (and at or before the cursor).
    fn advance(&mut self, buf: &[u8], base: u64, to: usize) {
        let to_abs = base + to as u64;
        if to_abs <= self.at {
            return;
        }
        let from = (self.at - base) as usize;
        let span = &buf[from..to];
        match memrchr(b'\n', span) {
            Some(last) => {
                self.line += bytecount::count(span, b'\n') as u64;
                self.line_start = base + (from + last + 1) as u64;
                self.chars = count_chars(&span[last + 1..]);
            }
            None => self.chars += count_chars(span),
        }
        self.at = to_abs;
    }

    fn column(&self) -> u64 {
        self.chars + 1
    }

    /// The column of the UTF-16 code unit at `offset`: lines of UTF-16 text start after the `\n`
    /// unit, whose zero byte follows the newline byte in little-endian text, and a byte-order mark
    /// is not a column.
    fn utf16_column(&self, offset: u64, bom: bool) -> u64 {
        let first_unit = match self.line_start {
            0 if bom => 2,
            start => start + start % 2,
        };
        offset.saturating_sub(first_unit) / 2 + 1
    }
}

/// Unicode scalar values in `bytes`: each byte that does not continue a UTF-8 sequence (an invalid
/// byte counts as one character, as a replacement character would).
fn count_chars(bytes: &[u8]) -> u64 {
    bytecount::num_chars(bytes) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn key(n: usize) -> String {
        format!("sk_live_{}{n:05}", "Zt7Kq2Wm9Rb4Xv8Lp3N")
    }

    fn scan(bytes: &[u8]) -> Vec<(u64, u64, String, bool)> {
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let mut out = Vec::new();
        let read = scanner.scan(&mut &bytes[..], &mut out).unwrap();
        assert_eq!(read, bytes.len() as u64);
        out.into_iter()
            .map(|l| {
                (
                    l.line,
                    l.column,
                    l.candidate.secret.expose().to_string(),
                    l.allowed_inline,
                )
            })
            .collect()
    }

    #[test]
    fn lines_and_columns_for_crlf_multibyte_and_no_trailing_newline() {
        let k = key(1);
        let text = format!("{k}\r\nnaïve → {k}\r\n\r\nend={k}");
        let found = scan(text.as_bytes());
        let places: Vec<(u64, u64)> = found.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(places, vec![(1, 1), (2, 9), (4, 5)]);
    }

    #[test]
    fn inline_markers_are_reported() {
        let k = key(2);
        let text = format!("a={k} # skguard:allow\nb={k}\nc=\"{k}\" // gitleaks:allow\nd={k} # pragma: allowlist secret\n");
        let allowed: Vec<bool> = scan(text.as_bytes()).iter().map(|f| f.3).collect();
        assert_eq!(allowed, vec![true, false, true, true]);
    }

    /// The inline-marker rule: same line, marker starting within 256 bytes of the key's first or
    /// last byte; before or after the key; across chunk boundaries.
    #[test]
    fn inline_markers_count_only_near_the_key_on_its_line() {
        let k = key(5);
        let marker = "skguard:allow";
        let allowed = |text: &str| scan(text.as_bytes())[0].3;
        // Before the key: its first byte is at most 256 bytes after the marker's start.
        let gap = MARKER_WINDOW - marker.len();
        assert!(allowed(&format!("{marker}{}{k}\n", " ".repeat(gap))));
        assert!(!allowed(&format!("{marker}{}{k}\n", " ".repeat(gap + 1))));
        // After the key: the marker starts at most 256 bytes after its last byte.
        assert!(allowed(&format!(
            "{k}{}{marker}\n",
            " ".repeat(MARKER_WINDOW - 1)
        )));
        assert!(!allowed(&format!(
            "{k}{}{marker}\n",
            " ".repeat(MARKER_WINDOW)
        )));
        // A newline between them, either side.
        assert!(!allowed(&format!("{marker}\n{k}\n")));
        assert!(!allowed(&format!("{k}\n# {marker}\n")));
        assert!(!allowed(&format!("{k}\r\n{marker}\n")));
        // 160 KB away on one minified line.
        assert!(!allowed(&format!("{k};{}// {marker}", "x;".repeat(80_000))));
        assert!(!allowed(&format!("/*{marker}*/{}{k}", "x;".repeat(80_000))));
        // Base64 (a Kubernetes Secret): the marker after the encoded text.
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{k}\n"));
        let found = scan(format!("key: {encoded} # {marker}\n").as_bytes());
        assert_eq!(found.len(), 1);
        assert!(found[0].3, "{found:?}");
        // Near a chunk boundary, on either side: the chunks keep the window around every key.
        for boundary in [CHUNK, 2 * CHUNK - KEEP_BEFORE] {
            for delta in [-600i64, -300, -100, -1, 0, 1, 100, 300] {
                let at = (boundary as i64 + delta) as usize;
                for before in [true, false] {
                    let mut text = vec![b'.'; 3 * CHUNK];
                    text[..10].copy_from_slice(b"\n\n\n\n\n\n\n\n\n\n");
                    text[at - 1] = b' ';
                    text[at..at + k.len()].copy_from_slice(k.as_bytes());
                    text[at + k.len()] = b' ';
                    let m = if before {
                        at - MARKER_WINDOW
                    } else {
                        at + k.len() - 1 + MARKER_WINDOW
                    };
                    text[m..m + marker.len()].copy_from_slice(marker.as_bytes());
                    let found = scan(&text);
                    assert_eq!(found.len(), 1, "{boundary} {delta} {before}");
                    assert!(found[0].3, "{boundary} {delta} before={before}");
                    // One byte farther: not suppressed.
                    let mut farther = vec![b'.'; 3 * CHUNK];
                    farther[at - 1] = b' ';
                    farther[at..at + k.len()].copy_from_slice(k.as_bytes());
                    farther[at + k.len()] = b' ';
                    let m = if before { m - 1 } else { m + 1 };
                    farther[m..m + marker.len()].copy_from_slice(marker.as_bytes());
                    let found = scan(&farther);
                    assert!(!found[0].3, "{boundary} {delta} before={before}: too far");
                }
            }
        }
    }

    #[test]
    fn keys_across_chunk_boundaries_are_found_once_with_right_lines() {
        // Keys at every offset around the first chunk boundaries, in a stream of several chunks.
        for boundary in [CHUNK, 2 * CHUNK - KEEP_BEFORE] {
            for delta in [-300i64, -256, -100, -30, -1, 0, 1, 17, 255, 600] {
                let at = (boundary as i64 + delta) as usize;
                let mut text = vec![b'.'; 3 * CHUNK];
                for i in (1000..at.saturating_sub(10)).step_by(1000) {
                    text[i] = b'\n';
                }
                let k = key(delta.unsigned_abs() as usize);
                text[at - 1] = b' ';
                text[at..at + k.len()].copy_from_slice(k.as_bytes());
                text[at + k.len()] = b' ';
                let found = scan(&text);
                assert_eq!(
                    found.len(),
                    1,
                    "boundary {boundary} delta {delta}: {found:?}"
                );
                let lines = text[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                let line_start = text[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                assert_eq!(
                    (found[0].0, found[0].1),
                    (lines, (at - line_start) as u64 + 1)
                );
                assert_eq!(found[0].2, k);
            }
        }
    }

    #[test]
    fn utf16_columns_skip_the_byte_order_mark() {
        let k = key(3);
        let text = format!("\u{feff}first\r\nkey: {k}\r\n");
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for bytes in [le, be] {
            let found = scan(&bytes);
            assert_eq!((found[0].0, found[0].1), (2, 6));
        }
        let first_line: Vec<u8> = format!("\u{feff}x {k}")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(scan(&first_line)[0].1, 3);
    }

    /// A reader that hands out a few bytes at a time, as pipes do.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_reads_lose_nothing() {
        let k = key(4);
        let text = format!("{}\n{k}\n", "x".repeat(CHUNK + 5));
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let mut out = Vec::new();
        scanner
            .scan(&mut Trickle(text.as_bytes()), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].line, out[0].column), (2, 1));
    }

    /// A reader that hands out its bytes, then fails.
    struct FailsAfter<'a>(&'a [u8]);
    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk went away"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn keys_read_before_a_read_error_are_found_and_the_error_returned() {
        let matcher = Matcher::new(RuleSet::builtin());
        // In the first chunk (the error comes while it is being filled), and in a later one.
        for before in [10, CHUNK + 10] {
            let text = format!("{}\n{} trailing", "x".repeat(before), key(5));
            let mut scanner = StreamScanner::new(&matcher);
            let mut out = Vec::new();
            let result = scanner.scan(&mut FailsAfter(text.as_bytes()), &mut out);
            assert_eq!(result.unwrap_err().to_string(), "the disk went away");
            assert_eq!(out.len(), 1, "{before}");
            assert_eq!(out[0].candidate.secret.expose(), key(5));
        }
    }
}
