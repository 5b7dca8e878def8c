#!/usr/bin/env bash
# End to end with the real pre-commit framework: a temporary repository uses this repository as its
# hook source (at the committed HEAD), and we prove that a commit adding a live key is blocked with
# the key redacted, a clean commit passes, and a `skguard:allow` line passes.
# Run by .ci/run after `pip install pre-commit`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rev=$(git -C "$here" rev-parse HEAD)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME="$work/cache" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
# The framework builds skguard with `cargo install`: a test build need not spend minutes on LTO.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
passed=0
failed=0
check() { # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok: $1"; else failed=$((failed + 1)); echo "FAILED: $1"; fi
}

git init -q -b main "$work/repo"
cd "$work/repo"
git config user.email ci@example.test
git config user.name CI
cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: $here
    rev: $rev
    hooks:
      - id: skguard
      - id: skguard-files
YAML
git add .pre-commit-config.yaml
git commit -q -m init
pre-commit install >/dev/null
# Built from this repository by the framework (cargo install) on the first commit.
echo hello > a.txt
git add a.txt
check "a clean commit passes" git commit -q -m clean

key="sk_live_""E2eLiveKey1Qw2Er3Ty4Ui5Op6"
printf 'API_KEY=%s\n' "$key" > leak.env
git add leak.env
if git commit -q -m leak > out.txt 2>&1; then blocked=no; else blocked=yes; fi
check "a commit adding a live key is blocked" test "$blocked" = yes
check "the block names the file and the redacted key" grep -q "leak.env" out.txt
check "the redacted key is shown" grep -q "sk_live_E2e…Op6" out.txt
check "the whole key is never shown" bash -c "! grep -qF '$key' out.txt"
check "nothing was committed" test "$(git log --oneline | wc -l)" -eq 2
check "skguard-files (manual) does not run at a commit" bash -c "! grep -q 'whole files' out.txt"
check "skguard-files sweeps the files when asked" bash -c \
  "! pre-commit run skguard-files --all-files --hook-stage manual > sweep.txt 2>&1 && grep -q 'sk_live_E2e…Op6' sweep.txt"

printf 'API_KEY=%s # skguard:allow\n' "$key" > leak.env
git add leak.env
check "a skguard:allow line passes" git commit -q -m allowed

echo "pre-commit: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then cat out.txt; exit 1; fi
