#!/usr/bin/env bash
# How often a random key body is wrongly taken for a placeholder (issue 12, item 3; run on purpose).
# 10^7 seeded random bodies of 10, 24 and 99 characters against the built-in rule, and the bound
# computed from the rule's patterns and its placeholder_margin_bits.
#
#   bench/placeholder-rate.sh [BODIES] [SEED]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cargo run --release --quiet --example placeholder_rate -- "${1:-10000000}" "${2:-12}"
