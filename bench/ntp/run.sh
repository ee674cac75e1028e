#!/usr/bin/env bash
# Side-by-side NTP benchmark on this machine (issue 8), see bench/ntp/README.md:
#   relay:  nocwatch `mode: relay` vs stone, both relaying UDP to the same chronyd;
#   server: nocwatch `mode: server` vs that chronyd answering directly.
# Everything temporary goes under /tmp; nothing is written in the repository.
#
#   bench/ntp/run.sh                                  # everything, 3 interleaved repetitions
#   REPS=5 bench/ntp/run.sh
#   ONLY=latency bench/ntp/run.sh                     # or ONLY=search (max lossless rate)
#   PEERS="stone nocwatch-relay" bench/ntp/run.sh
#   NOCWATCH_BIN=/tmp/nocwatch bench/ntp/run.sh       # a prebuilt binary instead of building the tree
#   BASELINE_BIN=/tmp/nocwatch-before bench/ntp/run.sh  # also peers baseline-relay/-server: that binary, interleaved
#   NOCWATCH_LISTEN=0.0.0.0 bench/ntp/run.sh          # nocwatch (and baseline) on a wildcard address
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# chronyd = chronyd answering the generator directly (the server-mode peer, and the
# floor under both relays); stone and nocwatch-relay relay to that same chronyd.
PEERS=${PEERS:-"chronyd nocwatch-server stone nocwatch-relay${BASELINE_BIN:+ baseline-server baseline-relay}"}
ONLY=${ONLY:-all}                         # all | latency | search
REPS=${REPS:-3}
# The address nocwatch (and a baseline) listens on; the generator always sends to
# 127.0.0.1. 0.0.0.0 or [::] measures the wildcard path (replies sent from each request's
# destination address, recvmsg/sendmsg with packet info).
NOCWATCH_LISTEN=${NOCWATCH_LISTEN:-127.0.0.1}
SOCKETS=${SOCKETS:-8}                     # generator sockets = simulated devices (source ports)
LAT_RATE=${LAT_RATE:-2000}                # requests/s for the latency runs
LAT_DURATION_MS=${LAT_DURATION_MS:-10000}
LAT_WARMUP_MS=${LAT_WARMUP_MS:-1000}      # replies to the first second are not in the percentiles
SEARCH_RATES=${SEARCH_RATES:-"5000 10000 20000 30000 40000 50000 60000 80000 100000 120000 160000 200000"}
SEARCH_DURATION_MS=${SEARCH_DURATION_MS:-3000}
# Peers and generator run at this nice level (root only; else 0), the same for every peer,
# so that other work on a shared machine disturbs the measurement less.
NICE=${NICE:--10}
NOCWATCH_TARGET_DIR=${NOCWATCH_TARGET_DIR:-/tmp/target-bench-ntp}
NTPLOAD_TARGET_DIR=${NTPLOAD_TARGET_DIR:-/tmp/target-bench-ntpload}
WORK=${WORK:-$(mktemp -d /tmp/nocwatch-bench-ntp.XXXXXX)}
RESULTS=$WORK/results.tsv
NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------- setup
setup() {
    mkdir -p "$WORK"
    log "work directory: $WORK"
    local missing=()
    command -v stone >/dev/null || missing+=(stone)
    command -v chronyd >/dev/null || missing+=(chrony)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [[ $(id -u) != 0 ]]; then NICE=0; fi
    RUN=(nice -n "$NICE")
    if [[ -n ${NOCWATCH_BIN:-} ]]; then
        log "using the given nocwatch binary $NOCWATCH_BIN"
    else
        log "building nocwatch (release, CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR)"
        (cd "$REPO" && CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR cargo build --release -q -p nocwatch)
        NOCWATCH_BIN=$NOCWATCH_TARGET_DIR/release/nocwatch
    fi
    log "building ntpload (CARGO_TARGET_DIR=$NTPLOAD_TARGET_DIR)"
    (cd "$REPO/bench/ntp" && CARGO_TARGET_DIR=$NTPLOAD_TARGET_DIR cargo build --release -q)
    NTPLOAD=$NTPLOAD_TARGET_DIR/release/ntpload
    CHRONY_VERSION=$(chronyd -v | awk '{print $4; exit}')
    STONE_VERSION=$(dpkg-query -W -f='${Version}' stone 2>/dev/null || echo unknown)
    NOCWATCH_VERSION=$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown)
    printf 'peer\trep\tp50_us\tp90_us\tp99_us\tp999_us\tlost\tachieved\tcpu_us_per_req\tmax_rate\tlimited_by\n' >"$RESULTS"
}

PEER_PID="" UPSTREAM_PID=""
stop_peer() {
    if [[ -n $PEER_PID ]]; then kill -TERM "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
    PEER_PID=""
}
cleanup() {
    stop_peer
    if [[ -n $UPSTREAM_PID ]]; then kill -TERM "$UPSTREAM_PID" 2>/dev/null || true; wait "$UPSTREAM_PID" 2>/dev/null || true; fi
    UPSTREAM_PID=""
}
trap cleanup EXIT

# The upstream: chronyd serving its own clock as stratum 3 on a loopback port, never
# touching the system clock (-x), as in crates/nocwatch/tests/ntp.rs. One for the whole run.
start_upstream() {
    UPSTREAM_PORT=$("$NTPLOAD" freeport)
    local dir=$WORK/chronyd
    mkdir -p "$dir"
    cat >"$dir/chrony.conf" <<EOF
port $UPSTREAM_PORT
bindaddress 127.0.0.1
cmdport 0
local stratum 3
allow 127.0.0.1
pidfile $dir/chronyd.pid
EOF
    "${RUN[@]}" chronyd -x -d -u root -f "$dir/chrony.conf" >"$dir/chronyd.log" 2>&1 &
    UPSTREAM_PID=$!
    if ! "$NTPLOAD" probe --target "127.0.0.1:$UPSTREAM_PORT" --timeout-ms 10000 >/dev/null; then
        log "chronyd did not start; its log:"; cat "$dir/chronyd.log" >&2; exit 1
    fi
    log "upstream chronyd $CHRONY_VERSION on 127.0.0.1:$UPSTREAM_PORT (pid $UPSTREAM_PID)"
}

# start_peer PEER DIR: starts the peer on a free port (sets PORT and PEER_PID, the process
# whose CPU time is counted) and waits until it answers.
start_peer() {
    local peer=$1 dir=$2
    mkdir -p "$dir"
    case $peer in
    chronyd)
        PORT=$UPSTREAM_PORT
        PEER_PID=""
        CPU_PID=$UPSTREAM_PID
        WATCH_PIDS=$UPSTREAM_PID
        return
        ;;
    stone)
        PORT=$("$NTPLOAD" freeport)
        "${RUN[@]}" stone -n "127.0.0.1:$UPSTREAM_PORT/udp" "127.0.0.1:$PORT/udp" >"$dir/peer.log" 2>&1 &
        PEER_PID=$!
        ;;
    nocwatch-relay | nocwatch-server | baseline-relay | baseline-server)
        PORT=$("$NTPLOAD" freeport)
        local bin=$NOCWATCH_BIN
        [[ $peer != baseline-* ]] || bin=$BASELINE_BIN
        # The generator is one address (127.0.0.1) sending everything: the per-client rate
        # limit would measure the limiter, not throughput. (A baseline binary from before the
        # limiter existed does not know the key: it goes without, see below.)
        local limit="    rate_limit: {enabled: false}"
        # Defaults otherwise (timeout 1s, max_pending 10000, poll_interval 16s, one
        # tokio worker per CPU); the file sink only gets the ntp.* metrics every 15 s.
        write_nocwatch_config() {
            cat >"$dir/nocwatch.yaml" <<EOF
log: {level: warn}
admin: {enabled: false}
shutdown: {drain_period: 0s}
sources:
  ntp:
    type: ntp
    mode: ${peer#*-}
    address: '$NOCWATCH_LISTEN:$PORT'
    upstreams: ['127.0.0.1:$UPSTREAM_PORT']
$limit
sinks:
  out: {type: file, path: '$dir/events.jsonl'}
EOF
        }
        write_nocwatch_config
        if [[ $peer == baseline-* ]] && ! "$bin" check-config --config "$dir/nocwatch.yaml" >/dev/null 2>&1; then
            limit=""
            write_nocwatch_config
        fi
        "${RUN[@]}" "$bin" run --config "$dir/nocwatch.yaml" >"$dir/peer.log" 2>&1 &
        PEER_PID=$!
        ;;
    *) log "unknown peer $peer"; exit 2 ;;
    esac
    CPU_PID=$PEER_PID
    WATCH_PIDS="$PEER_PID $UPSTREAM_PID"
    # Server mode answers LI=3 until its first upstream sample: wait for a synchronised answer.
    if ! "$NTPLOAD" probe --target "127.0.0.1:$PORT" --timeout-ms 20000 --synchronised 1 >/dev/null; then
        log "$peer did not answer; its log:"; cat "$dir/peer.log" >&2; exit 1
    fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# one_rep PEER REP: a latency run and/or a rate search against a freshly started peer.
one_rep() {
    local peer=$1 rep=$2 dir=$WORK/$1-$2
    start_peer "$peer" "$dir"
    local p50=n/a p90=n/a p99=n/a p999=n/a lost=n/a achieved=n/a cpu=n/a max=n/a limit=n/a out
    if [[ $ONLY != search ]]; then
        local c0 c1
        c0=$(cpu_ticks "$CPU_PID")
        out=$("${RUN[@]}" "$NTPLOAD" run --target "127.0.0.1:$PORT" --rate "$LAT_RATE" --duration-ms "$LAT_DURATION_MS" \
            --warmup-ms "$LAT_WARMUP_MS" --sockets "$SOCKETS" --watch-pids "$WATCH_PIDS")
        c1=$(cpu_ticks "$CPU_PID")
        echo "$out" >"$dir/latency.txt"
        p50=$(field p50_us "$out") p90=$(field p90_us "$out") p99=$(field p99_us "$out") p999=$(field p999_us "$out")
        lost=$(field lost "$out") achieved=$(field achieved_rate "$out")
        local sent
        sent=$(field sent "$out")
        cpu=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v n="$sent" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
        local bad
        bad=$(awk -v o="$out" 'BEGIN { n = split(o, f, " "); for (i = 1; i <= n; i++) if (f[i] ~ /^(duplicate|misrouted|unmatched|unsynchronised)=[1-9]/) printf "%s ", f[i] }')
        log "$(printf '%-16s rep %s latency at %s/s: p50 %7s µs  p99 %8s µs  p99.9 %8s µs  lost %s (socket drops peer %s upstream %s generator %s)  cpu %s µs/req %s' \
            "$peer" "$rep" "$achieved" "$p50" "$p99" "$p999" "$lost" "$(field peer_socket_drops "$out")" \
            "$(field upstream_socket_drops "$out")" "$(field generator_socket_drops "$out")" "$cpu" "${bad:+ WRONG REPLIES: $bad}")"
    fi
    if [[ $ONLY != latency ]]; then
        out=$("${RUN[@]}" "$NTPLOAD" search --target "127.0.0.1:$PORT" --rates "$SEARCH_RATES" \
            --duration-ms "$SEARCH_DURATION_MS" --sockets "$SOCKETS" --watch-pids "$WATCH_PIDS")
        echo "$out" >"$dir/search.txt"
        max=$(field max_rate "$out") limit=$(field limited_by "$out")
        local last
        last=$(grep '^step' <<<"$out" | tail -1)
        log "$(printf '%-16s rep %s max lossless rate: %s/s (%s; last step: lost %s, socket drops peer %s upstream %s generator %s)' \
            "$peer" "$rep" "$max" "${limit//_/ }" "$(field lost "$last")" "$(field peer_socket_drops "$last")" \
            "$(field upstream_socket_drops "$last")" "$(field generator_socket_drops "$last")")"
    fi
    stop_peer
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$rep" "$p50" "$p90" "$p99" "$p999" "$lost" \
        "$achieved" "$cpu" "$max" "$limit" >>"$RESULTS"
}

# ---------------------------------------------------------------- report
median() { { grep -v '^n/a$' || true; } | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
col() { awk -v p="$1" -v c="$2" -F'\t' '$1 == p { print $c }' "$RESULTS" | median; }
each() { awk -v p="$1" -v c="$2" -F'\t' '$1 == p { printf "%s%s", s, $c; s = " " }' "$RESULTS"; }
# met A B: "met" if A <= B
met() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else if (a + 0 <= b + 0) print "MET"; else print "MISSED" }'; }

report() {
    echo
    echo "== NTP benchmark: nocwatch $NOCWATCH_VERSION (listening on $NOCWATCH_LISTEN) vs stone $STONE_VERSION and chronyd $CHRONY_VERSION${BASELINE_BIN:+ (baseline-*: $BASELINE_BIN)}"
    echo "   $NCPU CPUs, kernel $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); nice $NICE; raw: $RESULTS"
    echo "   latency: $LAT_RATE requests/s for $((LAT_DURATION_MS / 1000)) s from $SOCKETS sockets (first $LAT_WARMUP_MS ms not counted);"
    echo "   max rate: highest of [$SEARCH_RATES]/s with no loss over $((SEARCH_DURATION_MS / 1000)) s; medians of $REPS interleaved repetitions"
    echo
    printf '  %-16s %9s %9s %9s %10s %8s %14s %14s   %s\n' peer "p50 µs" "p90 µs" "p99 µs" "p99.9 µs" lost "CPU µs/req" "max rate/s" "each rep: p50 | p99 | max rate"
    local peer
    declare -gA P50 P99 MAX
    for peer in $PEERS; do
        P50[$peer]=$(col "$peer" 3) P99[$peer]=$(col "$peer" 5) MAX[$peer]=$(col "$peer" 10)
        printf '  %-16s %9s %9s %9s %10s %8s %14s %14s   %s | %s | %s\n' "$peer" "${P50[$peer]}" "$(col "$peer" 4)" \
            "${P99[$peer]}" "$(col "$peer" 6)" "$(col "$peer" 7)" "$(col "$peer" 9)" "${MAX[$peer]}" \
            "$(each "$peer" 3)" "$(each "$peer" 5)" "$(each "$peer" 10)"
    done
    echo "  (CPU µs/req: the peer process only; for the relays chronyd's own work is not in it)"
    echo
    if [[ -n ${P50[stone]:-} && -n ${P50[nocwatch-relay]:-} ]]; then
        echo "  relay  nocwatch/stone:   p50 $(ratio "${P50[nocwatch-relay]}" "${P50[stone]}"), p99 $(ratio "${P99[nocwatch-relay]}" "${P99[stone]}"), max rate $(ratio "${MAX[nocwatch-relay]}" "${MAX[stone]}")"
        echo "         target p50 <= stone's: $(met "${P50[nocwatch-relay]}" "${P50[stone]}"); p99 <= stone's: $(met "${P99[nocwatch-relay]}" "${P99[stone]}")"
    fi
    if [[ -n ${P50[chronyd]:-} && -n ${P50[nocwatch-server]:-} ]]; then
        echo "  server nocwatch/chronyd: p50 $(ratio "${P50[nocwatch-server]}" "${P50[chronyd]}"), p99 $(ratio "${P99[nocwatch-server]}" "${P99[chronyd]}"), max rate $(ratio "${MAX[nocwatch-server]}" "${MAX[chronyd]}")"
        echo "         target p50 <= chronyd's: $(met "${P50[nocwatch-server]}" "${P50[chronyd]}")"
    fi
    local mode
    for mode in relay server; do
        if [[ -n ${P50[baseline-$mode]:-} && -n ${P50[nocwatch-$mode]:-} ]]; then
            echo "  $mode nocwatch/baseline: p50 $(ratio "${P50[nocwatch-$mode]}" "${P50[baseline-$mode]}"), p99 $(ratio "${P99[nocwatch-$mode]}" "${P99[baseline-$mode]}"), max rate $(ratio "${MAX[nocwatch-$mode]}" "${MAX[baseline-$mode]}")"
        fi
    done
}

setup
start_upstream
read -ra ORDER <<<"$PEERS"
for rep in $(seq 1 "$REPS"); do
    # Interleaved, and the order rotates each repetition, so no peer always goes first.
    for i in "${!ORDER[@]}"; do
        one_rep "${ORDER[$(((i + rep - 1) % ${#ORDER[@]}))]}" "$rep"
    done
done
report | tee "$WORK/report.txt"
