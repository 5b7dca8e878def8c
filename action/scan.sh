#!/usr/bin/env bash
# The GitHub Action's scan step. Works out what to scan from the event, runs skguard once (SARIF,
# annotations, step summary and a JSON report in one run, so keys are verified and revoked once),
# and sets the action's outputs.
#
# Inputs arrive as INPUT_* environment variables: action.yml never interpolates an input into a
# script, so a crafted branch name or input cannot inject commands. The test suite runs this script
# (through action.yml's steps) with the GITHUB_* variables and event payloads of real events.
set -uo pipefail

skguard=${SKGUARD_BIN:-skguard}
null=0000000000000000000000000000000000000000
path=${INPUT_PATH:-.}
mode=${INPUT_MODE:-diff}
sarif=${INPUT_SARIF_FILE:-skguard.sarif}
fail_on=${INPUT_FAIL_ON:-any}
event=${GITHUB_EVENT_NAME:-}
payload=${GITHUB_EVENT_PATH:-}
outputs=${GITHUB_OUTPUT:-/dev/null}

set_output() { printf '%s=%s\n' "$1" "$2" >> "$outputs"; }
# A field of the event payload ("" when absent or null).
field() {
  [ -n "$payload" ] && [ -f "$payload" ] || return 0
  python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else (str(value).lower() if isinstance(value, bool) else value))' "$payload" "$1"
}
have_commit() { git -C "$path" cat-file -e "$1^{commit}" 2>/dev/null; }
fetch_commit() { git -C "$path" fetch --no-tags --quiet origin "$1" 2>/dev/null && have_commit "$1"; }

# A shallow checkout cannot tell what a push or a pull request adds: fetch the history first.
deepen() {
  if [ "$(git -C "$path" rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
    echo "::notice title=skguard::the checkout is shallow: fetching its history (actions/checkout with fetch-depth: 0 skips this)"
    git -C "$path" fetch --no-tags --quiet --unshallow origin 2>/dev/null \
      || echo "::warning title=skguard::could not fetch the history of this shallow checkout: use fetch-depth: 0"
  fi
}

scan=()
case "$mode" in
  files) scan=("$path") ;;
  history) deepen; scan=(--git "$path") ;;
  diff)
    case "$event" in
      push)
        before=$(field before)
        after=$(field after)
        if [ "$(field deleted)" = true ] || [ "$after" = "$null" ]; then
          echo "::notice title=skguard::this push deleted a branch: nothing to scan"
          set_output findings 0; set_output live-findings 0; set_output revoked 0; set_output sarif-file ""
          exit 0
        fi
        deepen
        if [ -z "$before" ] || [ "$before" = "$null" ]; then
          echo "skguard: a new branch: scanning its commits that no other branch has"
          base=$null
        elif have_commit "$before" || fetch_commit "$before"; then
          base=$before
        else
          echo "::warning title=skguard::the commit before this push ($before) is not in the clone and could not be fetched (a force push?): scanning the branch's commits that no other ref has instead"
          base=$null
        fi
        scan=(--range "$base..$after" "$path") ;;
      pull_request|pull_request_target)
        base=$(field pull_request.base.sha)
        head=$(field pull_request.head.sha)
        deepen
        have_commit "$base" || fetch_commit "$base" || true
        have_commit "$head" || fetch_commit "$head" || true
        scan=(--range "$base..$head" "$path") ;;
      *)
        # workflow_dispatch, schedule and anything else: the whole history.
        deepen
        scan=(--git "$path") ;;
    esac ;;
  *)
    echo "::error title=skguard::mode must be diff, history or files, not '$mode'"
    exit 2 ;;
esac

report=$(mktemp)
trap 'rm -f "$report"' EXIT
args=(scan "${scan[@]}" --format "sarif=$sarif" --format github --format "json=$report" --fail-on "$fail_on")
[ "${INPUT_VERIFY:-false}" = true ] && args+=(--verify)
[ "${INPUT_REVOKE:-false}" = true ] && args+=(--revoke)
[ -n "${INPUT_API_BASE:-}" ] && args+=(--api-base "$INPUT_API_BASE")
if [ -n "${INPUT_ARGS:-}" ]; then
  # Split on whitespace only: no globbing, no evaluation.
  read -r -a extra <<< "$INPUT_ARGS"
  args+=("${extra[@]}")
fi
echo "skguard ${args[*]}"
"$skguard" "${args[@]}"
status=$?

if [ -s "$report" ]; then
  counts=$(python3 -c 'import json, sys
findings = json.load(open(sys.argv[1]))["findings"]
live = [f for f in findings if f["kind"] == "live"]
revoked = {f["fingerprint"] for f in findings if (f.get("revocation") or {}).get("status") == "revoked"}
print(len(findings), len(live), len(revoked))' "$report")
  read -r findings live revoked <<< "$counts"
  set_output findings "$findings"
  set_output live-findings "$live"
  set_output revoked "$revoked"
fi
set_output sarif-file "$sarif"
exit "$status"
