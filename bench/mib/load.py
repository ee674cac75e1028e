#!/usr/bin/env python3
"""MIB loading: nocwatch vs net-snmp over the same MIB directories.

nocwatch compiles MIB files once and keeps a cache; net-snmp's tools and snmptrapd
parse every MIB file at every start. Measured (medians of --runs):

- the agent: `nocwatch run` with a config whose only content is `mibs:` (plus the
  admin API on a free port), started until `/health/ready` answers 200: wall time to
  ready and resident memory (VmRSS) at ready, with no MIBs, with MIBs and an empty
  cache (first start: compile + write the cache), and with MIBs from the cache;
- `nocwatch mib check --stats` with a warm cache: the in-process load time and RSS
  growth of the load alone;
- net-snmp: `snmptranslate -m ALL -M <dirs> SNMPv2-MIB::sysDescr.0` (what snmptrapd
  and every net-snmp command do at start with the same MIBs) and with `-m ''`: wall
  time and peak RSS (wait4's ru_maxrss).

Usage: bench/mib/load.py [--nocwatch PATH] [--runs N] [DIR...]
(default dirs: ../shared/testdata/mibs/{net-snmp,rfc,cisco,juniper}; default binary:
$CARGO_TARGET_DIR/release/nocwatch or target/release/nocwatch).
Build first: cargo build --release -p nocwatch
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def agent(binary, dirs, cache_dir, workdir):
    """Starts `nocwatch run`, returns (seconds to ready, RSS MiB at ready)."""
    port = free_port()
    config = os.path.join(workdir, "nocwatch.yaml")
    with open(config, "w") as f:
        f.write(f"agent:\n  data_dir: {workdir}/data\nadmin:\n  address: 127.0.0.1:{port}\n")
        if dirs:
            f.write("mibs:\n  dirs:\n" + "".join(f"    - {d}\n" for d in dirs))
            f.write(f"  cache_dir: {cache_dir}\n")
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "run", "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"nocwatch exited with {proc.returncode}")
            time.sleep(0.005)
        ready = time.perf_counter() - start
        time.sleep(0.2)  # let start-up allocations settle
        return ready, rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def timed(argv, env=None):
    """(wall seconds, peak RSS MiB, stdout) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read().decode(errors="replace")
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def med(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser()
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "nocwatch")
    parser.add_argument("--nocwatch", default=default_bin)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("dirs", nargs="*")
    args = parser.parse_args()
    testdata = os.path.join(os.path.dirname(REPO), "shared", "testdata", "mibs")
    dirs = args.dirs or [os.path.join(testdata, s) for s in ("net-snmp", "rfc", "cisco", "juniper")]
    dirs = [os.path.abspath(d) for d in dirs]
    work = tempfile.mkdtemp(prefix="nocwatch-mib-bench-")
    cache = os.path.join(work, "cache")
    try:
        rows = []
        none = [agent(args.nocwatch, [], cache, work) for _ in range(args.runs)]
        cold = []
        for _ in range(max(3, args.runs // 2)):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(agent(args.nocwatch, dirs, cache, work))
        warm = [agent(args.nocwatch, dirs, cache, work) for _ in range(args.runs)]
        base_rss = med([r for _, r in none])
        rows.append(("nocwatch run, no MIBs", med([t for t, _ in none]), base_rss, 0.0))
        rows.append(("nocwatch run, MIBs, empty cache", med([t for t, _ in cold]), med([r for _, r in cold]),
                     med([r for _, r in cold]) - base_rss))
        rows.append(("nocwatch run, MIBs from cache", med([t for t, _ in warm]), med([r for _, r in warm]),
                     med([r for _, r in warm]) - base_rss))

        stats = []
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(work, "xdg")}
        env.pop("NOCWATCH_CONFIG", None)
        check = [args.nocwatch, "mib", "check", "--stats"] + dirs
        timed(check, env)  # fills the cache
        for _ in range(args.runs):
            _, _, out = timed(check, env)
            fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
            stats.append((float(fields["load time"].split()[0]), float(fields["RSS growth"].split()[0]),
                          float(fields["table size"].split()[0])))

        mibdirs = ":".join(reversed(dirs))  # net-snmp: the last directory wins
        snmp_env = {**os.environ, "MIBS": ""}
        net_none = [timed(["snmptranslate", "-m", "", "-On", ".1.3.6.1.2.1.1.1.0"], snmp_env) for _ in range(args.runs)]
        net_all = [timed(["snmptranslate", "-M", mibdirs, "-m", "ALL", "SNMPv2-MIB::sysDescr.0"], snmp_env)
                   for _ in range(args.runs)]
        net_base = med([r for _, r, _ in net_none])
        rows.append(("snmptranslate, no MIBs", med([t for t, _, _ in net_none]), net_base, 0.0))
        rows.append(("snmptranslate -m ALL (parses every start)", med([t for t, _, _ in net_all]),
                     med([r for _, r, _ in net_all]), med([r for _, r, _ in net_all]) - net_base))

        print(f"MIB directories: {', '.join(dirs)}")
        print(f"runs: {args.runs} (empty-cache starts: {len(cold)}); medians\n")
        print("| case | start / load s | RSS MiB | RSS growth MiB |")
        print("|---|---:|---:|---:|")
        for name, t, rss, growth in rows:
            print(f"| {name} | {t:.3f} | {rss:.1f} | {growth:.1f} |")
        print(f"| nocwatch mib check --stats (cache): load alone | {med([s[0] for s in stats]) / 1000:.3f} | | "
              f"{med([s[1] for s in stats]):.1f} (table {med([s[2] for s in stats]):.1f}) |")
        warm_t, net_t = med([t for t, _ in warm]), med([t for t, _, _ in net_all])
        print(f"\nratio start with MIBs, nocwatch (cache) / snmptranslate: {warm_t / net_t:.2f}")
        print(f"ratio RSS growth, nocwatch (cache) / snmptranslate: "
              f"{(med([r for _, r in warm]) - base_rss) / (med([r for _, r, _ in net_all]) - net_base):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
