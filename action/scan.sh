#!/usr/bin/env bash
# The GitHub Action's scan step. Works out what to scan from the event, runs skguard once (SARIF,
# annotations and the step summary in one run, so keys are verified and revoked once); skguard
# itself writes the action's outputs.
#
# Everything in the checkout is hostile. This script runs from the action's own folder (never from
# the checkout), runs no interpreter and reads no JSON itself (skguard reads the event payload),
# keeps the checkout off PATH, and runs git with `-C` and a configuration that starts no program.
# Inputs arrive as INPUT_* environment variables: action.yml never interpolates an input into a
# script, so a crafted branch name or input cannot inject commands. The test suite runs this script
# (through action.yml's steps) with the GITHUB_* variables and event payloads of real events.
set -uo pipefail

null=0000000000000000000000000000000000000000

# A value in a workflow command: `%`, CR and LF escaped, so no input can start another command.
esc() {
  local s=${1//%/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}
fail() {
  echo "::error title=skguard::$(esc "$1")"
  exit 2
}

workspace=${GITHUB_WORKSPACE:-}
[ -n "$workspace" ] || fail "GITHUB_WORKSPACE is not set: this script runs in a GitHub Actions job"
[ -n "${ACTION_PATH:-}" ] && cd -- "$ACTION_PATH" || fail "cannot enter the action's folder (ACTION_PATH)"

# No PATH entry that resolves against the working directory (empty or relative) or lies in the
# checkout; no library path for an interpreter.
clean=
IFS=: read -r -a entries <<< "$PATH"
for dir in "${entries[@]}"; do
  case "$dir" in /*) ;; *) continue ;; esac
  case "$dir/" in "${workspace%/}/"*) continue ;; esac
  clean=${clean:+$clean:}$dir
done
export PATH=$clean
unset PYTHONPATH PYTHONSTARTUP PERL5LIB RUBYLIB NODE_PATH BASH_ENV ENV CDPATH

skguard=${SKGUARD_BIN:-skguard}
mode=${INPUT_MODE:-diff}
fail_on=${INPUT_FAIL_ON:-any}
event=${GITHUB_EVENT_NAME:-}

case "$mode" in diff|history|files) ;; *) fail "mode must be diff, history or files, not '$mode'" ;; esac
case "$fail_on" in any|live|active|none) ;; *) fail "fail-on must be any, live, active or none, not '$fail_on'" ;; esac
extra_args=${INPUT_ARGS:-}
if [[ ${extra_args//$'\t'/ } == *[[:cntrl:]]* ]]; then
  fail "args must be one line (split on spaces): a second line or a control character is refused"
fi

# A skguard helper's answer in $value, or the run stops with its message (after $what) as an ::error.
what=
ask() {
  if ! value=$("$skguard" "$@" 2>&1); then
    fail "$what${value#skguard: error: }"
  fi
}
# The inputs, resolved against the workspace and refused outside it.
what="input path: "
ask github-path -- "${INPUT_PATH:-.}"
path=$value
sarif=
if [ -n "${INPUT_SARIF_FILE:-}" ]; then
  what="input sarif-file: "
  ask github-path --file -- "$INPUT_SARIF_FILE"
  sarif=$value
fi
what=
# A field of the event payload ("" when absent or null).
field() {
  ask github-event "$1"
}

# git on the checkout: from outside it, with no fsmonitor and no hooks.
g() { git -c core.fsmonitor=false -c core.hooksPath=/dev/null -C "$path" "$@"; }
have_commit() { g cat-file -e "$1^{commit}" 2>/dev/null; }
fetch_commit() { g fetch --no-tags --quiet origin "$1" 2>/dev/null && have_commit "$1"; }

# A shallow checkout cannot tell what a push or a pull request adds: fetch the history first.
deepen() {
  if [ "$(g rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
    echo "::notice title=skguard::the checkout is shallow: fetching its history (actions/checkout with fetch-depth: 0 skips this)"
    g fetch --no-tags --quiet --unshallow origin 2>/dev/null \
      || echo "::warning title=skguard::could not fetch the history of this shallow checkout: use fetch-depth: 0"
  fi
}

# The repository's default branch, as origin/NAME, for a range whose base is the null id.
default_branch=()
default_branch() {
  field repository.default_branch
  local name=$value
  [ -n "$name" ] || return 0
  if ! g rev-parse --verify --quiet "refs/remotes/origin/$name^{commit}" > /dev/null; then
    g fetch --no-tags --quiet origin "+refs/heads/$name:refs/remotes/origin/$name" 2>/dev/null || true
  fi
  default_branch=(--default-branch "origin/$name")
}

scan=()
case "$mode" in
  files) scan=("$path") ;;
  history) deepen; scan=(--git "$path") ;;
  diff)
    case "$event" in
      push)
        field before; before=$value
        field after; after=$value
        field deleted; deleted=$value
        if [ "$deleted" = true ] || [ "$after" = "$null" ]; then
          echo "::notice title=skguard::this push deleted a branch: nothing to scan"
          if [ -n "${GITHUB_OUTPUT:-}" ]; then
            printf 'findings=0\nlive-findings=0\nrevoked=0\nsarif-file=\n' >> "$GITHUB_OUTPUT"
          fi
          exit 0
        fi
        deepen
        default_branch
        if [ -z "$before" ] || [ "$before" = "$null" ]; then
          echo "skguard: a new branch: scanning its commits that the default branch does not have"
          base=$null
        elif have_commit "$before" || fetch_commit "$before"; then
          base=$before
        else
          echo "::warning title=skguard::the commit before this push ($(esc "$before")) is not in the clone and could not be fetched (a force push?): scanning the branch as a new branch instead"
          base=$null
        fi
        scan=(--range "$base..$after" "${default_branch[@]}" "$path") ;;
      pull_request|pull_request_target)
        field pull_request.base.sha; base=$value
        field pull_request.head.sha; head=$value
        deepen
        default_branch
        have_commit "$base" || fetch_commit "$base" || true
        have_commit "$head" || fetch_commit "$head" || true
        scan=(--range "$base..$head" "${default_branch[@]}" "$path") ;;
      *)
        # workflow_dispatch, schedule and anything else: the whole history.
        deepen
        scan=(--git "$path") ;;
    esac ;;
esac

args=(scan "${scan[@]}" --format github --fail-on "$fail_on")
[ -n "$sarif" ] && args+=(--format "sarif=$sarif")
[ -n "${GITHUB_OUTPUT:-}" ] && args+=(--github-output "$GITHUB_OUTPUT")
[ "${INPUT_VERIFY:-false}" = true ] && args+=(--verify)
[ "${INPUT_REVOKE:-false}" = true ] && args+=(--revoke)
[ -n "${INPUT_API_BASE:-}" ] && args+=(--api-base "$INPUT_API_BASE")
if [ -n "$extra_args" ]; then
  # Split on whitespace only: no globbing, no evaluation.
  read -r -a extra <<< "$extra_args"
  args+=("${extra[@]}")
fi
echo "skguard $(esc "${args[*]}")"
"$skguard" "${args[@]}"
status=$?
# 0, 1 and 2 are skguard's answers (2 is annotated by skguard itself); anything else is a crash.
if [ "$status" -gt 2 ]; then
  fail "skguard stopped unexpectedly (exit status $status): the scan did not finish"
fi
exit "$status"
