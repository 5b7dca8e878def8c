//! Dense hits inside base64 text.
//!
//! The automaton's prefilter skips ordinary text at memory speed but starts over at every hit, and
//! the automaton without it walks a state machine one dependent load per byte. Text where a hint
//! literal fires every few characters (megabytes of base64 of a prefix followed by punctuation)
//! costs most in exactly those two places. Inside a run of base64 characters only the literals made
//! of base64 characters can match, and where every one of them is at least 4 bytes long a hash of
//! the 4 bytes at each position, looked up in a bitmap, tells almost always that none starts there.
//! This module finds, in such a run, the match the automaton would report (leftmost-first: the
//! earliest start, then the first pattern in the automaton's order), so that the caller can skip
//! the automaton there; it never decides anything the automaton would decide differently.

use super::decode::{all_b64, is_b64};

/// Bits of the position hash: a bitmap of 8 KiB, in L1.
const HASH_BITS: u32 = 16;
/// Buckets of literals by hash, each a short list.
const BUCKETS: usize = 256;
/// The most literals a bucket may hold: every position whose hash is set compares them all, so
/// many literals with the same first 4 bytes (user rules' prefixes, from a scanned tree) would make
/// the scan cost that many comparisons a byte. Past it the automaton does the work.
const MAX_BUCKET: usize = 8;
const BITMAP_WORDS: usize = (1 << HASH_BITS) / 64;

/// The automaton's literals made of base64 characters, indexed by their first 4 bytes.
#[derive(Debug, Clone)]
pub(super) struct RunLiterals {
    bitmap: Box<[u64; BITMAP_WORDS]>,
    /// Per bucket, in pattern order: the literals that hash there.
    buckets: Vec<Vec<Literal>>,
    /// How far into a pattern its first byte that is not a base64 character can be (0 when every
    /// pattern is base64 characters only). A pattern with such a byte cannot match at a position
    /// followed by at least this many base64 characters; one without can be told by its bytes.
    reach: usize,
}

#[derive(Debug, Clone)]
struct Literal {
    first: u32,
    /// The pattern's first 8 bytes, little-endian, and the mask of those it has.
    head: u64,
    mask: u64,
    pattern: usize,
    text: Box<[u8]>,
}

impl Literal {
    #[inline]
    fn at(&self, buf: &[u8], i: usize) -> bool {
        match buf.get(i..i + 8) {
            Some(w) if self.text.len() <= 8 => {
                u64::from_le_bytes(w.try_into().expect("8 bytes")) & self.mask == self.head
            }
            _ => buf[i..].starts_with(&self.text),
        }
    }
}

/// Where a run scan stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RunScan {
    /// The automaton's leftmost-first match from the scan's start: (start, pattern index, end).
    Hit(usize, usize, usize),
    /// No pattern starts before this position (at or after the scan's start): the automaton
    /// takes over from here.
    Until(usize),
}

#[inline]
fn hash(first: u32) -> usize {
    (first.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

#[inline]
fn first4(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

impl RunLiterals {
    /// `None` when some pattern made of base64 characters is shorter than 4 bytes, or when more than
    /// [`MAX_BUCKET`] of them share a bucket (then every hit is left to the automaton).
    pub fn new(patterns: &[Vec<u8>]) -> Option<RunLiterals> {
        let mut bitmap = Box::new([0u64; BITMAP_WORDS]);
        let mut buckets = vec![Vec::new(); BUCKETS];
        for (index, p) in patterns.iter().enumerate() {
            if !p.iter().all(|&b| is_b64(b)) {
                continue;
            }
            if p.len() < 4 {
                return None;
            }
            let first = first4(p);
            let h = hash(first);
            bitmap[h / 64] |= 1 << (h % 64);
            let mut head = [0u8; 8];
            let n = p.len().min(8);
            head[..n].copy_from_slice(&p[..n]);
            buckets[h % BUCKETS].push(Literal {
                first,
                head: u64::from_le_bytes(head),
                mask: u64::MAX >> (8 * (8 - n)),
                pattern: index,
                text: p.clone().into_boxed_slice(),
            });
        }
        if buckets.iter().any(|b| b.len() > MAX_BUCKET) {
            return None;
        }
        let reach = patterns
            .iter()
            .filter_map(|p| p.iter().position(|&b| !is_b64(b)))
            .max()
            .unwrap_or(0);
        Some(RunLiterals {
            bitmap,
            buckets,
            reach,
        })
    }

    /// The automaton's leftmost-first match starting in `from..stop`, where `buf[from..run_end]` are
    /// base64 characters: of the positions where only literals made of base64 characters can
    /// match, the first where one does. Else the first position it did not look at (where the automaton
    /// must take over).
    pub fn scan(&self, buf: &[u8], from: usize, run_end: usize, stop: usize) -> RunScan {
        // Positions where only the literals made of base64 characters can match, with 4 bytes to
        // read.
        let limit = run_end
            .saturating_sub(self.reach)
            .min(stop)
            .min(buf.len().saturating_sub(3));
        if from >= limit {
            return RunScan::Until(from);
        }
        // The 4 bytes at each position.
        for (i, four) in (from..).zip(buf[from..limit + 3].windows(4)) {
            let first = u32::from_le_bytes(four.try_into().expect("4 bytes"));
            let h = hash(first);
            if self.bitmap[h / 64] & (1 << (h % 64)) != 0 {
                if let Some(hit) = self.verify(buf, i, first, h) {
                    return hit;
                }
            }
        }
        RunScan::Until(limit)
    }

    /// The first literal (in pattern order) at `i`, whose first 4 bytes are `first`, hashed `h`.
    #[cold]
    fn verify(&self, buf: &[u8], i: usize, first: u32, h: usize) -> Option<RunScan> {
        self.buckets[h % BUCKETS]
            .iter()
            .find(|literal| literal.first == first && literal.at(buf, i))
            .map(|literal| RunScan::Hit(i, literal.pattern, i + literal.text.len()))
    }

    /// Where the run of base64 characters that starts at `from` ends.
    pub fn run_end(buf: &[u8], from: usize) -> usize {
        let mut i = from;
        // 16 bytes at a time, without a branch per byte.
        while buf.get(i..i + 16).is_some_and(all_b64) {
            i += 16;
        }
        while i < buf.len() && is_b64(buf[i]) {
            i += 1;
        }
        i
    }
}
