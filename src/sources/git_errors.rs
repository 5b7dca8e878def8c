//! git errors in words: one sentence that says what went wrong and what to do, instead of
//! libgit2's `message; class=…; code=…`.

use git2::{ErrorClass, ErrorCode};

/// `err`, which git gave while it looked at `what` (the path of a repository it could not open, or
/// what it was resolving: `range base "X"`, `range end "X"`, `HEAD`, `commit ID` …), as one
/// sentence with what to do. Unknown errors keep libgit2's message, without its class and code.
pub fn describe(err: &git2::Error, what: &str) -> String {
    let message = err.message().trim().trim_end_matches('.');
    // The revision libgit2 could not resolve, as it quotes it: `revspec 'X' not found`.
    let revision = message
        .split_once('\'')
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(quoted, _)| quoted);
    match (err.class(), err.code()) {
        (ErrorClass::Repository, ErrorCode::NotFound) => format!(
            "{what} is not a git repository, nor in one (there is no .git in it or in any folder above it): run skguard \
             inside a clone or give the repository's folder as PATH; `skguard scan {what}` scans the files \
             without git"
        ),
        (_, ErrorCode::UnbornBranch) => no_commits(what),
        (_, ErrorCode::NotFound) if revision == Some("HEAD") || what == "HEAD" => no_commits(what),
        (ErrorClass::Reference | ErrorClass::Object | ErrorClass::Odb, ErrorCode::NotFound) => {
            // The revision itself, unless `what` already quotes it.
            let revision = revision
                .filter(|r| !what.contains(&format!("\"{r}\"")))
                .map_or_else(String::new, |r| format!(" ({r})"));
            format!(
                "{what}{revision} is not a commit, branch or tag in this repository: check its spelling, or fetch \
                 it first (`git fetch origin`; a branch of the remote is `origin/NAME`)"
            )
        }
        (_, ErrorCode::Ambiguous) => format!(
            "{what} is ambiguous: more than one object starts with it; give more of its id, or a full branch \
             name (`refs/heads/NAME`)"
        ),
        (_, ErrorCode::InvalidSpec) => format!(
            "{what} is not a revision git understands: give a commit id, a branch or a tag (as `git rev-parse` \
             takes them)"
        ),
        _ => format!("{what}: {message}"),
    }
}

/// What to say of a repository (or a branch) that has no commits yet.
fn no_commits(what: &str) -> String {
    format!(
        "{what}: no commits yet: there is no history to scan; commit first, or scan the files with `skguard scan`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: ErrorCode, class: ErrorClass, message: &str) -> git2::Error {
        git2::Error::new(code, class, message)
    }

    #[test]
    fn not_a_repository_says_what_to_do_without_class_or_code() {
        let e = error(
            ErrorCode::NotFound,
            ErrorClass::Repository,
            "could not find repository at '/tmp/x'",
        );
        let text = describe(&e, "/tmp/x");
        assert!(
            text.starts_with("/tmp/x is not a git repository, nor in one"),
            "{text}"
        );
        assert!(text.contains("skguard scan /tmp/x"), "{text}");
        assert!(
            !text.contains("class=") && !text.contains("code="),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_revision_is_named_with_what_to_do() {
        let e = error(
            ErrorCode::NotFound,
            ErrorClass::Reference,
            "revspec 'garbage' not found",
        );
        let text = describe(&e, "range base \"garbage\"");
        assert!(
            text.starts_with("range base \"garbage\" is not a commit, branch or tag"),
            "{text}"
        );
        assert!(text.contains("git fetch"), "{text}");
        assert!(!text.contains("class="), "{text}");
        let text = describe(&e, "commit 1234abc");
        assert!(
            text.starts_with("commit 1234abc (garbage) is not"),
            "{text}"
        );
    }

    #[test]
    fn head_that_is_not_there_means_no_commits_yet() {
        let e = error(
            ErrorCode::NotFound,
            ErrorClass::Reference,
            "revspec 'HEAD' not found",
        );
        assert!(describe(&e, "range end \"HEAD\"").contains("no commits yet"));
        let e = error(
            ErrorCode::UnbornBranch,
            ErrorClass::Reference,
            "reference 'refs/heads/main' not found",
        );
        assert!(describe(&e, "HEAD").contains("no commits yet"));
    }

    #[test]
    fn ambiguous_and_invalid_revisions() {
        let e = error(ErrorCode::Ambiguous, ErrorClass::Odb, "ambiguous SHA id");
        assert!(describe(&e, "range base \"ab\"").contains("is ambiguous"));
        let e = error(
            ErrorCode::InvalidSpec,
            ErrorClass::Invalid,
            "failed to parse",
        );
        assert!(describe(&e, "range end \"a@{\"").contains("not a revision git understands"));
    }

    #[test]
    fn anything_else_keeps_the_message_without_class_and_code() {
        let e = error(
            ErrorCode::GenericError,
            ErrorClass::Odb,
            "object is corrupt.",
        );
        assert_eq!(
            describe(&e, "walking history"),
            "walking history: object is corrupt"
        );
        let e = error(
            ErrorCode::GenericError,
            ErrorClass::Os,
            "failed to stat '/r/.git': Permission denied",
        );
        assert_eq!(
            describe(&e, "/r"),
            "/r: failed to stat '/r/.git': Permission denied"
        );
    }
}
