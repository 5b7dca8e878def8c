//! The fuzz targets' committed corpora, replayed on the stable toolchain: every input the fuzzers
//! kept (and every crash they found, once fixed) still satisfies the invariants in
//! `skguard::fuzzing`.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
        count += 1;
    }
    assert!(count > 0, "{target}: an empty corpus");
}

#[test]
fn fuzz_corpus_matching() {
    replay("matching", skguard::fuzzing::matching);
}

#[test]
fn fuzz_corpus_config() {
    replay("config", skguard::fuzzing::config);
}

#[test]
fn fuzz_corpus_baseline() {
    replay("baseline", skguard::fuzzing::baseline);
}

#[test]
fn fuzz_corpus_git_text() {
    replay("git_text", skguard::fuzzing::git_text);
}
