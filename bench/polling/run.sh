#!/usr/bin/env bash
# SNMP polling benchmark (issue 6): nocwatch polling 1,000 simulated Catalyst devices every
# 60 s (CPU %, peak RSS), and CPU-seconds per million varbinds for nocwatch vs Prometheus'
# snmp_exporter scraping the same simulated device with an equivalent module.
# See bench/polling/README.md. Temporary files go under /tmp, never into the repository.
#
#   bench/polling/run.sh                       # everything (about 15 minutes)
#   ONLY=scale bench/polling/run.sh            # or ONLY=varbind
#   DEVICES=200 INTERVAL=30 ROUNDS=2 bench/polling/run.sh
#   NOCWATCH_BIN=/tmp/nocwatch bench/polling/run.sh
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ONLY=${ONLY:-all}                      # all | scale | varbind
DEVICES=${DEVICES:-1000}
INTERVAL=${INTERVAL:-60}               # seconds between polls of one device
ROUNDS=${ROUNDS:-3}                    # measured poll rounds (after one warm-up round)
REPS=${REPS:-3}                        # repetitions of the per-varbind comparison
SCRAPES=${SCRAPES:-300}                # snmp_exporter scrapes per repetition
FIRST_PORT=${FIRST_PORT:-20000}
RECORDING=${RECORDING:-$REPO/../shared/testdata/snmprec/cisco-c3560.snmprec}
NOCWATCH_TARGET_DIR=${NOCWATCH_TARGET_DIR:-/tmp/target-bench}
SIM_TARGET_DIR=${SIM_TARGET_DIR:-/tmp/target-bench-simulator}
WORK=${WORK:-$(mktemp -d /tmp/nocwatch-bench-polling.XXXXXX)}
CLK_TCK=$(getconf CLK_TCK)
PIDS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
sim_varbinds() { tail -1 "$1" | sed -n 's/.*varbinds=\([0-9]*\).*/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

setup() {
    mkdir -p "$WORK"
    log "work directory: $WORK"
    if ! command -v prometheus-snmp-exporter >/dev/null; then
        log "installing prometheus-snmp-exporter"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-snmp-exporter >/dev/null
    fi
    if [[ -z ${NOCWATCH_BIN:-} ]]; then
        log "building nocwatch (release, CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR)"
        (cd "$REPO" && CARGO_TARGET_DIR=$NOCWATCH_TARGET_DIR cargo build --release -q -p nocwatch)
        NOCWATCH_BIN=$NOCWATCH_TARGET_DIR/release/nocwatch
    fi
    log "building the simulator (CARGO_TARGET_DIR=$SIM_TARGET_DIR)"
    (cd "$REPO/bench/polling/simulator" && CARGO_TARGET_DIR=$SIM_TARGET_DIR cargo build --release -q)
    SIM=$SIM_TARGET_DIR/release/snmp-simulator
}

# start_sim FIRST LAST OUT: starts the simulator on those ports; sets SIM_PID.
start_sim() {
    "$SIM" "$RECORDING" --ports "$1-$2" --stats 1 >"$3" 2>"$3.err" &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    for _ in $(seq 100); do grep -q serving "$3.err" 2>/dev/null && return; sleep 0.1; done
    log "simulator did not start: $(cat "$3.err")"; exit 1
}

# nocwatch_config DEVICES INTERVAL FIRST_PORT ADMIN_PORT
nocwatch_config() {
    local n=$1 interval=$2 first=$3 admin=$4
    cat <<EOF
admin: {address: "127.0.0.1:$admin"}
log: {level: warn}
sources:
  snmp:
    type: snmp
    community: public
    interval: ${interval}s
    timeout: 2s
    retries: 1
    devices:
EOF
    for ((i = 0; i < n; i++)); do echo "      - {address: 127.0.0.1, port: $((first + i))}"; done
    cat <<EOF
sinks:
  out:
    type: console
EOF
}

# ---------------------------------------------------------------- 1,000 devices
scale() {
    log "scale: $DEVICES devices every ${INTERVAL}s, 1 warm-up round + $ROUNDS measured"
    start_sim "$FIRST_PORT" $((FIRST_PORT + DEVICES - 1)) "$WORK/sim-scale.out"
    nocwatch_config "$DEVICES" "$INTERVAL" "$FIRST_PORT" 18701 >"$WORK/scale.yaml"
    "$NOCWATCH_BIN" run -c "$WORK/scale.yaml" >/dev/null 2>"$WORK/scale.log" &
    local pid=$!
    PIDS+=("$pid")
    sleep "$INTERVAL"
    local t0 c0 v0 start
    t0=$(date +%s.%N); c0=$(cpu_ticks "$pid"); v0=$(sim_varbinds "$WORK/sim-scale.out")
    for ((r = 1; r <= ROUNDS; r++)); do
        start=$(cpu_ticks "$pid")
        sleep "$INTERVAL"
        log "  round $r: $(awk -v a="$start" -v b="$(cpu_ticks "$pid")" -v t="$CLK_TCK" -v i="$INTERVAL" 'BEGIN {printf "%.2f%% of one core", (b-a)/t/i*100}')"
    done
    local t1 c1 v1 rss
    t1=$(date +%s.%N); c1=$(cpu_ticks "$pid"); v1=$(sim_varbinds "$WORK/sim-scale.out"); rss=$(peak_rss_kib "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
    local errors
    errors=$(grep -c "unreachable\|did not finish" "$WORK/scale.log" || true)
    awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v v0="$v0" -v v1="$v1" -v rss="$rss" -v tck="$CLK_TCK" -v n="$DEVICES" -v e="$errors" 'BEGIN {
        cpu = (c1 - c0) / tck; wall = t1 - t0; vb = v1 - v0;
        printf "scale\tdevices=%d\tcpu_percent=%.2f\tpeak_rss_mib=%.1f\tvarbinds_per_s=%.0f\tcpu_s_per_million_varbinds=%.3f\twarning_lines=%d\n",
            n, cpu / wall * 100, rss / 1024, vb / wall, cpu / vb * 1e6, e }' | tee -a "$WORK/results.tsv"
}

# ---------------------------------------------------------------- per varbind, vs snmp_exporter
# snmp_exporter's module walks the same columns and gets the same scalars the bundled
# Catalyst profile does (bench/polling/snmp.yml), with interface names as labels.
varbind() {
    local port=$((FIRST_PORT + DEVICES + 10))
    for ((rep = 1; rep <= REPS; rep++)); do
        # snmp_exporter: SCRAPES scrapes of one simulated device, back to back.
        start_sim "$port" "$port" "$WORK/sim-exporter.out"
        python3 "$REPO/bench/polling/snmp_yml.py" "$REPO/profiles" cisco-catalyst "$RECORDING" >"$WORK/snmp.yml"
        prometheus-snmp-exporter --config.file="$WORK/snmp.yml" --web.listen-address=127.0.0.1:19116 \
            --log.level=warn >"$WORK/exporter.log" 2>&1 &
        local pid=$!
        PIDS+=("$pid")
        for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:19116/" && break; sleep 0.1; done
        curl -sf -o "$WORK/exporter-sample.txt" "http://127.0.0.1:19116/snmp?target=127.0.0.1:$port&module=catalyst"
        local c0 v0 c1 v1
        c0=$(cpu_ticks "$pid"); sleep 1.1; v0=$(sim_varbinds "$WORK/sim-exporter.out")
        for ((s = 0; s < SCRAPES; s++)); do
            curl -sf -o /dev/null "http://127.0.0.1:19116/snmp?target=127.0.0.1:$port&module=catalyst"
        done
        sleep 1.1; c1=$(cpu_ticks "$pid"); v1=$(sim_varbinds "$WORK/sim-exporter.out")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
        awk -v c0="$c0" -v c1="$c1" -v v0="$v0" -v v1="$v1" -v tck="$CLK_TCK" -v r="$rep" 'BEGIN {
            printf "varbind\tpeer=snmp_exporter\trep=%d\tvarbinds=%d\tcpu_s=%.2f\tcpu_s_per_million_varbinds=%.3f\n", r, v1-v0, (c1-c0)/tck, (c1-c0)/tck/(v1-v0)*1e6 }' \
            | tee -a "$WORK/results.tsv"

        # nocwatch: the same device, polled back to back (interval 1 s, 20 devices on
        # that port range so the poller, not the interval, sets the pace).
        start_sim "$port" $((port + 19)) "$WORK/sim-nocwatch.out"
        nocwatch_config 20 1 "$port" 18702 >"$WORK/varbind.yaml"
        "$NOCWATCH_BIN" run -c "$WORK/varbind.yaml" >/dev/null 2>"$WORK/varbind.log" &
        pid=$!
        PIDS+=("$pid")
        sleep 5
        c0=$(cpu_ticks "$pid"); v0=$(sim_varbinds "$WORK/sim-nocwatch.out")
        sleep 30
        c1=$(cpu_ticks "$pid"); v1=$(sim_varbinds "$WORK/sim-nocwatch.out")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
        awk -v c0="$c0" -v c1="$c1" -v v0="$v0" -v v1="$v1" -v tck="$CLK_TCK" -v r="$rep" 'BEGIN {
            printf "varbind\tpeer=nocwatch\trep=%d\tvarbinds=%d\tcpu_s=%.2f\tcpu_s_per_million_varbinds=%.3f\n", r, v1-v0, (c1-c0)/tck, (c1-c0)/tck/(v1-v0)*1e6 }' \
            | tee -a "$WORK/results.tsv"
    done
    local ours theirs
    ours=$(grep -P "^varbind\tpeer=nocwatch" "$WORK/results.tsv" | sed 's/.*cpu_s_per_million_varbinds=//' | median)
    theirs=$(grep -P "^varbind\tpeer=snmp_exporter" "$WORK/results.tsv" | sed 's/.*cpu_s_per_million_varbinds=//' | median)
    awk -v o="$ours" -v t="$theirs" 'BEGIN {
        printf "median CPU-s per million varbinds: nocwatch %.3f, snmp_exporter %.3f, ratio nocwatch/snmp_exporter %.3f (target <= 0.25)\n", o, t, o/t }' \
        | tee -a "$WORK/results.tsv"
}

setup
[[ $ONLY == all || $ONLY == scale ]] && scale
[[ $ONLY == all || $ONLY == varbind ]] && varbind
log "results: $WORK/results.tsv"
