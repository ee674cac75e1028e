#!/usr/bin/env bash
# Side-by-side SNMP trap receive benchmark: nocwatch vs net-snmp snmptrapd on this machine.
# Both load the same MIB directories and write one line per trap to a file; both receive
# the same captured trap datagrams (../shared/testdata/traps) at fixed rates from
# bench/loadgen. For each case (v2c, v3 authPriv) and receiver, the rates are tried in
# ascending order on one receiver process (restarted for v3 before its engine clock leaves
# the capture's time window), until one loses traps; the highest rate without loss is the
# result. Repeated REPS times; medians and ratios are printed.
#
#   bench/traps/run.sh
#   REPS=5 CASES=v3 bench/traps/run.sh
#   NOCWATCH_BIN=/tmp/nocwatch PEERS=nocwatch RATES_nocwatch="50000 100000" bench/traps/run.sh
#
# Everything temporary goes under /tmp. Needs: cargo, snmptrapd (Debian package
# snmptrapd; installed if missing), root to raise net.core.rmem_max (else what the kernel
# grants is used, for both).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=${DATA:-$REPO/../shared/testdata}
PEERS=${PEERS:-"snmptrapd nocwatch"}
CASES=${CASES:-"v2c v3"}
REPS=${REPS:-3}
STEP_SECS=${STEP_SECS:-5}               # each rate is held this long (count = rate x STEP_SECS)
SOCKETS=${SOCKETS:-16}                  # sender source ports = simulated devices
RCVBUF=${RCVBUF:-8388608}               # receive buffer asked by both (nocwatch: per socket)
RATES_snmptrapd=${RATES_snmptrapd:-"1000 2000 3000 4000 5000 6000 8000 10000 12000 14000 16000 20000 25000 30000"}
RATES_nocwatch=${RATES_nocwatch:-"10000 20000 30000 40000 50000 60000 80000 100000 120000 140000 160000 200000 240000"}
MIB_DIRS=${MIB_DIRS:-"$DATA/mibs/net-snmp $DATA/mibs/rfc $DATA/mibs/cisco $DATA/mibs/juniper"}
NOCWATCH_TARGET_DIR=${NOCWATCH_TARGET_DIR:-/tmp/target-bench}
LOADGEN_TARGET_DIR=${LOADGEN_TARGET_DIR:-/tmp/target-bench-loadgen}
WORK=${WORK:-$(mktemp -d /tmp/nocwatch-bench-traps.XXXXXX)}
RESULTS=$WORK/results.tsv
V2C=$DATA/traps/v2c-linkDown.bin
V3=$DATA/traps/v3-authPriv-linkUp-engine8000000001020304.bin

# The machine is shared with other builds and benchmarks, which run at nice -10 when they
# measure: the receivers and the generator run at NICE (root only, else ignored).
NICE=${NICE:--10}
PRIO=()
if [[ $NICE != 0 ]] && nice -n "$NICE" true 2>/dev/null && [[ $(nice -n "$NICE" nice) == "$NICE" ]]; then
    PRIO=(nice -n "$NICE")
fi

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

PEER_PID=""
cleanup() {
    if [[ -n $PEER_PID ]]; then kill -TERM "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
    PEER_PID=""
}
trap cleanup EXIT

setup() {
    mkdir -p "$WORK"
    log "work directory: $WORK"
    command -v snmptrapd >/dev/null || {
        log "installing snmptrapd"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq snmptrapd >/dev/null
    }
    local before
    before=$(sysctl -n net.core.rmem_max)
    if ((before < RCVBUF)) && sysctl -qw net.core.rmem_max="$RCVBUF" 2>/dev/null; then
        log "net.core.rmem_max raised $before -> $RCVBUF (restored at exit)"
        trap 'sysctl -qw net.core.rmem_max='"$before"'; cleanup' EXIT
    fi
    if [[ -z ${NOCWATCH_BIN:-} ]]; then
        log "building nocwatch (release, CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR)"
        (cd "$REPO" && CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR cargo build --release -q -p nocwatch)
        NOCWATCH_BIN=$NOCWATCH_TARGET_DIR/release/nocwatch
    fi
    log "building loadgen (CARGO_TARGET_DIR=$LOADGEN_TARGET_DIR)"
    (cd "$REPO/bench/loadgen" && CARGO_TARGET_DIR=$LOADGEN_TARGET_DIR cargo build --release -q)
    LOADGEN=$LOADGEN_TARGET_DIR/release/loadgen
    # Compile nocwatch's MIB cache once, so every start below reads it (start-up is not measured).
    printf 'peer\tcase\trep\trate\tsent\treceived\tlost\tachieved_rate\n' >"$RESULTS"
}

# start_peer PEER DIR PORT: config in DIR, output DIR/out, waits until a probe trap (the
# v2c capture) is written. Sets PEER_PID.
start_peer() {
    local peer=$1 dir=$2 port=$3
    mkdir -p "$dir"
    local out=$dir/out
    : >"$out"
    case $peer in
    nocwatch)
        local dirs
        dirs=$(printf "'%s'," $MIB_DIRS)
        cat >"$dir/nocwatch.yaml" <<EOF
log: {level: warn}
admin: {enabled: false}
agent: {data_dir: '$WORK/nocwatch-data'}
shutdown: {drain_period: 0s, flush_timeout: 30s}
mibs: {dirs: [${dirs%,}]}
sources:
  traps:
    type: snmp_traps
    address: 127.0.0.1:$port
    receive_buffer: $RCVBUF
    communities: [public]
    users:
      - {user: trapuser, auth_protocol: SHA, auth_key: trapauthpass1, priv_protocol: AES, priv_key: trapprivpass1}
sinks:
  # Never rotated during a step, so the line count is the whole output.
  out: {type: file, path: '$out', max_size: 64GiB, buffer: {max_events: 250000}}
EOF
        "${PRIO[@]}" "$NOCWATCH_BIN" run --config "$dir/nocwatch.yaml" 2>"$dir/stderr" &
        ;;
    snmptrapd)
        cat >"$dir/snmptrapd.conf" <<EOF
[snmp] serverRecvBuf $RCVBUF
authCommunity log public
createUser -e 0x8000000001020304 trapuser SHA trapauthpass1 AES trapprivpass1
authUser log trapuser
EOF
        # One line per trap: the sender, then every varbind by name with enum labels (%v).
        "${PRIO[@]}" snmptrapd -f -n -C -c "$dir/snmptrapd.conf" -M "$(echo $MIB_DIRS | tr ' ' ':')" -m ALL \
            -F '%B %v\n' -Lf "$out" -p "$dir/pid" "udp:127.0.0.1:$port" 2>"$dir/stderr" &
        ;;
    esac
    PEER_PID=$!
    # Ready once a probe trap is in the output (snmptrapd writes a banner line before it has
    # loaded the MIBs and bound its port).
    local pattern='"source":"snmp-traps"'
    [[ $peer == snmptrapd ]] && pattern='UDP: \['
    local tries=0
    until grep -q "$pattern" "$out"; do
        ((++tries < 600)) || { log "$peer did not start: $(tail -3 "$dir/stderr")"; exit 1; }
        "$LOADGEN" packets --target "127.0.0.1:$port" --file "$V2C" --count 1 --sockets 1 >/dev/null 2>&1 || true
        sleep 0.2
    done
    sleep 1
}

# run_rate PEER CASE RATE REP: STEP_SECS at RATE on the running receiver (started fresh for
# each search, and again before a v3 step when it has run MAX_AGE seconds: a replayed v3
# capture is only inside the 150 s time window of an engine clock that started with it).
# Sets LOST (not echoed: the receiver must outlive this call, so no subshell).
MAX_AGE=${MAX_AGE:-90}
run_rate() {
    local peer=$1 case=$2 rate=$3 rep=$4
    if [[ -z $PEER_PID ]] || { [[ $case == v3 ]] && ((SECONDS - PEER_STARTED > MAX_AGE)); }; then
        cleanup
        PEER_DIR=$WORK/$peer-$case-$rep-$rate
        PEER_PORT=$("$LOADGEN" freeport)
        start_peer "$peer" "$PEER_DIR" "$PEER_PORT"
        PEER_STARTED=$SECONDS
    fi
    local out=$PEER_DIR/out
    local base
    base=$(wc -l <"$out")
    local file=$V2C
    [[ $case == v3 ]] && file=$V3
    local count=$((rate * STEP_SECS)) sent
    sent=$("${PRIO[@]}" "$LOADGEN" packets --target "127.0.0.1:$PEER_PORT" --file "$file" --count "$count" \
        --rate "$rate" --sockets "$SOCKETS" --settle "$out" --quiet-ms 2000)
    local received=$(($(wc -l <"$out") - base))
    local achieved
    achieved=$(sed -n 's/.*achieved_rate=\([0-9]*\).*/\1/p' <<<"$sent")
    local lost=$((count - received))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$case" "$rep" "$rate" "$count" "$received" "$lost" "$achieved" >>"$RESULTS"
    log "$peer $case rep $rep: rate $rate (achieved $achieved): received $received of $count, lost $lost"
    LOST=$lost
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

setup
declare -A BEST
for case in $CASES; do
    for rep in $(seq 1 "$REPS"); do
        for peer in $PEERS; do
            rates_var=RATES_$peer
            best=0
            for rate in ${!rates_var}; do
                run_rate "$peer" "$case" "$rate" "$rep"
                if ((LOST > 0)); then break; fi
                best=$rate
            done
            cleanup
            rm -rf "$WORK/$peer-$case-$rep-"*
            BEST[$peer-$case]+="$best "
            log "$peer $case rep $rep: highest zero-loss rate $best/s"
        done
    done
done

echo
echo "highest zero-loss rate (traps/s), median of $REPS; each step ${STEP_SECS}s, $SOCKETS sender ports"
printf '%-6s %-10s %-12s %s\n' case peer median runs
for case in $CASES; do
    for peer in $PEERS; do
        runs=${BEST[$peer-$case]:-}
        printf '%-6s %-10s %-12s %s\n' "$case" "$peer" "$(tr ' ' '\n' <<<"$runs" | grep . | median)" "$runs"
    done
    if [[ $PEERS == *snmptrapd* && $PEERS == *nocwatch* ]]; then
        a=$(tr ' ' '\n' <<<"${BEST[nocwatch-$case]}" | grep . | median)
        b=$(tr ' ' '\n' <<<"${BEST[snmptrapd-$case]}" | grep . | median)
        awk -v a="$a" -v b="$b" -v c="$case" 'BEGIN { if (b > 0) printf "%-6s ratio nocwatch/snmptrapd %.1fx\n", c, a / b }'
    fi
done
echo "per-step results: $RESULTS"
