//! Printable text: every string that came from scanned data or from the API (paths, author names,
//! commit and tag messages, ref names, configuration excerpts, key ids and names) passes through
//! here before any format prints it.
//!
//! Two things happen, in this order: key-shaped text is replaced by its redacted form (the built-in
//! key grammar, whatever rules are in force, so no configuration can widen what is shown), and
//! characters that a terminal or a log viewer would act on are escaped (C0 and C1 controls, DEL,
//! and the bidirectional overrides of "Trojan Source"). Formats add their own escaping on top
//! (JSON, Markdown, workflow commands, URIs); this is the part they share.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use crate::findings::Secret;

/// Key-shaped text: a built-in prefix and a body of at least 10 characters. Deliberately wider than
/// the matching grammar (no boundary rule, no upper bound, no placeholder test): redacting a
/// placeholder costs nothing, printing a key costs everything.
static KEY_SHAPED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"sk_(?:live|test)_[A-Za-z0-9]{10,}").expect("a valid pattern"));

/// `s` with key-shaped text redacted and control characters escaped: safe to print anywhere.
pub fn printable(s: &str) -> Cow<'_, str> {
    match redact_keys(s) {
        Cow::Borrowed(s) => escape_controls(s),
        Cow::Owned(s) => Cow::Owned(escape_controls(&s).into_owned()),
    }
}

/// `s` with every key-shaped run replaced by its redacted form (`sk_live_4eC3…dc7G`).
pub fn redact_keys(s: &str) -> Cow<'_, str> {
    if !s.contains("sk_") {
        return Cow::Borrowed(s);
    }
    KEY_SHAPED.replace_all(s, |caps: &regex::Captures<'_>| {
        Secret::new(caps[0].to_string(), "sk_live_".len()).redacted()
    })
}

/// Whether `s` holds key-shaped text.
pub fn has_key(s: &str) -> bool {
    s.contains("sk_") && KEY_SHAPED.is_match(s)
}

/// Whether a terminal, a log viewer or a workflow-command parser could act on `c`.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `s` with control characters written as escapes: `\n`, `\r`, `\t`, everything else as `\x1b`
/// (below U+0100) or `\u{202e}`.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`printable`], but keeps line breaks: for messages made of lines (a configuration error
/// with its excerpt and caret line). Every other control character is escaped.
pub fn printable_lines(s: &str) -> String {
    redact_keys(s)
        .split('\n')
        .map(|line| escape_controls(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `s` as a Markdown code span: fenced by one backtick more than its longest run of backticks
/// (CommonMark), padded when it starts or ends with a backtick, with `|` escaped for table cells.
/// Nothing in `s` can end the span early. `s` should already be [`printable`].
pub fn code_span(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    let body = s.replace('|', "\\|");
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// The source text around a key, for a person to recognise it: at most `max` characters of the
/// key's line, the key itself as `redacted`, every other key-shaped text redacted and control
/// characters escaped. `before` and `after` are the raw bytes next to the key on its line; `cut_*`
/// says the line goes on past them, so a partial word there (perhaps part of another key) is
/// dropped rather than shown.
pub fn snippet(
    before: &[u8],
    redacted: &str,
    after: &[u8],
    cut_before: bool,
    cut_after: bool,
    max: usize,
) -> String {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let mut before = before;
    if cut_before {
        let skip = before.iter().take_while(|b| word(b)).count();
        before = &before[skip..];
    }
    let mut after = after;
    if cut_after {
        let keep = after.len() - after.iter().rev().take_while(|b| word(b)).count();
        after = &after[..keep];
    }
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).replace('\t', " ");
        // A multi-byte character cut at the window's edge is no character: leave it out.
        let text = text.trim_matches('\u{fffd}');
        printable(text).into_owned()
    };
    let before = clean(before);
    let before = before.trim_start();
    let after = clean(after);
    let after = after.trim_end();
    let key_len = redacted.chars().count();
    let room = max.saturating_sub(key_len);
    let (b_len, a_len) = (before.chars().count(), after.chars().count());
    // Half the room on each side; what one side does not need goes to the other.
    let b_room = (room / 2).max(room.saturating_sub(a_len)).min(b_len);
    let a_room = room.saturating_sub(b_room).min(a_len);
    let shown_before: String = if b_room < b_len {
        let tail: String = before.chars().skip(b_len - b_room + 1).collect();
        if b_room > 0 {
            format!("…{tail}")
        } else {
            String::new()
        }
    } else {
        before.to_string()
    };
    let shown_after: String = if a_room < a_len {
        let head: String = after.chars().take(a_room.saturating_sub(1)).collect();
        if a_room > 0 {
            format!("{head}…")
        } else {
            String::new()
        }
    } else {
        after.to_string()
    };
    format!("{shown_before}{redacted}{shown_after}")
}

/// A JSON formatter that also writes `\uXXXX` for the characters JSON allows raw but a terminal
/// or a viewer would act on (DEL, C1 controls, bidirectional overrides): the parsed value is
/// unchanged, the bytes on disk hold none of them.
pub struct SafeJson<F>(pub F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(is_unsafe) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().expect("found a character");
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as compact JSON through [`SafeJson`].
pub fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(out, SafeJson(serde_json::ser::CompactFormatter));
    value.serialize(&mut ser).map_err(std::io::Error::from)
}

/// Writes `value` as indented JSON through [`SafeJson`].
pub fn write_json_pretty<T: serde::Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        out,
        SafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser).map_err(std::io::Error::from)
}

/// For `#[serde(serialize_with)]`: a string from scanned data with key-shaped text redacted. JSON
/// escapes control characters itself, so the value stays exactly the text otherwise.
pub fn serialize_redacted<S: serde::Serializer, T: AsRef<str> + ?Sized>(
    s: &T,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&redact_keys(s.as_ref()))
}

/// [`serialize_redacted`] for an optional string.
pub fn serialize_redacted_opt<S: serde::Serializer, T: AsRef<str>>(
    s: &Option<T>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_some(&*redact_keys(s.as_ref())),
        None => ser.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        format!("sk_live_{}", "Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1")
    }

    #[test]
    fn snippets_are_short_redacted_and_never_show_part_of_a_key() {
        let other = format!("sk_test_{}", "Other9Key8Body7Xyz");
        let before = format!("\tconst a = \"{other}\"; const b = \"");
        let s = snippet(
            before.as_bytes(),
            "sk_live_Zt…Hd",
            b"\"; // prod\x1b[2J",
            false,
            false,
            80,
        );
        assert!(!s.contains(&other), "{s}");
        assert!(
            s.contains("sk_test_Othe…7Xyz") || s.contains("sk_test_"),
            "{s}"
        );
        assert!(s.contains("sk_live_Zt…Hd\"; // prod\\x1b[2J"), "{s}");
        assert!(s.starts_with("const a"), "{s}");
        // Long lines are cut to `max` characters, never in the middle of a word at a cut edge.
        let long_before = format!("{}AbCdEfGhIjKlMnOp = ", "word ".repeat(40));
        let s = snippet(
            long_before.as_bytes(),
            "sk_live_Zt…Hd",
            "; x".repeat(50).as_bytes(),
            true,
            true,
            40,
        );
        assert_eq!(s.chars().count(), 40, "{s}");
        assert!(s.contains("sk_live_Zt…Hd"), "{s}");
        // A cut through a word (perhaps a key's body) drops the partial word.
        let s = snippet(b"Kq2Wm9Rb4Xv8 = ", "sk_live_Zt…Hd", b"", true, false, 80);
        assert_eq!(s, "= sk_live_Zt…Hd");
    }

    #[test]
    fn keys_are_redacted_wherever_they_stand() {
        let k = key();
        for s in [
            format!("config/{k}.env"),
            format!("x{k}"),
            format!("{k}_{k}"),
            format!("Author <{k}@example.com>"),
        ] {
            let shown = printable(&s);
            assert!(!shown.contains(&k), "{shown}");
            assert!(shown.contains("sk_live_Zt7…Hd1"), "{shown}");
        }
        assert!(has_key(&format!("a/{k}")));
        assert!(!has_key("sk_live_short"));
        assert_eq!(printable("plain/path.rs"), "plain/path.rs");
        assert!(matches!(printable("plain/path.rs"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(printable("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(printable("a\u{202e}b\u{85}"), "a\\u{202e}b\\x85");
        assert_eq!(printable("naïve ✓"), "naïve ✓");
        assert_eq!(printable("x\u{7f}"), "x\\x7f");
    }

    #[test]
    fn a_key_split_by_a_control_character_is_still_not_printed_whole() {
        // Escaping happens after redaction, so "\x00" between halves cannot join them on screen.
        let k = key();
        let (a, b) = k.split_at(12);
        let joined = format!("{a}\x00{b}");
        let shown = printable(&joined);
        assert!(!shown.contains(&k), "{shown}");
    }
    #[test]
    fn lines_keep_their_breaks_and_lose_their_keys() {
        let k = key();
        let shown = printable_lines(&format!("line 2:\n  x = \"{k}\x1b\"\n  ^"));
        assert_eq!(shown, "line 2:\n  x = \"sk_live_Zt7…Hd1\\x1b\"\n  ^");
    }

    #[test]
    fn code_spans_cannot_be_broken_out_of() {
        assert_eq!(code_span("a.rs"), "`a.rs`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("``x"), "``` ``x ```");
        assert_eq!(code_span("a|b"), "`a\\|b`");
    }

    #[test]
    fn safe_json_escapes_what_json_leaves_raw() {
        let mut out = Vec::new();
        write_json(&mut out, &"a\u{202e}b\u{85}c\u{7f}\n").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#""a\u202eb\u0085c\u007f\n""#);
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "a\u{202e}b\u{85}c\u{7f}\n");
    }
}
