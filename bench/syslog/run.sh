#!/usr/bin/env bash
# Side-by-side syslog receive benchmark: nocwatch vs rsyslog on this machine.
# See bench/README.md. Everything temporary goes under /tmp; nothing is written in the repo.
#
#   bench/syslog/run.sh                 # the whole matrix (UDP zero-loss search + TCP bulk)
#   ONLY=udp bench/syslog/run.sh        # or ONLY=tcp
#   UDP_PLACEMENTS=pinned ONLY=udp bench/syslog/run.sh
#   REPS=5 PEERS="nocwatch" bench/syslog/run.sh
#   NOCWATCH_BIN=/tmp/nocwatch bench/syslog/run.sh   # a prebuilt binary instead of building the tree
#   NOCWATCH_ENV="LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2" ...   # extra environment for nocwatch
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# rsyslog: tuned after rsyslog's own high-performance example (below); rsyslog-seed: the
# seed's rsyslog.conf as deployed (imudp/imtcp with their defaults, default main queue), its
# outputs (omstdout, omfwd to Datadog) replaced by the same file output as the others.
PEERS=${PEERS:-"rsyslog rsyslog-seed nocwatch"}
ONLY=${ONLY:-all}                       # all | udp | tcp
UDP_REPS=${UDP_REPS:-${REPS:-3}}
TCP_REPS=${TCP_REPS:-${REPS:-5}}
UDP_COUNT=${UDP_COUNT:-200000}
UDP_RATES=${UDP_RATES:-"10000 20000 40000 60000 80000 100000 120000 160000 200000 240000 280000 320000 360000"}
UDP_SOCKETS=${UDP_SOCKETS:-16}          # sender sockets = simulated devices (source ports)
UDP_THREADS=${UDP_THREADS:-1}           # generator threads sharing those sockets (one core each at most)
# shared: peer and generator share every CPU (the generator takes CPU from the peer);
# pinned: the generator gets the last CPU, the peer the others (taskset).
# quota: as pinned, and the peer limited to QUOTA_PERCENT % of one CPU (cgroup, root), so the
# generator outruns both peers and the zero-loss rate measures the receiver, not the sender.
UDP_PLACEMENTS=${UDP_PLACEMENTS:-"shared pinned"}
QUOTA_PERCENT=${QUOTA_PERCENT:-20}
# Priority of the peers and the generator: the machine is shared with other benchmarks,
# which run at nice -10; the same keeps ours on par (needs root, else ignored).
NICE=${NICE:--10}
TCP_COUNT=${TCP_COUNT:-1000000}
TCP_FRAMINGS=${TCP_FRAMINGS:-"lf octet"}
RCVBUF_MIB=${RCVBUF_MIB:-8}             # per nocwatch socket (its default); rsyslog gets receivers x this
QUEUE_EVENTS=${QUEUE_EVENTS:-250000}    # rsyslog ruleset queue.size = nocwatch sink buffer.max_events
# nocwatch's queue of read, unparsed datagrams, in bytes: rsyslog's queue holds unparsed
# messages too (its workers parse); QUEUE_EVENTS lines of the mix (368 bytes on average) are 88 MiB.
RECEIVE_QUEUE_MIB=${RECEIVE_QUEUE_MIB:-96}
RMEM_MAX_WANTED=${RMEM_MAX_WANTED:-33554432}
RSYSLOG_TCP_MODULE=${RSYSLOG_TCP_MODULE:-imptcp}
NOCWATCH_TARGET_DIR=${NOCWATCH_TARGET_DIR:-/tmp/target-bench}
LOADGEN_TARGET_DIR=${LOADGEN_TARGET_DIR:-/tmp/target-bench-loadgen}
WORK=${WORK:-$(mktemp -d /tmp/nocwatch-bench-syslog.XXXXXX)}
KEEP_OUTPUT=${KEEP_OUTPUT:-0}           # 1: keep every run's output file (large)
RESULTS=$WORK/results.tsv
NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------- setup
setup() {
    mkdir -p "$WORK"
    log "work directory: $WORK"
    if ! command -v rsyslogd >/dev/null; then
        log "installing rsyslog"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog >/dev/null
    fi
    RMEM_MAX_BEFORE=$(sysctl -n net.core.rmem_max)
    if (( RMEM_MAX_BEFORE < RMEM_MAX_WANTED )); then
        if sysctl -qw net.core.rmem_max="$RMEM_MAX_WANTED" 2>/dev/null; then
            log "net.core.rmem_max raised $RMEM_MAX_BEFORE -> $RMEM_MAX_WANTED (restored at exit)"
            trap 'sysctl -qw net.core.rmem_max='"$RMEM_MAX_BEFORE"'; cleanup' EXIT
        else
            log "WARNING: cannot raise net.core.rmem_max ($RMEM_MAX_BEFORE); nocwatch gets at most that per socket"
        fi
    fi
    if [[ -n ${NOCWATCH_BIN:-} ]]; then
        log "using the given nocwatch binary $NOCWATCH_BIN"
    else
        log "building nocwatch (release, CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR)"
        (cd "$REPO" && CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR cargo build --release -q -p nocwatch)
        NOCWATCH_BIN=$NOCWATCH_TARGET_DIR/release/nocwatch
    fi
    log "building loadgen (CARGO_TARGET_DIR=$LOADGEN_TARGET_DIR)"
    (cd "$REPO/bench/loadgen" && CARGO_TARGET_DIR=$LOADGEN_TARGET_DIR cargo build --release -q)
    NOCWATCH=$NOCWATCH_BIN
    LOADGEN=$LOADGEN_TARGET_DIR/release/loadgen
    RSYSLOG_VERSION=$(rsyslogd -v | head -1 | awk '{print $2}')
    printf 'peer\tmode\tparam\trep\tachieved_rate\tlost\tcpu_s\tdrain_s\trcvbuf_errors\tplacement\tpeak_rss_mb\n' >"$RESULTS"
}

# set_placement shared|pinned: sets PEER_RUN / GEN_RUN (command prefixes) and RECV_CPUS
# (CPUs the peer may use; rsyslog's thread counts and receive buffer follow it, nocwatch
# sees it through its CPU affinity).
PRIO=()
if [[ $NICE != 0 ]] && nice -n "$NICE" true 2>/dev/null && [[ $(nice -n "$NICE" nice) == "$NICE" ]]; then
    PRIO=(nice -n "$NICE")
fi
set_placement() {
    PLACEMENT=$1
    if [[ $PLACEMENT == quota && $NCPU -ge 2 ]]; then
        PEER_RUN=("${PRIO[@]}" "$REPO/bench/syslog/cpu-quota.sh" "$QUOTA_PERCENT" taskset -c 0)
        GEN_RUN=("${PRIO[@]}" taskset -c "$((NCPU - 1))")
        RECV_CPUS=1
    elif [[ $PLACEMENT == pinned && $NCPU -ge 2 ]]; then
        PEER_RUN=("${PRIO[@]}" taskset -c "0-$((NCPU - 2))")
        GEN_RUN=("${PRIO[@]}" taskset -c "$((NCPU - 1))")
        RECV_CPUS=$((NCPU - 1))
    else
        PEER_RUN=("${PRIO[@]}")
        GEN_RUN=("${PRIO[@]}")
        RECV_CPUS=$NCPU
    fi
}
set_placement shared

PEER_PID=""
cleanup() {
    if [[ -n $PEER_PID ]]; then kill -TERM "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
    PEER_PID=""
    rmdir /sys/fs/cgroup/nocwatch-bench-* /sys/fs/cgroup/cpu/nocwatch-bench-* 2>/dev/null || true
}
trap cleanup EXIT

# ---------------------------------------------------------------- peers
# start_peer PEER MODE(udp|tcp) DIR PORT: writes the config into DIR, starts the peer,
# waits until a probe line reaches DIR/out.json. Sets PEER_PID.
start_peer() {
    local peer=$1 mode=$2 dir=$3 port=$4
    mkdir -p "$dir"
    local out=$dir/out.json
    : >"$out"
    case $peer in
    nocwatch)
        cat >"$dir/nocwatch.yaml" <<EOF
log: {level: warn}
admin: {enabled: false}
shutdown: {drain_period: 0s, flush_timeout: 30s}
sources:
  bench:
    type: syslog
    mode: $mode
    address: 127.0.0.1:$port
    receive_buffer: ${RCVBUF_MIB}MiB      # receivers: default, one per CPU
    receive_queue: ${RECEIVE_QUEUE_MIB}MiB
sinks:
  out:
    type: file
    path: $out
    max_size: 100GiB                      # no rotation during a run
    buffer: {max_events: $QUEUE_EVENTS, when_full: block}
EOF
        "${PEER_RUN[@]}" env ${NOCWATCH_ENV:-} "$NOCWATCH" run --config "$dir/nocwatch.yaml" >"$dir/peer.log" 2>&1 &
        PEER_PID=$!
        ;;
    rsyslog | rsyslog-seed)
        local input
        if [[ $peer == rsyslog-seed ]]; then
            # The seed's inputs exactly (imudp without rcvbufSize: the kernel's default
            # buffer, net.core.rmem_default), on the default ruleset and main queue.
            input="module(load=\"imudp\")
input(type=\"imudp\" address=\"127.0.0.1\" port=\"$port\")"
            [[ $mode == tcp ]] && input="module(load=\"imtcp\")
input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$port\")"
        elif [[ $mode == udp ]]; then
            input="module(load=\"imudp\" threads=\"$RECV_CPUS\" timeRequery=\"8\" batchSize=\"128\")
input(type=\"imudp\" address=\"127.0.0.1\" port=\"$port\" rcvbufSize=\"$((RCVBUF_MIB * RECV_CPUS))m\" ruleset=\"bench\")"
        elif [[ $RSYSLOG_TCP_MODULE == imptcp ]]; then
            input="module(load=\"imptcp\" threads=\"$RECV_CPUS\")
input(type=\"imptcp\" address=\"127.0.0.1\" port=\"$port\" ruleset=\"bench\")"
        else
            input="module(load=\"imtcp\")
input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$port\" ruleset=\"bench\")"
        fi
        # The template writes the fields nocwatch's event has, as JSON; the same async
        # omfile for both rsyslog peers.
        local action="action(type=\"omfile\" file=\"$out\" template=\"bench_json\"
         ioBufferSize=\"64k\" flushOnTXEnd=\"off\" asyncWriting=\"on\")"
        local global="global(workDirectory=\"$dir\")"
        if [[ $peer == rsyslog ]]; then
            # Tuning after rsyslog's "Receiving massive amounts of messages with high
            # performance" example (imudp threads/batchSize/timeRequery, fixedArray ruleset
            # queue, async omfile), with threads = CPUs.
            global="global(workDirectory=\"$dir\" maxMessageSize=\"64k\" net.enableDNS=\"off\")"
            action="ruleset(name=\"bench\" queue.type=\"fixedArray\" queue.size=\"$QUEUE_EVENTS\" queue.dequeueBatchSize=\"4096\"
        queue.workerThreads=\"$RECV_CPUS\" queue.workerThreadMinimumMessages=\"60000\") {
  $action
}"
        fi
        cat >"$dir/rsyslog.conf" <<EOF
$global
$input
template(name="bench_json" type="list" option.jsonf="on") {
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  constant(outname="source" value="syslog" format="jsonf")
  property(outname="service" name="app-name" format="jsonf")
  property(outname="status" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="peer_ip" name="fromhost-ip" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
$action
EOF
        "${PEER_RUN[@]}" rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$dir/peer.log" 2>&1 &
        PEER_PID=$!
        ;;
    esac
    if ! "$LOADGEN" ready --proto "$mode" --target "127.0.0.1:$port" --file "$out" --timeout-ms 20000; then
        log "$peer did not start; its log:"; cat "$dir/peer.log" >&2; exit 1
    fi
    # Let the probe lines settle, then start from an empty file (truncate is safe: both
    # peers write with O_APPEND).
    sleep 1.5
    : >"$out"
}

stop_peer() { cleanup; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rcvbuf_errors() { awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }

# one_run PEER MODE PARAM REP: one measurement; appends a row to RESULTS and echoes "lost".
one_run() {
    local peer=$1 mode=$2 param=$3 rep=$4
    local dir=$WORK/$peer-$mode-$PLACEMENT-$param-$rep port
    port=$("$LOADGEN" freeport)
    start_peer "$peer" "$mode" "$dir" "$port"
    local cpu0 cpu1 err0 err1 sendout countout count
    cpu0=$(cpu_ticks "$PEER_PID"); err0=$(rcvbuf_errors)
    if [[ $mode == udp ]]; then
        count=$UDP_COUNT
        sendout=$("${GEN_RUN[@]}" "$LOADGEN" udp --target "127.0.0.1:$port" --count "$count" --rate "$param" \
            --sockets "$UDP_SOCKETS" --threads "$UDP_THREADS" --settle "$dir/out.json")
    else
        count=$TCP_COUNT
        sendout=$("${GEN_RUN[@]}" "$LOADGEN" tcp --target "127.0.0.1:$port" --count "$count" --framing "$param" \
            --settle "$dir/out.json")
    fi
    cpu1=$(cpu_ticks "$PEER_PID"); err1=$(rcvbuf_errors)
    local rss_mb
    rss_mb=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$PEER_PID/status" 2>/dev/null || echo 0)
    stop_peer
    countout=$("$LOADGEN" count "$dir/out.json" --expect "$count")
    [[ $KEEP_OUTPUT == 1 ]] || rm -f "$dir/out.json"
    local achieved lost drain cpu
    achieved=$(sed -n 's/.*achieved_rate=\([0-9]*\).*/\1/p' <<<"$sendout")
    drain=$(sed -n 's/.*drain_s=\([0-9.]*\).*/\1/p' <<<"$sendout")
    lost=$(sed -n 's/.*lost=\([0-9]*\).*/\1/p' <<<"$countout")
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$mode" "$param" "$rep" "$achieved" "$lost" "$cpu" \
        "$drain" "$((err1 - err0))" "$PLACEMENT" "${rss_mb:-0}" >>"$RESULTS"
    log "$(printf '%-8s %-3s %-6s %-6s rep %s: achieved %7s/s lost %6s cpu %6ss drain %6ss kernel-rcvbuf-drops %s peak-rss %sMB' \
        "$peer" "$mode" "$PLACEMENT" "$param" "$rep" "$achieved" "$lost" "$cpu" "$drain" "$((err1 - err0))" "${rss_mb:-0}")"
    LAST_LOST=$lost
    LAST_ACHIEVED=$achieved
}

# ---------------------------------------------------------------- matrix
UDP_BEST=$WORK/udp_best.tsv
udp_matrix() {
    printf 'peer\trep\tzero_loss_rate\tlimited_by\tplacement\n' >"$UDP_BEST"
    local rep peer rate best limit placement
    for placement in $UDP_PLACEMENTS; do
        set_placement "$placement"
        for rep in $(seq 1 "$UDP_REPS"); do
            for peer in $PEERS; do
                best=0 limit="top of the rate list"
                for rate in $UDP_RATES; do
                    one_run "$peer" udp "$rate" "$rep"
                    local short=""
                    (( LAST_ACHIEVED * 100 >= rate * 97 )) || short="generator short: $LAST_ACHIEVED/s"
                    if (( LAST_LOST > 0 )); then limit="loss at $rate${short:+, $short}"; break; fi
                    # Lossless but the generator could not keep the rate: the peer took
                    # everything at the rate achieved, which is then a lower bound.
                    if [[ -n $short ]]; then best=$LAST_ACHIEVED limit="$short at $rate, no loss: a lower bound"; break; fi
                    best=$rate
                done
                printf '%s\t%s\t%s\t%s\t%s\n' "$peer" "$rep" "$best" "$limit" "$placement" >>"$UDP_BEST"
                log "$peer UDP ($placement) search $rep: zero-loss rate $best ($limit)"
            done
        done
    done
    set_placement shared
}

tcp_matrix() {
    local rep peer framing
    for rep in $(seq 1 "$TCP_REPS"); do
        for framing in $TCP_FRAMINGS; do
            for peer in $PEERS; do
                one_run "$peer" tcp "$framing" "$rep"
            done
        done
    done
}

# ---------------------------------------------------------------- report
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

report() {
    echo
    echo "== syslog receive benchmark: nocwatch vs rsyslog $RSYSLOG_VERSION on $NCPU CPUs, kernel $(uname -r)"
    echo "   net.core.rmem_max during the run: $(sysctl -n net.core.rmem_max); priority: ${PRIO[*]:-default}; raw results: $RESULTS"
    if [[ -s $UDP_BEST ]]; then
        local peer placement
        for placement in $UDP_PLACEMENTS; do
            echo
            echo "UDP ($placement): highest zero-loss rate of $UDP_COUNT lines (rates tried: $UDP_RATES), median of $UDP_REPS searches"
            printf '  %-13s %12s   %s\n' peer median "each search"
            declare -A med=()
            for peer in $PEERS; do
                med[$peer]=$(awk -v p="$peer" -v pl="$placement" -F'\t' '$1 == p && $5 == pl { print $3 }' "$UDP_BEST" | median)
                printf '  %-13s %12s   %s\n' "$peer" "${med[$peer]}" \
                    "$(awk -v p="$peer" -v pl="$placement" -F'\t' '$1 == p && $5 == pl { printf "%s (%s); ", $3, $4 }' "$UDP_BEST")"
            done
            for base in rsyslog rsyslog-seed; do
                if [[ -n ${med[nocwatch]:-} && -n ${med[$base]:-} ]]; then
                    echo "  ratio nocwatch/$base: $(ratio "${med[nocwatch]}" "${med[$base]}")  (target: >= 4)"
                fi
            done
            echo "  per rate: lost lines, peer CPU-seconds and achieved send rate of each run:"
            awk -v pl="$placement" -F'\t' '$2 == "udp" && $10 == pl { k = $1 " " $3; n[k]++; l[k] = l[k] " " $6; c[k] = c[k] " " $7; a[k] = a[k] " " $5 }
                END { for (k in n) print k "\t" n[k] "\t" l[k] "\t" c[k] "\t" a[k] }' "$RESULTS" | sort -k1,1 -k2,2n |
                while IFS=$'\t' read -r key n losses cpus rates; do
                    printf '    %-16s runs %s  lost:%s  cpu-s:%s  sent/s:%s\n' "$key" "$n" "$losses" "$cpus" "$rates"
                done
        done
    fi
    if grep -q $'\ttcp\t' "$RESULTS"; then
        echo
        echo "TCP bulk: $TCP_COUNT lines over one connection, median of $TCP_REPS runs"
        printf '  %-8s %-10s %14s %12s %16s %10s %14s\n' framing peer "cpu-s/M lines" "wall s" "lines/s (wall)" "lost (max)" "peak RSS MB"
        local framing
        for framing in $TCP_FRAMINGS; do
            declare -A cpu wall
            for peer in $PEERS; do
                cpu[$peer]=$(awk -v p="$peer" -v f="$framing" -v n="$TCP_COUNT" -F'\t' \
                    '$1 == p && $2 == "tcp" && $3 == f { printf "%.3f\n", $7 * 1e6 / n }' "$RESULTS" | median)
                wall[$peer]=$(awk -v p="$peer" -v f="$framing" -F'\t' '$1 == p && $2 == "tcp" && $3 == f { print $8 }' "$RESULTS" | median)
                local lostmax
                lostmax=$(awk -v p="$peer" -v f="$framing" -F'\t' '$1 == p && $2 == "tcp" && $3 == f { if ($6 > m) m = $6 } END { print m + 0 }' "$RESULTS")
                local rss
                rss=$(awk -v p="$peer" -v f="$framing" -F'\t' '$1 == p && $2 == "tcp" && $3 == f { print $11 }' "$RESULTS" | median)
                printf '  %-8s %-10s %14s %12s %16s %10s %14s\n' "$framing" "$peer" "${cpu[$peer]}" "${wall[$peer]}" \
                    "$(awk -v w="${wall[$peer]}" -v n="$TCP_COUNT" 'BEGIN { if (w > 0) printf "%.0f", n / w; else print "n/a" }')" "$lostmax" "$rss"
            done
            for base in rsyslog rsyslog-seed; do
                if [[ -n ${cpu[nocwatch]:-} && -n ${cpu[$base]:-} ]]; then
                    echo "  $framing ratio nocwatch/$base: CPU per line $(ratio "${cpu[nocwatch]}" "${cpu[$base]}") (target: <= 1), wall time $(ratio "${wall[nocwatch]}" "${wall[$base]}")"
                fi
            done
        done
    fi
}

setup
log "loadgen self-test (unpaced, 1M lines, alone; must exceed the rates tested):"
"${PRIO[@]}" "$LOADGEN" selftest --count 1000000 --sockets "$UDP_SOCKETS" | sed 's/^/    /' >&2
if [[ $NCPU -ge 2 ]]; then
    log "loadgen self-test pinned to CPU $((NCPU - 1)):"
    "${PRIO[@]}" taskset -c "$((NCPU - 1))" "$LOADGEN" selftest --count 1000000 --sockets "$UDP_SOCKETS" | sed 's/^/    /' >&2
fi
[[ $ONLY == tcp ]] || udp_matrix
[[ $ONLY == udp ]] || tcp_matrix
report | tee "$WORK/report.txt"
