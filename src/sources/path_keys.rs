//! Keys in paths. A file called `sk_live_….env` (or a folder of that name) leaks the key through its
//! name: in a listing, a diff, a CI log. Such a key is a finding of its own, reported at the path
//! with line 0 and the column (1-based, in characters) where the key starts in the path as reported.
//! Paths are printed with the key redacted, like every string that came from scanned data.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{CommitInfo, Hit, Located};
use crate::matching::Matcher;

/// The keys in `path`, located at line 0 and their column in it.
pub fn in_path(matcher: &Matcher, path: &str) -> Vec<Located> {
    let mut candidates = Vec::new();
    matcher.find(path.as_bytes(), 0, 0..path.len(), &mut candidates);
    candidates
        .into_iter()
        .map(|candidate| {
            let before = path.get(..candidate.offset).unwrap_or(path);
            Located {
                line: 0,
                column: before.chars().count() as u64 + 1,
                candidate,
                allowed_inline: false,
                context: None,
            }
        })
        .collect()
}

/// For a walked file: the keys in its path, reported at `shown` (made only when there is one).
pub fn push_for_file(
    matcher: &Matcher,
    path: &Path,
    shown: impl FnOnce() -> String,
    hits: &Mutex<Vec<Hit>>,
) {
    let mut candidates = Vec::new();
    let raw = path.as_os_str().as_bytes();
    matcher.find(raw, 0, 0..raw.len(), &mut candidates);
    if candidates.is_empty() {
        return;
    }
    let shown = shown();
    let found = in_path(matcher, &shown);
    let mut hits = crate::lock(hits);
    hits.extend(found.into_iter().map(|located| Hit {
        path: shown.clone(),
        commit: None,
        located,
    }));
}

/// For paths a commit being made adds (`--staged`): the keys in them.
pub fn push_for_paths<'p>(
    hits: &mut Vec<Hit>,
    matcher: &Matcher,
    paths: impl IntoIterator<Item = &'p str>,
) {
    for path in paths {
        hits.extend(in_path(matcher, path).into_iter().map(|located| Hit {
            path: path.to_string(),
            commit: None,
            located,
        }));
    }
}

/// For sources that report only paths with findings (history): the keys in each of those paths,
/// once a path, at the commit of its first hit.
pub fn add_for_hits(hits: &mut Vec<Hit>, matcher: &Matcher) {
    let mut seen: HashSet<&str> = HashSet::new();
    // Keys in archive members' names are already found (at line 0) by the archive reader.
    let named: HashSet<(&str, &crate::findings::Secret)> = hits
        .iter()
        .filter(|h| h.located.line == 0)
        .map(|h| (h.path.as_str(), &h.located.candidate.secret))
        .collect();
    let mut found: Vec<(String, Option<Arc<CommitInfo>>, Vec<Located>)> = Vec::new();
    let mut last: Option<&str> = None;
    for hit in hits.iter() {
        if last == Some(hit.path.as_str()) || !seen.insert(&hit.path) {
            continue;
        }
        last = Some(&hit.path);
        let mut located = in_path(matcher, &hit.path);
        located.retain(|l| !named.contains(&(hit.path.as_str(), &l.candidate.secret)));
        if !located.is_empty() {
            found.push((hit.path.clone(), hit.commit.clone(), located));
        }
    }
    for (path, commit, located) in found {
        hits.extend(located.into_iter().map(|located| Hit {
            path: path.clone(),
            commit: commit.clone(),
            located,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    #[test]
    fn a_key_in_a_path_is_located_at_line_zero_and_its_column() {
        let m = Matcher::new(RuleSet::builtin());
        let key = format!("sk_live_{}", "Pa7hKey9Xq2Wm4Rb8Lz");
        let path = format!("cönfig/{key}/.env");
        let found = in_path(&m, &path);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (0, 8));
        assert_eq!(found[0].candidate.secret.expose(), key);
        assert!(in_path(&m, "src/main.rs").is_empty());
    }
}
