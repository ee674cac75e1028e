#!/usr/bin/env bash
# cpu-quota.sh PERCENT COMMAND...: runs COMMAND in a cgroup of its own limited to PERCENT % of
# one CPU (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`). Needs root. The benchmarks use it to
# give both peers the same small CPU budget, so that a generator on the same machine can send
# faster than either can take: the zero-loss rate then compares the receivers' efficiency.
set -euo pipefail
percent=$1
shift
period=100000
quota=$((period * percent / 100))
name="nocwatch-bench-$$"
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    dir=/sys/fs/cgroup/$name
    mkdir "$dir"
    echo "$quota $period" >"$dir/cpu.max"
else
    dir=/sys/fs/cgroup/cpu/$name
    mkdir "$dir"
    echo "$period" >"$dir/cpu.cfs_period_us"
    echo "$quota" >"$dir/cpu.cfs_quota_us"
fi
echo $$ >"$dir/cgroup.procs"
exec "$@"
