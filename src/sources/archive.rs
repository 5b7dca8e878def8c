//! Archives and compressed files: gzip, bzip2, xz, zstd, zip and its kin (jar, war, whl, nupkg, apk,
//! docx/xlsx/…), tar, and compressed tar, opened wherever they are found and nested to a bounded
//! depth.
//!
//! An archive is recognised by its content (magic bytes), never by its name, and only after the
//! file has been scanned as it is: a file that is not an archive costs one comparison of its first
//! bytes. Each member is streamed through the same [`StreamScanner`] as any file, so every decoder
//! and rule applies inside archives too.
//!
//! Hostile archives are bounded: bytes decompressed per archive, entries per archive, the
//! decompression ratio of each member, and the nesting depth. A bound stops the reading where it is
//! reached: what was read before is still scanned and reported, and the bound is said (a
//! deliberate skip, like `--max-file-size`, that does not make the answer incomplete).

use std::cell::Cell;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, Write};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::findings::Encoding;
use crate::printable::printable;
use crate::sources::stream::{Located, StreamScanner};

/// How deep archives are opened, and how much of each is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Archives inside archives: 1 opens only the outermost; 0 opens none.
    pub depth: u32,
    /// Bytes decompressed per outermost archive, all members together.
    pub max_bytes: u64,
    /// Entries per outermost archive, all levels together.
    pub max_entries: u64,
    /// Decompressed bytes per compressed byte, per member.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            depth: 3,
            max_bytes: 1 << 30,
            max_entries: 100_000,
            max_ratio: 1_000,
        }
    }
}

/// A nested zip is read into memory (zip needs to seek) up to this size; a larger one goes to a
/// temporary file.
const NESTED_ZIP_IN_MEMORY: u64 = 16 << 20;
/// A zip file up to this size is read into memory whole, once, before it is opened: read where it
/// lies, every member costs a few reads and seeks (system calls) of its own.
const FILE_ZIP_IN_MEMORY: u64 = 16 << 20;
/// Compressed sizes below this are treated as this for the ratio bound: a 20-byte gzip of a
/// 30 KB text is ordinary, not a bomb.
const RATIO_FLOOR: u64 = 1024;
/// Parts of one archive not read whole that are said one a line; the rest are counted.
pub const SKIPS_SAID: usize = 20;
/// Bytes of a file that [`sniff`] looks at (a tar header's magic sits at 257).
pub const HEAD: usize = 512;
/// Bytes of a member read before it is sniffed: a member up to this size is inflated in one call.
/// (A first read of only [`HEAD`] bytes made inflate finish each member's first output on its
/// slow path, symbol by symbol: a tenth of the time spent on a tree of small members.)
const FIRST_READ: usize = 32 << 10;

/// Memory an xz decoder may take (its dictionary: `xz -9` needs 65 MiB); a stream that asks for
/// more is said, not read.
const UNPACK_MEMORY: u64 = 128 << 20;
/// The same for a stream nested in another archive (`zstd -19` windows are 8 MiB, `xz -9`'s
/// dictionary 64 MiB): streams nested in streams hold 128 + 72 + 72 MiB at most, not 3 × 128.
const NESTED_UNPACK_MEMORY: u64 = 72 << 20;

/// A deflated zip member up to this size (compressed and inflated) whose listed sizes fit the
/// bounds is inflated whole in one call; a larger one is streamed.
const ONE_CALL: u64 = 8 << 20;
/// A deflated zip member that inflates more than this many times its compressed size is streamed.
const ONE_CALL_RATIO: u64 = 64;

/// What kind of archive bytes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gzip,
    Zip,
    Tar,
    Bzip2,
    Xz,
    Zstd,
}

impl Kind {
    /// Compressed streams (one member, or a compressed tar) as opposed to zip and tar.
    fn is_stream(self) -> bool {
        matches!(self, Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Zstd)
    }
}

/// The archive kind of a file that starts with `head`, if any.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Kind::Gzip)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Kind::Zip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Kind::Tar)
    } else if head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        // A first block (pi) or the end of an empty stream (sqrt(pi)): "BZh9" alone is text, and
        // so is "BZh91AY&SY" (pi is printable): a block's origin pointer (after its CRC, below
        // 900,000: its first 4 of 24 bits zero) is not, in any byte of text (0x09 and up).
        && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            && head.get(14).is_some_and(|b| b & 0x78 == 0)
            || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        Some(Kind::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Kind::Xz)
    } else if head.starts_with(&ZSTD_FRAME) || starts_skippable(head) {
        Some(Kind::Zstd)
    } else {
        None
    }
}

/// A zstd frame's magic.
const ZSTD_FRAME: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `head` starts with a zstd skippable frame (pzstd writes one before each frame) followed,
/// where `head` shows it, by a zstd frame or another skippable one.
fn starts_skippable(head: &[u8]) -> bool {
    let skippable = |b: &[u8]| b.len() >= 4 && b[0] & 0xf0 == 0x50 && b[1..4] == [0x2a, 0x4d, 0x18];
    if head.len() < 8 || !skippable(head) {
        return false;
    }
    let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    match head.get(8 + length as usize..) {
        Some(next) if next.len() >= 4 => next.starts_with(&ZSTD_FRAME) || skippable(next),
        _ => true,
    }
}

/// Why part of an archive was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The archive's decompressed bytes reached [`Limits::max_bytes`].
    Bytes,
    /// The archive's entries reached [`Limits::max_entries`].
    Entries,
    /// A member decompressed beyond [`Limits::max_ratio`]: a decompression bomb.
    Ratio,
    /// An archive nested deeper than [`Limits::depth`] was scanned as it is, not opened.
    Depth,
    /// A member that cannot be read: encrypted, an unsupported compression method, or corrupt.
    Unreadable,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Bytes => "the archive's decompressed-size bound was reached",
            Bound::Entries => "the archive's entry-count bound was reached",
            Bound::Ratio => "decompression ratio beyond the bound (a decompression bomb?)",
            Bound::Depth => "nested deeper than --archive-depth: scanned as it is, not opened",
            Bound::Unreadable => "could not be read",
        })
    }
}

/// A part of an archive that was not read whole, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The member, `!`-separated below the archive ("" for the archive itself).
    pub member: String,
    pub bound: Bound,
    /// What the archive library said, for [`Bound::Unreadable`].
    pub detail: String,
}

impl ArchiveScan {
    /// Parts not read whole, said or not.
    pub fn bounds_reached(&self) -> u64 {
        self.skipped.len() as u64 + self.skipped_more
    }

    /// One line for a person per part not read whole (and one for the rest), about the archive at
    /// `path`.
    pub fn describe_skips(&self, path: &str) -> Vec<String> {
        describe_skips(&self.skipped, self.skipped_more, path)
    }
}

/// One line per part not read whole, and one for the `more` not listed.
pub fn describe_skips(skipped: &[Skipped], more: u64, path: &str) -> Vec<String> {
    let mut lines: Vec<String> = skipped.iter().map(|k| k.describe(path)).collect();
    if more > 0 {
        lines.push(format!(
            "{}: {more} more parts of this archive were not read whole",
            printable(path)
        ));
    }
    lines
}

impl Skipped {
    /// One line for a person, about the archive at `path`.
    pub fn describe(&self, path: &str) -> String {
        let at = if self.member.is_empty() {
            printable(path).into_owned()
        } else {
            // Named as a key in it is (a compressed stream's unnamed content after `path`).
            printable(&member_at(path, &self.member)).into_owned()
        };
        if self.detail.is_empty() {
            format!("{at}: {}", self.bound)
        } else {
            format!("{at}: {} ({})", self.bound, printable(&self.detail))
        }
    }
}

/// A key found in a member.
#[derive(Debug, Clone)]
pub struct MemberHit {
    /// The member's path inside the archive, `!`-separated for nested archives.
    pub member: String,
    pub located: Located,
}

/// `located` (found in a member of the archive at `outer`) as reported at `outer!member`: a key in
/// the member's name (line 0) has its column counted in that whole path.
pub fn at_outer(outer: &str, mut located: Located) -> Located {
    if located.line == 0 {
        located.column += outer.chars().count() as u64 + 1;
    }
    located
}

/// What reading one archive gave.
#[derive(Debug, Default)]
pub struct ArchiveScan {
    pub hits: Vec<MemberHit>,
    /// The first [`SKIPS_SAID`] parts not read whole, to be said one a line.
    pub skipped: Vec<Skipped>,
    /// How many more parts were not read whole (counted, said in one line).
    pub skipped_more: u64,
    /// Members scanned.
    pub members: u64,
    /// Bytes decompressed.
    pub bytes: u64,
}

/// Scans the archive `input` named `name` (already recognised as `kind`, positioned anywhere: it
/// is rewound) of `len` bytes with `scanner`.
pub fn scan_file<R: Read + Seek>(
    scanner: &mut StreamScanner<'_>,
    name: &str,
    input: &mut R,
    len: u64,
    kind: Kind,
    limits: &Limits,
) -> ArchiveScan {
    // Read where it lies, a zip costs a few reads and seeks per member: a small one is read into
    // memory first, in one read. One that grew since it was opened, or whose reading failed, is
    // read where it lies (which says a lasting error).
    if kind == Kind::Zip && limits.depth > 0 && len <= FILE_ZIP_IN_MEMORY {
        let mut bytes = Vec::with_capacity(len as usize);
        let read = input.rewind().and_then(|()| {
            (&mut *input)
                .take(FILE_ZIP_IN_MEMORY + 1)
                .read_to_end(&mut bytes)
        });
        if read.is_ok_and(|n| n as u64 <= FILE_ZIP_IN_MEMORY) {
            return scan_bytes(scanner, name, &bytes, kind, limits);
        }
    }
    scan(scanner, name, input, len, kind, limits)
}

/// Scans the archive `input` where it lies.
fn scan<R: Read + Seek>(
    scanner: &mut StreamScanner<'_>,
    name: &str,
    input: &mut R,
    len: u64,
    kind: Kind,
    limits: &Limits,
) -> ArchiveScan {
    scan_with(scanner, name, input, len, kind, limits, ONE_CALL)
}

/// [`scan`], inflating zip members in one call up to `one_call` bytes (0 streams them all).
fn scan_with<R: Read + Seek>(
    scanner: &mut StreamScanner<'_>,
    name: &str,
    input: &mut R,
    len: u64,
    kind: Kind,
    limits: &Limits,
    one_call: u64,
) -> ArchiveScan {
    let mut walk = Walk::new(scanner, name, limits, one_call);
    if limits.depth == 0 {
        return walk.result;
    }
    if let Err(e) = input.rewind() {
        walk.unreadable(String::new(), e.to_string());
        return walk.result;
    }
    walk.inflate = INFLATE.take();
    match kind {
        Kind::Zip => walk.zip(input, "", 1),
        Kind::Tar => walk.tar(input, "", 1),
        stream => walk.stream(stream, input, "", len, 1),
    }
    INFLATE.set(std::mem::take(&mut walk.inflate));
    walk.result
}

thread_local! {
    /// [`Walk::inflate`], kept by the thread from archive to archive: made (and cleared, up to
    /// [`ONE_CALL`] bytes) for each one, a zip file of a few KB whose member lists 8 MiB took
    /// half a millisecond, ten times what the streaming path takes.
    static INFLATE: std::cell::Cell<Vec<OneCall>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Scans an archive held in memory (a blob).
pub fn scan_bytes(
    scanner: &mut StreamScanner<'_>,
    name: &str,
    bytes: &[u8],
    kind: Kind,
    limits: &Limits,
) -> ArchiveScan {
    scan(
        scanner,
        name,
        &mut Cursor::new(bytes),
        bytes.len() as u64,
        kind,
        limits,
    )
}

struct Walk<'a, 's, 'm> {
    scanner: &'a mut StreamScanner<'m>,
    /// The archive's own name (a path), for a gzip stream's member.
    name: &'s str,
    limits: &'s Limits,
    result: ArchiveScan,
    entries: u64,
    /// [`FIRST_READ`] bytes, reused from member to member (a nested member takes its own).
    first: Vec<u8>,
    /// Zip members inflated in one call: one for each level of nesting being read (a nested zip
    /// takes the next), kept for the zips read after, so that a nested zip does not make (and
    /// clear) buffers of its own.
    inflate: Vec<OneCall>,
    /// The largest member inflated in one call: [`ONE_CALL`], except in tests of the other path.
    one_call: u64,
}

/// `prefix` and `name` joined as a member path.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}!{name}")
    }
}

/// The suffixes of each kind of compressed stream, and what its content is called when the
/// stream's own name is not known (a blob in git modes) or has none of them.
const UNPACKED: [(Kind, &[&str], &str); 4] = [
    (Kind::Gzip, &[".gz", ".gzip", ".z"], "(gunzipped)"),
    (Kind::Bzip2, &[".bz2", ".bz", ".bzip2"], "(bunzipped)"),
    (Kind::Xz, &[".xz", ".lzma"], "(unxz'd)"),
    (Kind::Zstd, &[".zst", ".zstd"], "(unzstd'd)"),
];

/// `member` of the archive at `path` as reported: a compressed stream's content that was unnamed
/// when it was opened (a blob, whose paths are known only later) is named after `path`.
pub fn member_at(path: &str, member: &str) -> String {
    let (first, rest) = member
        .split_once('!')
        .map_or((member, None), |(f, r)| (f, Some(r)));
    let named = UNPACKED
        .iter()
        .find(|(_, _, unnamed)| *unnamed == first)
        .map(|&(kind, _, _)| unpacked_name(kind, path, None));
    match (named, rest) {
        (Some(named), Some(rest)) => format!("{path}!{named}!{rest}"),
        (Some(named), None) => format!("{path}!{named}"),
        (None, _) => format!("{path}!{member}"),
    }
}

/// The name a compressed stream's content goes by: the name in its header (gzip's), else the
/// stream's own name without its suffix (`.gz`, `.bz2`, `.xz`, `.zst` …).
fn unpacked_name(kind: Kind, outer: &str, header: Option<&[u8]>) -> String {
    if let Some(name) = header.filter(|n| !n.is_empty()) {
        return String::from_utf8_lossy(name).into_owned();
    }
    let (suffixes, unnamed) = UNPACKED
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map_or((&[][..], "(decompressed)"), |&(_, s, u)| (s, u));
    let last = outer.rsplit(['/', '!']).next().unwrap_or(outer);
    for suffix in suffixes {
        if let Some(stem) = last
            .len()
            .checked_sub(suffix.len())
            .filter(|&at| last.is_char_boundary(at) && last[at..].eq_ignore_ascii_case(suffix))
            .map(|at| &last[..at])
        {
            if !stem.is_empty() {
                return stem.to_string();
            }
        }
    }
    unnamed.to_string()
}

/// The frames of a zstd stream one after the other (ruzstd's decoder reads one), skippable
/// frames passed over; a window beyond the bound it is made with is an error, not an allocation.
struct ZstdFrames<R> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
    /// The error that stopped the frame, returned once what it decoded before is read.
    failed: Option<io::Error>,
}

impl<R: io::BufRead> ZstdFrames<R> {
    /// Frames whose window is at most `max_window` bytes (a larger one is an error).
    fn new(source: R, max_window: u64) -> ZstdFrames<R> {
        let mut decoder = ruzstd::decoding::FrameDecoder::new();
        decoder.set_max_window_size(max_window);
        ZstdFrames {
            source,
            decoder,
            in_frame: false,
            failed: None,
        }
    }
}

impl<R: io::BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.source.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.decoder.reset(&mut self.source) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        let skipped =
                            io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                        if skipped < u64::from(length) {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            while self.failed.is_none()
                && self.decoder.can_collect() == 0
                && !self.decoder.is_finished()
            {
                use ruzstd::decoding::BlockDecodingStrategy::UptoBlocks;
                if let Err(e) = self.decoder.decode_blocks(&mut self.source, UptoBlocks(1)) {
                    // The decoder holds back the last window of what it decoded (up to 128 MiB)
                    // until the frame ends: an empty last block (and a checksum) ends it here, so
                    // that what came before the error is read, then the error.
                    let end = [1u8, 0, 0, 0, 0, 0, 0];
                    let _ = self.decoder.decode_blocks(&end[..], UptoBlocks(1));
                    self.failed = Some(io::Error::other(e));
                }
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            // The frame is done: the next one, if any.
            self.in_frame = false;
        }
    }
}

/// The streams of a bzip2 file one after the other (pbzip2 writes one per block). A stream makes
/// its decoder allocate and clear memory for its block size (up to 3.6 MB) however little it
/// holds: one that gives less than its block size owes the difference, and the streams stop, with
/// an error, once they owe more than `budget` (26,000 one-byte streams in 1 MB took 4.3 s).
struct BzStreams<R> {
    decoder: Option<bzip2::bufread::BzDecoder<R>>,
    /// The current stream's block size (0 before its first read) and what it gave.
    block: u64,
    given: u64,
    owed: u64,
    budget: u64,
}

impl<R: io::BufRead> BzStreams<R> {
    fn new(source: R, budget: u64) -> BzStreams<R> {
        BzStreams {
            decoder: Some(bzip2::bufread::BzDecoder::new(source)),
            block: 0,
            given: 0,
            owed: 0,
            budget,
        }
    }
}

impl<R: io::BufRead> Read for BzStreams<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            if self.block == 0 {
                // Its block size, from its header ("BZh9": 900,000 bytes).
                let head = decoder.get_mut().fill_buf()?;
                self.block = head
                    .get(3)
                    .filter(|l| l.is_ascii_digit())
                    .map_or(1, |l| u64::from(l - b'0') * 100_000);
            }
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.given += n as u64;
                return Ok(n);
            }
            // The stream ended: what it owes, then the next one, if any.
            self.owed += self.block.saturating_sub(self.given);
            (self.block, self.given) = (0, 0);
            let Some(decoder) = self.decoder.take() else {
                return Ok(0);
            };
            let mut source = decoder.into_inner();
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            if self.owed > self.budget {
                return Err(io::Error::other(
                    "bzip2 streams holding less than their block size, one after the other, \
                     beyond the ratio bound: the rest is not read",
                ));
            }
            self.decoder = Some(bzip2::bufread::BzDecoder::new(source));
        }
    }
}

/// Reads into `buf` until it is full or the stream ends: the bytes read, and the error that
/// stopped the reading, if one did.
fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// Zip members inflated in one call: their compressed bytes, what they inflate to, and the
/// inflater, all reused from member to member.
#[derive(Default)]
struct OneCall {
    packed: Vec<u8>,
    out: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
}

impl OneCall {
    /// Inflates the member at `index` into `self.out[..size]`: true when its data inflated to
    /// exactly `size` bytes with checksum `crc`.
    fn inflate<R: Read + Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        index: usize,
        size: usize,
        crc: u32,
    ) -> bool {
        self.packed.clear();
        let read = archive
            .by_index_raw(index)
            .map_err(io::Error::from)
            .and_then(|mut raw| raw.read_to_end(&mut self.packed));
        if read.is_err() {
            return false;
        }
        if self.out.len() < size {
            self.out.resize(size, 0);
        }
        let inflater = self
            .inflater
            .get_or_insert_with(libdeflater::Decompressor::new);
        // More than `size` bytes is InsufficientSpace; fewer is a size that does not match.
        inflater.deflate_decompress(&self.packed, &mut self.out[..size]) == Ok(size)
            && libdeflater::crc32(&self.out[..size]) == crc
    }
}

/// A compressed stream's size: known (the file's, or its container's listing), else counted as its
/// decoder reads it (a stream inside a stream).
enum Packed {
    Known(u64),
    Counted(Rc<Cell<u64>>),
}

/// A reader whose first read fails with the error it holds.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// A reader that stops (with end of stream) at a bound and remembers which.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
    /// The bound that `limit` stands for.
    bound: Bound,
    hit: bool,
    /// A stream of unknown size: the bytes its decoder has consumed so far, and the ratio that
    /// bounds what it may give for them.
    consumed: Option<(Rc<Cell<u64>>, u64)>,
}

/// Counts the bytes read through it: what a decoder consumed of a stream of unknown size.
struct Counting<'r> {
    inner: &'r mut dyn Read,
    count: Rc<Cell<u64>>,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((consumed, ratio)) = &self.consumed {
            // Beyond the ratio for what was consumed so far (a decoder consumes before it gives):
            // a bomb inside a stream, whose own size is known only at its end.
            if self.read >= consumed.get().max(RATIO_FLOOR).saturating_mul(*ratio)
                && self.read < self.limit
            {
                self.limit = self.read;
                self.bound = Bound::Ratio;
            }
        }
        if self.read >= self.limit {
            // One byte more tells a stream that ends exactly at the bound from one that goes on.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.hit = true;
            }
            return Ok(0);
        }
        let room = (self.limit - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<'a, 's, 'm> Walk<'a, 's, 'm> {
    fn new(
        scanner: &'a mut StreamScanner<'m>,
        name: &'s str,
        limits: &'s Limits,
        one_call: u64,
    ) -> Walk<'a, 's, 'm> {
        Walk {
            scanner,
            name,
            limits,
            result: ArchiveScan::default(),
            entries: 0,
            first: Vec::new(),
            inflate: Vec::new(),
            one_call,
        }
    }

    /// Records a part not read whole: said for the first [`SKIPS_SAID`], counted for the rest.
    fn skip(&mut self, skipped: Skipped) {
        if self.result.skipped.len() < SKIPS_SAID {
            self.result.skipped.push(skipped);
        } else {
            self.result.skipped_more += 1;
        }
    }

    fn unreadable(&mut self, member: String, detail: String) {
        self.skip(Skipped {
            member,
            bound: Bound::Unreadable,
            detail,
        });
    }

    fn bytes_left(&self) -> u64 {
        self.limits.max_bytes.saturating_sub(self.result.bytes)
    }

    /// Counts an entry; false once the archive has too many.
    fn entry(&mut self, member: &str) -> bool {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            self.skip(Skipped {
                member: member.to_string(),
                bound: Bound::Entries,
                detail: String::new(),
            });
            return false;
        }
        true
    }

    /// Keys in a member's own name (`name`, listed in the archive below `prefix`): findings at line
    /// 0, their column counted in the member's whole `!`-separated path. Names inside a compressed
    /// or nested archive are not in the bytes scanned as they are.
    fn name_keys(&mut self, prefix: &str, name: &str) {
        let found = crate::sources::path_keys::in_path(self.scanner.matcher(), name);
        if found.is_empty() {
            return;
        }
        let member = join(prefix, name);
        let before = if prefix.is_empty() {
            0
        } else {
            prefix.chars().count() as u64 + 1
        };
        self.result
            .hits
            .extend(found.into_iter().map(|mut located| {
                located.column += before;
                located.candidate.encoding = Encoding::Archive;
                MemberHit {
                    member: member.clone(),
                    located,
                }
            }));
    }

    /// A reader over `inner` bounded by the bytes left and, when the member's stored size is
    /// known, by the ratio.
    fn bounded<R: Read>(&self, inner: R, compressed: Option<u64>) -> Bounded<R> {
        let left = self.bytes_left();
        let by_ratio = compressed.map(|c| c.max(RATIO_FLOOR).saturating_mul(self.limits.max_ratio));
        let (limit, bound) = match by_ratio {
            Some(r) if r < left => (r, Bound::Ratio),
            _ => (left, Bound::Bytes),
        };
        Bounded {
            inner,
            read: 0,
            limit,
            bound,
            hit: false,
            consumed: None,
        }
    }

    /// Scans one member's content: an archive in it is opened (within the depth), anything else is
    /// scanned as it is. `depth` is the level of the archive holding the member.
    /// `stored`: the member's size when its container says it (the compressed size of a gzip
    /// stream inside it, for the ratio bound).
    fn member(&mut self, reader: &mut dyn Read, member: &str, depth: u32, stored: Option<u64>) {
        let mut first = std::mem::take(&mut self.first);
        first.resize(FIRST_READ, 0);
        // What was read before an error is scanned, and the error said, as from any later read.
        match read_up_to(reader, &mut first) {
            (n, None) => self.member_read(&first[..n], reader, member, depth, stored),
            (n, Some(e)) => {
                let mut failed = Failed(Some(e));
                self.member_read(&first[..n], &mut failed, member, depth, stored)
            }
        }
        self.first = first;
    }

    /// [`Walk::member`] once its first bytes, `head`, are read from `reader`.
    fn member_read(
        &mut self,
        head: &[u8],
        reader: &mut dyn Read,
        member: &str,
        depth: u32,
        stored: Option<u64>,
    ) {
        let nested = sniff(head);
        if let Some(kind) = nested {
            if depth < self.limits.depth {
                let mut whole = Cursor::new(head).chain(reader);
                match kind {
                    Kind::Zip => self.nested_zip(&mut whole, member, depth + 1),
                    Kind::Tar => self.tar(&mut whole, member, depth + 1),
                    stream => {
                        let stored = stored.unwrap_or(0);
                        self.stream(stream, &mut whole, member, stored, depth + 1)
                    }
                }
                return;
            }
            self.skip(Skipped {
                member: member.to_string(),
                bound: Bound::Depth,
                detail: String::new(),
            });
        }
        self.result.members += 1;
        let mut whole = Cursor::new(head).chain(reader);
        let mut found = Vec::new();
        let outcome = self.scanner.scan(&mut whole, &mut found);
        self.result
            .hits
            .extend(found.into_iter().map(|mut located| {
                located.candidate.encoding = Encoding::Archive;
                MemberHit {
                    member: member.to_string(),
                    located,
                }
            }));
        if let Err(e) = outcome {
            self.unreadable(member.to_string(), e.to_string());
        }
    }

    /// Reads a bounded member and accounts for what was read and what stopped it.
    fn read_member<R: Read>(
        &mut self,
        inner: R,
        compressed: Option<u64>,
        size: Option<u64>,
        member: &str,
        depth: u32,
    ) {
        let mut bounded = self.bounded(inner, compressed);
        self.member(&mut bounded, member, depth, size);
        self.result.bytes += bounded.read;
        if bounded.hit {
            self.skip(Skipped {
                member: member.to_string(),
                bound: bounded.bound,
                detail: String::new(),
            });
        }
    }

    fn zip<R: Read + Seek>(&mut self, input: R, prefix: &str, depth: u32) {
        let mut archive = match zip::ZipArchive::new(input) {
            Ok(archive) => archive,
            Err(e) => return self.unreadable(prefix.to_string(), e.to_string()),
        };
        if archive.has_duplicate_names() {
            // The zip library keeps one member of each name, the last listed: say what it drops.
            let detail = "members share a name: only the last listed of each name was read";
            self.unreadable(prefix.to_string(), detail.to_string());
        }
        for index in 0..archive.len() {
            if self.bytes_left() == 0 {
                self.skip(Skipped {
                    member: prefix.to_string(),
                    bound: Bound::Bytes,
                    detail: String::new(),
                });
                return;
            }
            if self.zip_member_in_one_call(&mut archive, index, prefix, depth) {
                continue;
            }
            let listed = match archive.name_for_index(index) {
                Some(Ok(name)) => name.to_string(),
                _ => format!("#{index}"),
            };
            let mut file = match archive.by_index(index) {
                Ok(file) => file,
                Err(e) => {
                    self.unreadable(join(prefix, &listed), e.to_string());
                    continue;
                }
            };
            // A name ending in `/` with content still holds bytes: only an empty one is a folder.
            if file.is_dir() && file.size() == 0 {
                continue;
            }
            let listed = String::from_utf8_lossy(file.name_raw()).into_owned();
            let name = join(prefix, &listed);
            if !self.entry(&name) {
                return;
            }
            self.name_keys(prefix, &listed);
            // The size a zip lists is not checked before the member's end: a stream in it is held
            // to the ratio of what its decoder consumed, not of a size that may be a lie (a
            // member inflated in one call above has its size checked).
            let compressed = file.compressed_size();
            self.read_member(&mut file, Some(compressed), None, &name, depth);
        }
    }

    /// Scans a deflated zip member that its listed sizes say fits every bound, inflated whole in
    /// one call (libdeflate, a third faster than streaming through zlib): true when it was. It is
    /// false, and nothing is counted or said, for any other member and for one whose data does
    /// not inflate to exactly its listed size and checksum: the streaming path reads that one and
    /// says what is wrong with it.
    fn zip_member_in_one_call<R: Read + Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        index: usize,
        prefix: &str,
        depth: u32,
    ) -> bool {
        let Ok(entry) = archive.by_index_data(index) else {
            return false;
        };
        let (size, compressed, crc) = (entry.size(), entry.compressed_size(), entry.crc32());
        let by_ratio = compressed
            .max(RATIO_FLOOR)
            .saturating_mul(self.limits.max_ratio);
        if entry.compression() != zip::CompressionMethod::Deflated
            || entry.encrypted()
            || entry.is_dir() && size == 0
            || size > self.one_call.min(self.bytes_left()).min(by_ratio)
            || compressed > self.one_call
            // A member that inflates more than ONE_CALL_RATIO times is streamed: libdeflate
            // inflates the last bytes of its input on its slow path, byte by byte, and in a member
            // of a few dozen bytes that is all of it (six times slower than zlib-rs).
            || size > compressed.saturating_mul(ONE_CALL_RATIO)
            // One beyond the entries bound is left to the streaming path, which says so and stops
            // the archive there (not inflated first, nor each member after it).
            || self.entries >= self.limits.max_entries
        {
            return false;
        }
        let listed = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let mut inflate = self.inflate.pop().unwrap_or_default();
        let inflated = inflate.inflate(archive, index, size as usize, crc);
        if inflated {
            let name = join(prefix, &listed);
            if self.entry(&name) {
                self.name_keys(prefix, &listed);
                let content = &inflate.out[..size as usize];
                let (head, rest) = content.split_at(content.len().min(FIRST_READ));
                self.member_read(head, &mut { rest }, &name, depth, Some(size));
                // Counted after the member, as a streamed one is (a zip nested in it has the
                // bytes left before it).
                self.result.bytes += size;
            }
        }
        self.inflate.push(inflate);
        inflated
    }

    /// A zip inside an archive: zip needs to seek, so it is read first, into memory up to
    /// [`NESTED_ZIP_IN_MEMORY`], beyond that into an unnamed temporary file (deleted when closed),
    /// so memory stays bounded whatever the nesting.
    fn nested_zip(&mut self, reader: &mut dyn Read, member: &str, depth: u32) {
        let mut bounded = Bounded {
            inner: reader,
            read: 0,
            limit: self.bytes_left(),
            bound: Bound::Bytes,
            hit: false,
            consumed: None,
        };
        let mut bytes = Vec::new();
        let result = (&mut bounded)
            .take(NESTED_ZIP_IN_MEMORY)
            .read_to_end(&mut bytes);
        if let Err(e) = result {
            return self.unreadable(member.to_string(), e.to_string());
        }
        if bytes.len() as u64 == NESTED_ZIP_IN_MEMORY {
            let spilled = tempfile::tempfile().and_then(|mut file| {
                file.write_all(&bytes)?;
                io::copy(&mut bounded, &mut file)?;
                Ok(file)
            });
            drop(bytes);
            match spilled {
                Ok(file) if !bounded.hit => self.nested_zip_of(file, member, depth),
                Ok(_) => self.partial_zip(member),
                Err(e) => self.unreadable(member.to_string(), e.to_string()),
            }
        } else if bounded.hit {
            self.partial_zip(member);
        } else {
            self.nested_zip_of(Cursor::new(bytes), member, depth);
        }
    }

    /// A zip read in part has no central directory: say so and leave it.
    fn partial_zip(&mut self, member: &str) {
        self.skip(Skipped {
            member: member.to_string(),
            bound: Bound::Bytes,
            detail: String::new(),
        });
    }

    fn nested_zip_of<R: Read + Seek>(&mut self, mut input: R, member: &str, depth: u32) {
        // The nested zip's own bytes (its comment, extra fields, names) are scanned as they are
        // too, like an outermost archive's: what its members hold is reported in them.
        let mut raw = Vec::new();
        if let Err(e) = input
            .rewind()
            .and_then(|()| self.scanner.scan(&mut input, &mut raw).map(|_| ()))
        {
            self.unreadable(member.to_string(), e.to_string());
        }
        let before = self.result.hits.len();
        self.zip(input, member, depth);
        let in_members: std::collections::HashSet<&crate::findings::Secret> = self.result.hits
            [before..]
            .iter()
            .map(|m| &m.located.candidate.secret)
            .collect();
        raw.retain(|r| !in_members.contains(&r.candidate.secret));
        self.result.hits.extend(raw.into_iter().map(|mut located| {
            located.candidate.encoding = Encoding::Archive;
            MemberHit {
                member: member.to_string(),
                located,
            }
        }));
    }

    /// A compressed stream (gzip, bzip2, xz, zstd) of `compressed` bytes (0: unknown).
    fn stream(
        &mut self,
        kind: Kind,
        input: &mut dyn Read,
        prefix: &str,
        compressed: u64,
        depth: u32,
    ) {
        debug_assert!(kind.is_stream());
        // Inside another stream, a stream's size is known only at its end: its ratio is bounded
        // by what its decoder has consumed so far.
        let count = Rc::new(Cell::new(0));
        let mut counting = Counting {
            inner: input,
            count: Rc::clone(&count),
        };
        let input: &mut dyn Read = &mut counting;
        // What concatenated bzip2 streams may owe: what the stream may give.
        let budget = match compressed {
            0 => self.bytes_left(),
            c => c
                .max(RATIO_FLOOR)
                .saturating_mul(self.limits.max_ratio)
                .min(self.bytes_left()),
        };
        let compressed = if compressed > 0 {
            Packed::Known(compressed)
        } else {
            Packed::Counted(count)
        };
        // The window an xz or zstd decoder may hold: an outermost stream the most any ordinary
        // one needs (`zstd --long`, `xz -9`), one nested in another archive less, so that streams
        // nested in streams cannot each take the most.
        let memory = if depth <= 1 {
            UNPACK_MEMORY
        } else {
            NESTED_UNPACK_MEMORY
        };
        match kind {
            Kind::Gzip => self.unpack(
                kind,
                MultiGzDecoder::new(input),
                |d| d.header().and_then(|h| h.filename()).map(<[u8]>::to_vec),
                prefix,
                compressed,
                depth,
            ),
            Kind::Bzip2 => self.unpack(
                kind,
                BzStreams::new(io::BufReader::new(input), budget),
                |_| None,
                prefix,
                compressed,
                depth,
            ),
            Kind::Xz => {
                match liblzma::stream::Stream::new_stream_decoder(
                    memory,
                    liblzma::stream::CONCATENATED,
                ) {
                    Ok(stream) => self.unpack(
                        kind,
                        liblzma::read::XzDecoder::new_stream(input, stream),
                        |_| None,
                        prefix,
                        compressed,
                        depth,
                    ),
                    Err(e) => self.unreadable(prefix.to_string(), e.to_string()),
                }
            }
            _ => self.unpack(
                kind,
                ZstdFrames::new(io::BufReader::new(input), memory),
                |_| None,
                prefix,
                compressed,
                depth,
            ),
        }
    }

    /// A compressed stream's content, read through `decoder`: a tar inside is read as a compressed
    /// tar (one level), anything else as the one member the stream holds, named by its header
    /// (`header_name`, gzip's) else after the stream.
    fn unpack<D: Read>(
        &mut self,
        kind: Kind,
        mut decoder: D,
        header_name: impl Fn(&D) -> Option<Vec<u8>>,
        prefix: &str,
        compressed: Packed,
        depth: u32,
    ) {
        let mut bounded = match compressed {
            Packed::Known(compressed) => self.bounded(&mut decoder, Some(compressed)),
            Packed::Counted(count) => Bounded {
                consumed: Some((count, self.limits.max_ratio)),
                ..self.bounded(&mut decoder, None)
            },
        };
        let mut head = vec![0; HEAD];
        let (n, error) = read_up_to(&mut bounded, &mut head);
        head.truncate(n);
        let is_tar = sniff(&head) == Some(Kind::Tar);
        let header = header_name(&*bounded.inner);
        // What was read before an error (a stream cut short within its first bytes) is scanned,
        // and the error said, as from any later read.
        let mut failed = Failed(error);
        let rest: &mut dyn Read = if failed.0.is_some() {
            &mut failed
        } else {
            &mut bounded
        };
        let mut whole = Cursor::new(head).chain(rest);
        if is_tar {
            self.tar_entries(&mut whole, prefix, depth);
        } else {
            let stream = if prefix.is_empty() { self.name } else { prefix };
            let listed = unpacked_name(kind, stream, header.as_deref());
            if header.is_some_and(|n| !n.is_empty()) {
                self.name_keys(prefix, &listed);
            }
            let name = join(prefix, &listed);
            self.member(&mut whole, &name, depth, None);
        }
        self.result.bytes += bounded.read;
        if bounded.hit {
            self.skip(Skipped {
                member: prefix.to_string(),
                bound: bounded.bound,
                detail: String::new(),
            });
        }
    }

    fn tar(&mut self, input: &mut dyn Read, prefix: &str, depth: u32) {
        // An uncompressed tar's members are stored: they count against the bytes bound as read.
        let mut bounded = self.bounded(input, None);
        self.tar_entries(&mut bounded, prefix, depth);
        self.result.bytes += bounded.read;
        if bounded.hit {
            self.skip(Skipped {
                member: prefix.to_string(),
                bound: Bound::Bytes,
                detail: String::new(),
            });
        }
    }

    /// The entries of a tar stream whose bytes are already bounded and counted by the caller.
    fn tar_entries(&mut self, input: &mut dyn Read, prefix: &str, depth: u32) {
        let mut archive = tar::Archive::new(input);
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => return self.unreadable(prefix.to_string(), e.to_string()),
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(e) => return self.unreadable(prefix.to_string(), e.to_string()),
            };
            // Entries with no content of their own are left; every other type is read, as GNU tar
            // extracts contiguous files ('7') and unknown types as regular files.
            use tar::EntryType as T;
            if matches!(
                entry.header().entry_type(),
                T::Directory | T::Symlink | T::Link | T::Char | T::Block | T::Fifo
            ) {
                continue;
            }
            let listed = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = join(prefix, &listed);
            if !self.entry(&name) {
                return;
            }
            self.name_keys(prefix, &listed);
            // Stored, not compressed: the bytes bound of the stream applies, not the ratio.
            let size = entry.size();
            self.member(&mut entry, &name, depth, Some(size));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::matching::Matcher;
    use crate::rules::RuleSet;

    fn key() -> String {
        format!("sk_live_{}", "Ar7Kq2Wm9Rb4Xv8Lp3Nc6Hd1")
    }

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, bytes) in members {
            zip.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    fn stored_zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, bytes) in members {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(bytes.len() > u32::MAX as usize);
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_large_nested_zip_is_read_through_a_temporary_file_not_memory() {
        // 17 MiB of filler, then the key: beyond what a nested zip may take in memory.
        let mut text = vec![b'.'; 17 << 20];
        text.extend_from_slice(format!("\nkey={}\n", key()).as_bytes());
        let inner = stored_zip_of(&[("big.txt", &text)]);
        let outer = stored_zip_of(&[("lib/inner.zip", &inner)]);
        let s = scan(&outer, &Limits::default());
        assert!(
            places(&s).contains(&("lib/inner.zip!big.txt".to_string(), 2)),
            "{:?}",
            places(&s)
        );
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    }

    #[test]
    fn the_ratio_bound_holds_for_a_gzip_inside_an_archive() {
        let mut text = format!("k={}\n", key()).into_bytes();
        text.resize(4 << 20, b'0');
        let strict = Limits {
            max_ratio: 100,
            ..Limits::default()
        };
        let doc = stored_zip_of(&[("nested.gz", &gzip_of(&text))]);
        let s = scan(&doc, &strict);
        assert_eq!(places(&s).len(), 1);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].bound, Bound::Ratio);
    }

    #[test]
    fn parts_not_read_whole_are_said_for_the_first_few_and_counted_for_the_rest() {
        let broken: Vec<(String, Vec<u8>)> = (0..30)
            .map(|i| (format!("b{i:02}.zip"), b"PK\x03\x04 broken".to_vec()))
            .collect();
        let members: Vec<(&str, &[u8])> = broken
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let s = scan(&tar_of(&members), &Limits::default());
        assert_eq!(s.skipped.len(), SKIPS_SAID);
        assert_eq!(s.skipped_more, 10);
        assert_eq!(s.bounds_reached(), 30);
        let lines = s.describe_skips("t.tar");
        assert_eq!(lines.len(), SKIPS_SAID + 1);
        assert!(lines.last().unwrap().contains("10 more parts"), "{lines:?}");
    }

    fn gzip_of(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn scan(bytes: &[u8], limits: &Limits) -> ArchiveScan {
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let kind = sniff(bytes).expect("an archive");
        scan_bytes(&mut scanner, "test.bin", bytes, kind, limits)
    }

    fn places(scan: &ArchiveScan) -> Vec<(String, u64)> {
        scan.hits
            .iter()
            .map(|h| (h.member.clone(), h.located.line))
            .collect()
    }

    /// [`scan_file`] over a real file holding `bytes`, told it is `len` bytes long.
    fn scan_a_file(bytes: &[u8], len: u64) -> ArchiveScan {
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let kind = sniff(bytes).expect("an archive");
        scan_file(
            &mut scanner,
            "a.zip",
            &mut file,
            len,
            kind,
            &Limits::default(),
        )
    }

    #[test]
    fn a_zip_file_is_read_whole_into_memory_or_where_it_lies_with_the_same_findings() {
        let mut filler = vec![b'.'; 1 << 20];
        filler.extend_from_slice(format!("\nkey={}\n", key()).as_bytes());
        let member = format!("k={}\n", key());
        let small = zip_of(&[("a.txt", &filler), ("dir/b.env", member.as_bytes())]);
        let want = vec![("a.txt".to_string(), 2), ("dir/b.env".to_string(), 1)];
        // Small: read into memory whole.
        assert_eq!(places(&scan_a_file(&small, small.len() as u64)), want);
        // Larger than the in-memory size: read where it lies; and so when it was small when
        // opened and has grown since.
        let mut big = vec![b'.'; FILE_ZIP_IN_MEMORY as usize + 1];
        big.extend_from_slice(format!("\nkey={}\n", key()).as_bytes());
        let large = stored_zip_of(&[("big.txt", &big), ("dir/b.env", member.as_bytes())]);
        assert!(large.len() as u64 > FILE_ZIP_IN_MEMORY);
        let want = vec![("big.txt".to_string(), 2), ("dir/b.env".to_string(), 1)];
        assert_eq!(places(&scan_a_file(&large, large.len() as u64)), want);
        assert_eq!(places(&scan_a_file(&large, 1000)), want);
    }

    #[test]
    fn a_key_in_a_member_name_is_a_finding_at_line_zero() {
        // In a .tgz the member names are compressed: the file's bytes as they are hold no key.
        let named = format!("pkg/{}.env", key());
        let tgz = gzip_of(&tar_of(&[(named.as_str(), b"nothing here")]));
        let s = scan(&tgz, &Limits::default());
        assert_eq!(places(&s), vec![(named.clone(), 0)]);
        assert_eq!(s.hits[0].located.column, 5);
        assert_eq!(s.hits[0].located.candidate.secret.expose(), key());
        // Nested: the column counts the whole member path.
        let zip = zip_of(&[("inner.tgz", &tgz)]);
        let s = scan(&zip, &Limits::default());
        assert_eq!(places(&s), vec![(format!("inner.tgz!{named}"), 0)]);
        assert_eq!(s.hits[0].located.column, 15);
    }

    #[test]
    fn a_nested_archives_own_bytes_and_gzip_names_are_scanned() {
        // A key in the comment of a zip inside a zip: in no member, and compressed in the outer.
        let mut inner = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut inner);
        zip.start_file("x.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"nothing").unwrap();
        zip.set_comment(key()).unwrap();
        zip.finish().unwrap();
        let outer = zip_of(&[("inner.zip", inner.get_ref().as_slice())]);
        let s = scan(&outer, &Limits::default());
        assert_eq!(places(&s), vec![("inner.zip".to_string(), 1)]);
        assert_eq!(s.hits[0].located.candidate.secret.expose(), key());
        // A key in the file name of a gzip header, inside a zip.
        let mut gz = flate2::GzBuilder::new()
            .filename(format!("{}.txt", key()))
            .write(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hi").unwrap();
        let outer = zip_of(&[("inner.gz", gz.finish().unwrap().as_slice())]);
        let s = scan(&outer, &Limits::default());
        assert_eq!(places(&s), vec![(format!("inner.gz!{}.txt", key()), 0)]);
    }

    #[test]
    fn a_zip_member_named_like_a_folder_with_content_is_scanned() {
        let text = format!("k={}\n", key());
        let doc = zip_of(&[("conf/", text.as_bytes())]);
        assert_eq!(
            places(&scan(&doc, &Limits::default())),
            vec![("conf/".to_string(), 1)]
        );
    }

    #[test]
    fn tar_entries_of_every_content_type_are_scanned() {
        // GNU tar extracts contiguous files ('7') and unknown types as regular files: an
        // attacker's typeflag must not hide a member's content.
        let text = format!("k={}\n", key());
        for flag in [b'7', b'Z'] {
            let mut tar = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::new(flag));
            header.set_cksum();
            tar.append_data(&mut header, "m.txt", text.as_bytes())
                .unwrap();
            let tgz = gzip_of(&tar.into_inner().unwrap());
            let s = scan(&tgz, &Limits::default());
            assert_eq!(
                places(&s),
                vec![("m.txt".to_string(), 1)],
                "typeflag {flag}"
            );
        }
    }

    #[test]
    fn kinds_are_told_by_content() {
        assert_eq!(sniff(&gzip_of(b"x")), Some(Kind::Gzip));
        assert_eq!(sniff(&zip_of(&[("a", b"x")])), Some(Kind::Zip));
        assert_eq!(sniff(&tar_of(&[("a", b"x")])), Some(Kind::Tar));
        assert_eq!(sniff(b"PK is a name"), None);
        assert_eq!(sniff(&[0x1f, 0x8b]), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn keys_are_found_in_members_at_their_line() {
        let text = format!("a\nb\nkey={}\n", key());
        let doc = zip_of(&[
            ("README", b"nothing"),
            ("config/app.properties", text.as_bytes()),
        ]);
        let s = scan(&doc, &Limits::default());
        assert_eq!(places(&s), vec![("config/app.properties".to_string(), 3)]);
        assert_eq!(s.hits[0].located.candidate.encoding, Encoding::Archive);
        assert_eq!(s.hits[0].located.candidate.secret.expose(), key());
        assert_eq!(s.members, 2);
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    }

    #[test]
    fn compressed_tar_gzip_and_nesting_to_the_depth() {
        let text = format!("k={}\n", key());
        let tgz = gzip_of(&tar_of(&[("pkg/.env", text.as_bytes())]));
        assert_eq!(
            places(&scan(&tgz, &Limits::default())),
            vec![("pkg/.env".to_string(), 1)]
        );
        // A gzip of a plain file: the member is named after the file.
        let gz = gzip_of(text.as_bytes());
        assert_eq!(places(&scan(&gz, &Limits::default())).len(), 1);
        // zip → tgz → zip → file: four levels.
        let inner = zip_of(&[("deep.txt", text.as_bytes())]);
        let middle = gzip_of(&tar_of(&[("inner.zip", &inner)]));
        let outer = zip_of(&[("lib/middle.tgz", &middle)]);
        let deep = Limits {
            depth: 3,
            ..Limits::default()
        };
        assert_eq!(
            places(&scan(&outer, &deep)),
            vec![("lib/middle.tgz!inner.zip!deep.txt".to_string(), 1)]
        );
        let shallow = Limits {
            depth: 2,
            ..Limits::default()
        };
        let s = scan(&outer, &shallow);
        assert!(s.hits.is_empty());
        assert_eq!(s.skipped[0].bound, Bound::Depth);
        assert_eq!(s.skipped[0].member, "lib/middle.tgz!inner.zip");
    }

    fn bzip2_of(bytes: &[u8]) -> Vec<u8> {
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(bytes).unwrap();
        bz.finish().unwrap()
    }

    fn xz_of(bytes: &[u8]) -> Vec<u8> {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(bytes).unwrap();
        xz.finish().unwrap()
    }

    fn zstd_of(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        ruzstd::encoding::compress(bytes, &mut out, ruzstd::encoding::CompressionLevel::Fastest);
        out
    }

    /// An encoder of one kind of compressed stream.
    type Encode = fn(&[u8]) -> Vec<u8>;

    /// Each of the compressed streams other than gzip, by name, with its encoder.
    fn streams() -> [(&'static str, Kind, Encode); 3] {
        [
            ("bz2", Kind::Bzip2, bzip2_of),
            ("xz", Kind::Xz, xz_of),
            ("zst", Kind::Zstd, zstd_of),
        ]
    }

    #[test]
    fn bzip2_xz_and_zstd_are_opened_like_gzip() {
        let text = format!("x\nk={}\n", key());
        for (ext, kind, encode) in streams() {
            // A compressed tar, a compressed file named after itself, and both nested in a zip.
            let tarball = encode(&tar_of(&[("pkg/.env", text.as_bytes())]));
            assert_eq!(sniff(&tarball), Some(kind), "{ext}");
            assert_eq!(
                places(&scan(&tarball, &Limits::default())),
                [("pkg/.env".to_string(), 2)],
                "{ext}"
            );
            let file = encode(text.as_bytes());
            let doc = zip_of(&[
                (&format!("dist/app.tar.{ext}"), &tarball),
                (&format!("logs/app.log.{ext}"), &file),
            ]);
            assert_eq!(
                places(&scan(&doc, &Limits::default())),
                [
                    (format!("dist/app.tar.{ext}!pkg/.env"), 2),
                    (format!("logs/app.log.{ext}!app.log"), 2)
                ],
                "{ext}"
            );
            // Their bounds hold as gzip's do: a bomb is named, what came before it reported.
            let mut bomb = text.clone().into_bytes();
            bomb.resize(8 << 20, b'0');
            let strict = Limits {
                max_ratio: 100,
                ..Limits::default()
            };
            let s = scan(&encode(&bomb), &strict);
            assert_eq!(places(&s).len(), 1, "{ext}");
            assert_eq!(s.skipped.len(), 1, "{ext}: {:?}", s.skipped);
            assert_eq!(s.skipped[0].bound, Bound::Ratio, "{ext}");
            // A stream cut short: what was read is reported, and the cut is said.
            let mut long: Vec<u8> = (0u32..200_000)
                .flat_map(|i| format!("{i:x}\n").into_bytes())
                .collect();
            long.splice(0..0, text.bytes());
            let mut cut = encode(&long);
            cut.truncate(cut.len() / 2);
            let s = scan(&cut, &Limits::default());
            assert_eq!(places(&s).len(), 1, "{ext}: {:?}", s.skipped);
            assert_eq!(s.skipped[0].bound, Bound::Unreadable, "{ext}");
        }
        // Text that starts like bzip2's header is text.
        assert_eq!(sniff(b"BZh9 is how a bzip2 file starts"), None);
    }

    #[test]
    fn corrupt_compressed_streams_are_said_never_a_panic() {
        let text: Vec<u8> = (0u32..3000)
            .flat_map(|i| format!("line {i} k={}\n", key()).into_bytes())
            .collect();
        let mut rng = fastrand::Rng::with_seed(11);
        let rounds: usize = std::env::var("SKGUARD_CORRUPT_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(150);
        for (ext, _, encode) in streams() {
            let good = encode(&tar_of(&[("a.txt", &text)]));
            for round in 0..rounds {
                let mut doc = good.clone();
                // Flip, overwrite or cut: a few bytes anywhere, more near the headers.
                for _ in 0..rng.usize(1..8) {
                    let at = if rng.bool() {
                        rng.usize(..doc.len().min(64))
                    } else {
                        rng.usize(..doc.len())
                    };
                    match rng.u8(..3) {
                        0 => doc[at] ^= 1 << rng.u8(..8),
                        1 => doc[at] = rng.u8(..),
                        _ => doc.truncate(at.max(6)),
                    }
                }
                if sniff(&doc).is_none() {
                    continue;
                }
                let s = scan(&doc, &Limits::default());
                // Whatever was read is reported; what could not be read is said.
                assert!(
                    !s.skipped.is_empty() || s.members > 0,
                    "{ext} round {round}: neither read nor said"
                );
            }
        }
    }

    #[test]
    fn an_unnamed_stream_member_is_named_after_the_path_it_is_reported_at() {
        assert_eq!(
            member_at("db/dump.sql.bz2", "(bunzipped)"),
            "db/dump.sql.bz2!dump.sql"
        );
        assert_eq!(
            member_at("logs/a.log.gz", "(gunzipped)"),
            "logs/a.log.gz!a.log"
        );
        assert_eq!(
            member_at("x.zst", "(unzstd'd)!inner/.env"),
            "x.zst!x!inner/.env"
        );
        assert_eq!(member_at("blob", "(unxz'd)"), "blob!(unxz'd)");
        assert_eq!(
            member_at("a.jar", "config/(gunzipped)"),
            "a.jar!config/(gunzipped)"
        );
        assert_eq!(member_at("a.tgz", "pkg/.env"), "a.tgz!pkg/.env");
        // What a bound stopped there is said at the same name.
        let skipped = Skipped {
            member: "(unzstd'd)!inner.gz".to_string(),
            bound: Bound::Depth,
            detail: String::new(),
        };
        assert!(
            skipped
                .describe("db/x.tar.zst")
                .starts_with("db/x.tar.zst!x.tar!inner.gz: "),
            "{}",
            skipped.describe("db/x.tar.zst")
        );
    }

    #[test]
    fn a_nested_stream_gets_a_smaller_window_than_an_outermost_one() {
        // A zstd frame declaring a 128 MiB window (`zstd --long=27`), holding one raw last block.
        let text = format!("k={}\n", key()).into_bytes();
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3];
        let header = 1 | (text.len() as u32) << 3;
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.extend_from_slice(&text);
        assert_eq!(places(&scan(&frame, &Limits::default())).len(), 1);
        let s = scan(&zip_of(&[("a.zst", &frame)]), &Limits::default());
        assert!(s.hits.is_empty(), "{:?}", places(&s));
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].member, "a.zst!a");
        assert!(s.skipped[0].detail.contains("window"), "{:?}", s.skipped);
    }

    #[test]
    fn zstd_frames_one_after_the_other_and_skippable_ones_are_read() {
        let text = format!("k={}\n", key());
        let mut doc = zstd_of(b"first frame\n");
        // A skippable frame (magic 0x184D2A50, 4 bytes of length, then that many bytes).
        doc.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        doc.extend_from_slice(&5u32.to_le_bytes());
        doc.extend_from_slice(b"skip!");
        doc.extend_from_slice(&zstd_of(text.as_bytes()));
        assert_eq!(
            places(&scan(&doc, &Limits::default())),
            [("(unzstd'd)".to_string(), 2)]
        );
    }

    #[test]
    fn an_xz_stream_that_asks_for_too_much_memory_is_said_not_read() {
        let mut doc = xz_of(format!("k={}\n", key()).as_bytes());
        // The block header after the 12-byte stream header: size, flags, the LZMA2 filter (0x21),
        // its one property byte (the dictionary size: 40 is 4 GiB - 1), padding, then its CRC-32.
        let size = (usize::from(doc[12]) + 1) * 4;
        assert_eq!(doc[14..16], [0x21, 0x01]);
        doc[16] = 40;
        let crc = libdeflater::crc32(&doc[12..12 + size - 4]).to_le_bytes();
        doc[12 + size - 4..12 + size].copy_from_slice(&crc);
        let s = scan(&doc, &Limits::default());
        assert!(s.hits.is_empty());
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].bound, Bound::Unreadable);
        assert!(s.skipped[0].detail.contains("memory"), "{:?}", s.skipped);
    }

    /// A zstd block as its header (last, type, size) and body: raw (0) holds `body`, RLE (1) is
    /// `size` times `body[0]`.
    fn zstd_block(last: bool, kind: u32, size: usize, body: &[u8]) -> Vec<u8> {
        let header = (size as u32) << 3 | kind << 1 | u32::from(last);
        let mut block = header.to_le_bytes()[..3].to_vec();
        block.extend_from_slice(body);
        block
    }

    /// A zstd frame of `blocks` with a window of 2^`window_log` bytes (`checksum`: its flag set).
    fn zstd_frame(window_log: u8, checksum: bool, blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, u8::from(checksum) << 2];
        frame.push((window_log - 10) << 3);
        frame.extend(blocks.concat());
        frame
    }

    #[test]
    fn a_zstd_frame_cut_short_gives_what_its_window_held() {
        let text = format!("x\nk={}\n", key());
        let raw = |last: bool, body: &[u8]| zstd_block(last, 0, body.len(), body);
        // A 1 MiB window: the decoder holds back what it decoded until the frame ends.
        let mut cut = zstd_frame(
            20,
            false,
            &[raw(false, text.as_bytes()), raw(true, &[b'.'; 900])],
        );
        cut.truncate(cut.len() - 400);
        // Whole, but for its checksum.
        let no_checksum = zstd_frame(20, true, &[raw(true, text.as_bytes())]);
        for doc in [cut, no_checksum] {
            let s = scan(&doc, &Limits::default());
            assert_eq!(
                places(&s),
                [("(unzstd'd)".to_string(), 2)],
                "{:?}",
                s.skipped
            );
            assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
            assert_eq!(s.skipped[0].bound, Bound::Unreadable);
        }
        // Inside a zip, where the member's own bytes are not scanned.
        let mut cut = zstd_frame(
            20,
            false,
            &[raw(false, text.as_bytes()), raw(true, &[b'.'; 900])],
        );
        cut.truncate(cut.len() - 400);
        let doc = zip_of(&[("data.zst", &cut)]);
        assert_eq!(
            places(&scan(&doc, &Limits::default())),
            [("data.zst!data".to_string(), 2)]
        );
    }

    #[test]
    fn a_short_stream_cut_short_gives_what_was_read() {
        // Its first 512 bytes (read to tell a tar) end in the error: they are scanned all the same.
        let text = format!("x\nk={}\n", key());
        let mut cases = vec![("gz", gzip_of(text.as_bytes()), 4)];
        cases.extend(streams().map(|(ext, _, encode)| (ext, encode(text.as_bytes()), 12)));
        for (ext, stream, cut) in cases {
            let cut = &stream[..stream.len() - cut];
            let doc = zip_of(&[(&format!("conf/.env.{ext}"), cut)]);
            let s = scan(&doc, &Limits::default());
            if ext == "bz2" || ext == "zst" {
                // bzip2 and zstd give a block only once it is whole (here, the one block).
                assert!(places(&s).is_empty(), "{ext}");
            } else {
                assert_eq!(
                    places(&s),
                    [("conf/.env.{ext}!.env".replace("{ext}", ext), 2)],
                    "{ext}"
                );
            }
            assert_eq!(s.skipped.len(), 1, "{ext}: {:?}", s.skipped);
            assert_eq!(s.skipped[0].bound, Bound::Unreadable, "{ext}");
        }
    }

    #[test]
    fn many_small_bzip2_streams_are_bounded_like_a_bomb() {
        // Each stream clears its block's memory (3.6 MB at level 9) for the one byte it holds.
        let text = format!("x\nk={}\n", key());
        let level9 = |bytes: &[u8]| {
            let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            bz.write_all(bytes).unwrap();
            bz.finish().unwrap()
        };
        let mut doc = level9(text.as_bytes());
        let one = level9(b"x");
        for _ in 0..3000 {
            doc.extend_from_slice(&one);
        }
        let strict = Limits {
            max_ratio: 100,
            ..Limits::default()
        };
        let s = scan(&doc, &strict);
        assert_eq!(places(&s), [("(bunzipped)".to_string(), 2)]);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert!(
            s.skipped[0].detail.contains("block size"),
            "{:?}",
            s.skipped
        );
        // pbzip2's streams, one per full block, owe nothing.
        let block: Vec<u8> = (0u32..120_000)
            .flat_map(|i| format!("{i:x}\n").into_bytes())
            .take(900_000)
            .collect();
        let mut doc = level9(text.as_bytes());
        for _ in 0..3 {
            doc.extend_from_slice(&level9(&block));
        }
        let s = scan(&doc, &strict);
        assert_eq!(places(&s).len(), 1);
        assert!(s.skipped.is_empty(), "{:?}", s.skipped);
        assert_eq!(s.bytes, (text.len() + 3 * block.len()) as u64);
    }

    #[test]
    fn a_stream_in_a_zip_member_whose_listed_size_lies_is_held_to_its_ratio() {
        // A zstd frame of 16 MiB from 700 bytes (RLE blocks), its key first, in a zip member that
        // lists 4 GB: a ratio counted on the listed size would let it all through.
        let bomb = zstd_bomb();
        let mut doc = zip_of(&[("a.zst", &bomb)]);
        let lie = 0xFFFF_FFF0u32.to_le_bytes();
        doc[22..26].copy_from_slice(&lie);
        let central = doc.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        doc[central + 24..central + 28].copy_from_slice(&lie);
        let strict = Limits {
            max_ratio: 100,
            ..Limits::default()
        };
        let s = scan(&doc, &strict);
        assert_eq!(places(&s), [("a.zst!a".to_string(), 2)]);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert_eq!(s.skipped[0].bound, Bound::Ratio);
        assert!(s.bytes < 2 << 20, "{} bytes", s.bytes);
    }

    #[test]
    fn a_zstd_stream_that_starts_with_a_skippable_frame_is_opened() {
        // As pzstd writes it: before each frame, a skippable frame holding the frame's size.
        let text = format!("x\nk={}\n", key());
        let frame = zstd_of(&tar_of(&[("pkg/.env", text.as_bytes())]));
        let mut doc = 0x184D_2A50u32.to_le_bytes().to_vec();
        doc.extend_from_slice(&4u32.to_le_bytes());
        doc.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        doc.extend_from_slice(&frame);
        assert_eq!(sniff(&doc), Some(Kind::Zstd));
        assert_eq!(
            places(&scan(&doc, &Limits::default())),
            [("pkg/.env".to_string(), 2)]
        );
        // Those four bytes followed by anything else are not zstd.
        doc.truncate(12);
        doc.extend_from_slice(b"text goes on");
        assert_eq!(sniff(&doc), None);
    }

    #[test]
    fn text_that_starts_like_a_bzip2_block_is_text() {
        let text = format!("BZh91AY&SY is how a bzip2 block starts\nk={}\n", key());
        assert_eq!(sniff(text.as_bytes()), None);
        for doc in [
            tar_of(&[("notes/bzip2.txt", text.as_bytes())]),
            zip_of(&[("notes/bzip2.txt", text.as_bytes())]),
        ] {
            let s = scan(&doc, &Limits::default());
            assert_eq!(places(&s), [("notes/bzip2.txt".to_string(), 2)]);
            assert!(s.skipped.is_empty(), "{:?}", s.skipped);
        }
        // Real bzip2 at every level, of text and of random bytes, is still bzip2.
        let mut rng = fastrand::Rng::with_seed(5);
        let noise: Vec<u8> = (0..300_000).map(|_| rng.u8(..)).collect();
        for level in 1..=9 {
            for bytes in [text.as_bytes(), &noise[..]] {
                let compression = bzip2::Compression::new(level);
                let mut bz = bzip2::write::BzEncoder::new(Vec::new(), compression);
                bz.write_all(bytes).unwrap();
                let doc = bz.finish().unwrap();
                assert_eq!(sniff(&doc), Some(Kind::Bzip2), "level {level}");
            }
        }
    }

    /// A zstd frame of 16 MiB from 700 bytes (RLE blocks), its key first (on line 2).
    fn zstd_bomb() -> Vec<u8> {
        let text = format!("x\nk={}\n", key());
        let mut blocks = vec![zstd_block(false, 0, text.len(), text.as_bytes())];
        blocks.extend((0..128).map(|_| zstd_block(false, 1, 128 << 10, b"0")));
        blocks.push(zstd_block(true, 0, 0, b""));
        zstd_frame(20, false, &blocks)
    }

    #[test]
    fn a_bomb_inside_a_stream_is_bounded_by_its_ratio() {
        // A zstd frame of 16 MiB from 700 bytes (RLE blocks), its key first, inside each stream:
        // its size is known only at its end, so its ratio is counted as its decoder consumes.
        let bomb = zstd_bomb();
        let strict = Limits {
            max_ratio: 100,
            ..Limits::default()
        };
        let mut outers = vec![("gz", gzip_of(&bomb))];
        outers.extend(streams().map(|(ext, _, encode)| (ext, encode(&bomb))));
        for (ext, doc) in outers {
            let s = scan(&doc, &strict);
            assert_eq!(places(&s).len(), 1, "{ext}");
            assert_eq!(s.skipped.len(), 1, "{ext}: {:?}", s.skipped);
            assert_eq!(s.skipped[0].bound, Bound::Ratio, "{ext}");
            assert!(s.bytes < 2 << 20, "{ext}: {} bytes", s.bytes);
        }
    }

    #[test]
    fn a_bomb_is_named_and_what_came_before_it_is_reported() {
        let mut text = format!("k={}\n", key()).into_bytes();
        text.resize(4 << 20, b'0');
        let doc = zip_of(&[("bomb.txt", &text)]);
        // 4 MiB of zeros deflate to about 4 KiB: a ratio near 1,000.
        let strict = Limits {
            max_ratio: 100,
            ..Limits::default()
        };
        let s = scan(&doc, &strict);
        assert_eq!(places(&s), vec![("bomb.txt".to_string(), 1)]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].bound, Bound::Ratio);
        assert!(s.bytes < 1 << 20, "{}", s.bytes);
    }

    #[test]
    fn bytes_and_entries_are_bounded_per_archive() {
        let text = format!("k={}\n", key());
        let many: Vec<(String, &[u8])> = (0..20)
            .map(|i| (format!("f{i:02}"), text.as_bytes()))
            .collect();
        let members: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let doc = zip_of(&members);
        let few = Limits {
            max_entries: 5,
            ..Limits::default()
        };
        let s = scan(&doc, &few);
        assert_eq!(s.hits.len(), 5);
        assert_eq!(s.skipped.last().unwrap().bound, Bound::Entries);
        let small = Limits {
            max_bytes: text.len() as u64 * 3,
            ..Limits::default()
        };
        let s = scan(&doc, &small);
        assert_eq!(s.hits.len(), 3);
        assert!(s.skipped.iter().any(|k| k.bound == Bound::Bytes));
    }

    #[test]
    fn corrupt_archives_are_said_never_a_panic() {
        let mut doc = zip_of(&[("a.txt", b"hello")]);
        let len = doc.len();
        doc.truncate(len - 10);
        let s = scan(&doc, &Limits::default());
        assert!(s.skipped.iter().any(|k| k.bound == Bound::Unreadable));
        let mut gz = gzip_of(format!("k={}\n", key()).as_bytes());
        gz.truncate(gz.len() - 4);
        let s = scan(&gz, &Limits::default());
        assert!(s.skipped.iter().any(|k| k.bound == Bound::Unreadable) || !s.hits.is_empty());
    }

    #[test]
    fn a_member_that_fails_in_its_first_read_is_said_by_name() {
        // A small member (read whole by the first read) whose stored CRC-32 is wrong: the zip
        // library says so only at its end, after handing over every byte.
        let text = format!("k={}\n", key());
        let mut doc = zip_of(&[("a.env", text.as_bytes()), ("b.txt", b"fine")]);
        let mut crc = flate2::Crc::new();
        crc.update(text.as_bytes());
        let stored = crc.sum().to_le_bytes();
        let mut patched = 0;
        for at in 0..doc.len() - 4 {
            if doc[at..at + 4] == stored {
                doc[at] ^= 0xff;
                patched += 1;
            }
        }
        assert_eq!(
            patched, 2,
            "the local header's and the central directory's CRC"
        );
        let s = scan(&doc, &Limits::default());
        let said: Vec<(&str, Bound, &str)> = s
            .skipped
            .iter()
            .map(|k| (k.member.as_str(), k.bound, k.detail.as_str()))
            .collect();
        assert_eq!(said, vec![("a.env", Bound::Unreadable, "Invalid checksum")]);
        // The key read before the error is reported with it, and the next member is read as usual.
        assert_eq!(places(&s), vec![("a.env".to_string(), 1)]);
        assert_eq!(s.members, 2);
    }

    /// Sets the inflated size that the local header and the central directory list for the member
    /// `name` of `doc` (a zip made by [`zip_of`]).
    fn list_size(doc: &mut [u8], name: &str, size: u32) {
        let mut patched = 0;
        for (signature, name_len_at, size_at, header_len) in
            [(b"PK\x03\x04", 26, 22, 30), (b"PK\x01\x02", 28, 24, 46)]
        {
            for at in 0..doc.len().saturating_sub(header_len) {
                let len = u16::from_le_bytes([doc[at + name_len_at], doc[at + name_len_at + 1]]);
                if &doc[at..at + 4] == signature
                    && doc.get(at + header_len..at + header_len + len as usize)
                        == Some(name.as_bytes())
                {
                    doc[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
                    patched += 1;
                }
            }
        }
        assert_eq!(
            patched, 2,
            "{name}: its local header and its central directory entry"
        );
    }

    /// What a scan says, in a form two scans can be compared by.
    fn said(s: &ArchiveScan) -> String {
        let hits: Vec<_> = s
            .hits
            .iter()
            .map(|h| {
                (
                    &h.member,
                    h.located.line,
                    h.located.column,
                    h.located.candidate.secret.fingerprint(),
                )
            })
            .collect();
        let skipped: Vec<_> = s
            .skipped
            .iter()
            .map(|k| (&k.member, k.bound, &k.detail))
            .collect();
        format!(
            "hits {hits:?}\nskipped {skipped:?} +{}\nmembers {} bytes {}",
            s.skipped_more, s.members, s.bytes
        )
    }

    /// The zip `doc` scanned with members inflated in one call, and with every member streamed.
    fn one_call_and_streamed(doc: &[u8], limits: &Limits) -> (ArchiveScan, ArchiveScan) {
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let mut run = |one_call| {
            let len = doc.len() as u64;
            let mut input = Cursor::new(doc);
            scan_with(
                &mut scanner,
                "t.zip",
                &mut input,
                len,
                Kind::Zip,
                limits,
                one_call,
            )
        };
        (run(ONE_CALL), run(0))
    }

    #[test]
    fn members_inflated_in_one_call_say_what_streamed_members_say() {
        let text = |line: usize| format!("{}k={}\n", "x\n".repeat(line), key()).into_bytes();
        // Beyond ONE_CALL, and not so repetitive that the ratio bound stops it.
        let long = {
            let mut t: Vec<u8> = (0u32..)
                .flat_map(|i| format!("{i:x}\n").into_bytes())
                .take(9 << 20)
                .collect();
            t.extend_from_slice(&text(2));
            t
        };
        let inner = stored_zip_of(&[("deep.env", &text(4)), ("deep.txt", b"nothing")]);
        let mut cases: Vec<(&str, Vec<u8>, Limits)> = vec![
            (
                "ordinary, nested and empty members, a folder with content, a long one",
                zip_of(&[
                    ("a.env", &text(0)),
                    ("empty", b""),
                    ("dir/", b""),
                    ("named-like-a-dir/", &text(1)),
                    ("lib/inner.jar", &inner),
                    ("data.gz", &gzip_of(&text(3))),
                    ("long.txt", &long),
                ]),
                Limits::default(),
            ),
            (
                "the bytes bound reached inside a member",
                zip_of(&[
                    ("a.env", &text(0)),
                    ("b.env", &text(5)),
                    ("c.env", &text(7)),
                ]),
                Limits {
                    max_bytes: 2 * text(0).len() as u64 + 3,
                    ..Limits::default()
                },
            ),
            (
                "the depth bound",
                zip_of(&[("lib/inner.jar", &inner)]),
                Limits {
                    depth: 1,
                    ..Limits::default()
                },
            ),
            (
                "a bomb",
                zip_of(&[("bomb.txt", &{
                    let mut t = text(0);
                    t.resize(4 << 20, b'0');
                    t
                })]),
                Limits {
                    max_ratio: 100,
                    ..Limits::default()
                },
            ),
        ];
        // Members whose listed size lies, short or long, and one whose checksum is wrong: each is
        // left to the streaming path, which says the same as when it reads every member.
        for (what, lie) in [("listed short", -3i64), ("listed long", 5)] {
            let mut doc = zip_of(&[("a.env", &text(0)), ("b.env", &text(1))]);
            list_size(&mut doc, "a.env", (text(0).len() as i64 + lie) as u32);
            cases.push((what, doc, Limits::default()));
        }
        let mut doc = zip_of(&[("a.env", &text(0))]);
        let crc = libdeflater::crc32(&text(0)).to_le_bytes();
        let at: Vec<usize> = (0..doc.len() - 4)
            .filter(|&i| doc[i..i + 4] == crc)
            .collect();
        at.iter().for_each(|&i| doc[i] ^= 1);
        cases.push(("a wrong checksum", doc, Limits::default()));

        for (what, doc, limits) in &cases {
            let (fast, streamed) = one_call_and_streamed(doc, limits);
            assert_eq!(said(&fast), said(&streamed), "{what}");
            assert!(!fast.hits.is_empty(), "{what}: {}", said(&fast));
        }
        // What each case says, so that the comparison above compares something.
        let first = scan(&cases[0].1, &cases[0].2);
        let mut members: Vec<&str> = first.hits.iter().map(|h| h.member.as_str()).collect();
        members.dedup();
        assert_eq!(
            members,
            [
                "a.env",
                "named-like-a-dir/",
                "lib/inner.jar!deep.env",
                "data.gz!data",
                "long.txt"
            ]
        );
        assert_eq!(first.members, 7, "{}", said(&first));
        let bounded = scan(&cases[1].1, &cases[1].2);
        assert_eq!(
            places(&bounded),
            [("a.env".to_string(), 1), ("b.env".to_string(), 6)]
        );
        assert_eq!(bounded.skipped[0].bound, Bound::Bytes);
        // Listed short: the zip library stops at the listed size (the key is cut) and says so.
        let lie = scan(&cases[4].1, &cases[4].2);
        assert_eq!(places(&lie), [("b.env".to_string(), 2)]);
        assert_eq!(lie.skipped[0].bound, Bound::Unreadable, "{}", said(&lie));
        let lie = scan(&cases[5].1, &cases[5].2);
        assert_eq!(lie.hits.len(), 2, "{}", said(&lie));
        let bad = scan(&cases[6].1, &cases[6].2);
        assert_eq!(bad.skipped[0].detail, "Invalid checksum");
    }

    #[test]
    fn the_entries_bound_stops_a_zip_whose_members_are_inflated_in_one_call() {
        let text = format!("k={}\n", key()).into_bytes();
        let names: Vec<String> = (0..6).map(|i| format!("m{i}.env")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &text[..])).collect();
        let doc = zip_of(&members);
        let limits = Limits {
            max_entries: 2,
            ..Limits::default()
        };
        let (fast, streamed) = one_call_and_streamed(&doc, &limits);
        assert_eq!(said(&fast), said(&streamed));
        assert_eq!(
            places(&fast),
            [("m0.env".to_string(), 1), ("m1.env".to_string(), 1)]
        );
        // Said once, for the first member beyond the bound: the members after it are not read.
        let skips: Vec<_> = fast
            .skipped
            .iter()
            .map(|k| (k.member.as_str(), k.bound))
            .collect();
        assert_eq!(
            (skips, fast.skipped_more),
            (vec![("m2.env", Bound::Entries)], 0)
        );
    }

    #[test]
    fn nested_zips_reuse_the_buffers_of_members_inflated_in_one_call() {
        // A member that lists 8 MiB (its compressed bytes allow it) but inflates to less: one
        // call makes an 8 MiB buffer for it, then leaves it to the streaming path.
        let mut seed = 7u32;
        let noise: Vec<u8> = (0..9000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 24) as u8
            })
            .collect();
        let text = format!("k={}\n", key()).into_bytes();
        let mut inner = zip_of(&[("k.env", &text), ("noise.bin", &noise)]);
        list_size(&mut inner, "noise.bin", 8 << 20);
        let names: Vec<String> = (0..20).map(|i| format!("n{i}.zip")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &inner[..])).collect();
        let outer = zip_of(&members);
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let limits = Limits::default();
        let mut walk = Walk::new(&mut scanner, "t.zip", &limits, ONE_CALL);
        walk.zip(Cursor::new(&outer[..]), "", 1);
        let found: Vec<_> = walk.result.hits.iter().map(|h| &h.member).collect();
        let expected: Vec<_> = names.iter().map(|n| format!("{n}!k.env")).collect();
        assert_eq!(found, expected.iter().collect::<Vec<_>>());
        // One for the outer zip and one for all the nested ones, not one made (and cleared) for
        // each nested zip.
        assert_eq!(walk.inflate.len(), 2);
    }

    #[test]
    fn members_that_share_a_name_are_said() {
        let text = format!("k={}\n", key()).into_bytes();
        let mut doc = zip_of(&[("a.env", &text), ("b.env", b"nothing")]);
        // The second member renamed as the first, in its local header and the central directory.
        let at: Vec<usize> = (0..doc.len() - 5)
            .filter(|&i| &doc[i..i + 5] == b"b.env")
            .collect();
        assert_eq!(at.len(), 2);
        at.iter().for_each(|&i| doc[i] = b'a');
        let s = scan(&doc, &Limits::default());
        // The key in the member dropped is not found: the scan says a member was not read.
        let skips: Vec<_> = s
            .skipped
            .iter()
            .map(|k| {
                (
                    k.member.as_str(),
                    k.bound,
                    k.detail.contains("share a name"),
                )
            })
            .collect();
        assert_eq!(skips, [("", Bound::Unreadable, true)], "{:?}", places(&s));
    }

    #[test]
    fn the_next_archive_reuses_the_buffers_of_members_inflated_in_one_call() {
        let text = format!("k={}\n", key()).into_bytes();
        let doc = zip_of(&[("a.env", &text)]);
        for _ in 0..2 {
            let s = scan(&doc, &Limits::default());
            assert_eq!(places(&s), [("a.env".to_string(), 1)]);
            // Given back to the thread for the next archive, not dropped with the walk.
            let kept = INFLATE.take();
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].out.len(), text.len());
            INFLATE.set(kept);
        }
    }

    #[test]
    fn a_member_that_inflates_far_beyond_its_size_is_streamed() {
        let mut text = format!("k={}\n", key()).into_bytes();
        text.resize(30_000, 0);
        let doc = zip_of(&[("zeros.env", &text)]);
        let matcher = Matcher::new(RuleSet::builtin());
        let mut scanner = StreamScanner::new(&matcher);
        let limits = Limits::default();
        let mut walk = Walk::new(&mut scanner, "t.zip", &limits, ONE_CALL);
        walk.zip(Cursor::new(&doc[..]), "", 1);
        assert_eq!(places(&walk.result), [("zeros.env".to_string(), 1)]);
        // Not inflated in one call: no buffers were made for it.
        assert!(walk.inflate.is_empty());
    }

    #[test]
    fn gunzipped_names() {
        assert_eq!(
            unpacked_name(Kind::Gzip, "logs/app.log.gz", None),
            "app.log"
        );
        assert_eq!(unpacked_name(Kind::Gzip, "x!y/data.GZ", None), "data");
        assert_eq!(unpacked_name(Kind::Gzip, "blob", None), "(gunzipped)");
        assert_eq!(
            unpacked_name(Kind::Gzip, "a.gz", Some(b"orig.txt")),
            "orig.txt"
        );
    }
}
