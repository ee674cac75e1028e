#!/usr/bin/env bash
# Builds the seed corpus for the syslog_frame_parse fuzz target from the shared
# vendor samples: each sample line both LF-framed and octet-counted, behind the
# target's two control bytes (split point, max frame length).
# Usage: fuzz/seed_syslog.sh [samples-dir]   (corpus: fuzz/corpus/syslog_frame_parse)
set -euo pipefail
export LC_ALL=C # ${#line} must count bytes
here="$(cd "$(dirname "$0")" && pwd)"
samples="${1:-$here/../../shared/testdata/syslog}"
corpus="$here/corpus/syslog_frame_parse"
mkdir -p "$corpus"
n=0
while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -n "$line" ]] || continue
    n=$((n + 1))
    printf '\x80\xff%s\n' "$line" >"$corpus/lf-$n"
    printf '\x40\xff%d %s' "${#line}" "$line" >"$corpus/octet-$n"
done < <(cat "$samples"/collected/*_*.txt "$samples"/elastic-integrations/*/*.log \
    "$samples"/logstash-patterns-core/*-messages.txt)
echo "seeded $((n * 2)) inputs into $corpus"
