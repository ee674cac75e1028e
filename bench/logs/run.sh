#!/usr/bin/env bash
# bench/logs: nocwatch delivering 1M syslog lines to an HTTP intake and to a TCP sink,
# side by side with rsyslog (imtcp -> omfwd) to the same TCP sink. Not a test.
# Usage: bench/logs/run.sh [lines] [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v rsyslogd >/dev/null || { apt-get update -q && apt-get install -y -q rsyslog; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench-logs}"
cargo build -q --release -p nocwatch
cargo build -q --release --manifest-path bench/logs/Cargo.toml
work=$(mktemp -d /tmp/nocwatch-bench-logs.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/logs-bench" "$CARGO_TARGET_DIR/release/nocwatch" "$work" "${1:-1000000}" "${2:-3}"
