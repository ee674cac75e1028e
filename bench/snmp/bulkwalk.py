#!/usr/bin/env python3
"""Full-tree bulkwalk of a local net-snmp snmpd: nocwatch vs snmpbulkwalk.

Starts snmpd on a free loopback port (generated config: community `public`, one
SHA-256/AES-128 user), then alternates `nocwatch snmp bulkwalk` and `snmpbulkwalk`
over `.1` with the same max-repetitions, output to /dev/null, and reports the median
wall time and the median CPU time (user + system of the walking process, from
wait4's rusage, microsecond resolution) of each, per walk and per varbind.

Usage: bench/snmp/bulkwalk.py [--nocwatch PATH] [--runs N] [--reps R]
(default: target/release/nocwatch or $CARGO_TARGET_DIR/release/nocwatch, 7 runs,
-Cr25). Build first: cargo build --release -p nocwatch
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv):
    """Runs argv with stdout to /dev/null: (wall seconds, cpu seconds, exit code)."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.PIPE, env={**os.environ, "MIBS": ""})
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{argv[0]} failed ({code}): {stderr}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "target"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--nocwatch", default=os.path.join(target, "release", "nocwatch"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reps", type=int, default=25)
    args = parser.parse_args()
    for tool in ("snmpd", "snmpbulkwalk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install snmpd snmp")

    port = free_port()
    workdir = tempfile.mkdtemp(prefix="nocwatch-bench-snmp-")
    conf = os.path.join(workdir, "snmpd.conf")
    with open(conf, "w") as f:
        f.write(f"agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n")
        f.write("createUser bench SHA-256 bench-auth-pass AES bench-priv-pass\nrouser bench priv\n")
    snmpd = subprocess.Popen(
        ["snmpd", "-f", "-C", "-c", conf, "-Lf", os.path.join(workdir, "snmpd.log"), "-p", os.path.join(workdir, "pid")],
        env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": workdir},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        agent = f"127.0.0.1:{port}"
        for _ in range(100):
            probe = subprocess.run(
                ["snmpget", "-v2c", "-c", "public", "-t", "0.2", "-r", "0", "-m", "", agent, ".1.3.6.1.2.1.1.5.0"],
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            time.sleep(0.05)
        cases = {
            "v2c": ["-v2c", "-c", "public"],
            "v3 authPriv SHA-256/AES-128": [
                "-v3", "-l", "authPriv", "-u", "bench", "-a", "SHA-256", "-A", "bench-auth-pass",
                "-x", "AES", "-X", "bench-priv-pass",
            ],
        }
        reps = f"-Cr{args.reps}"
        count = subprocess.run(
            ["snmpbulkwalk", *cases["v2c"], reps, "-On", "-m", "", agent, ".1"], capture_output=True, text=True
        ).stdout.count("\n.")+1
        print(f"snmpd {agent}, whole tree (.1) ≈ {count} varbinds, max-repetitions {args.reps}, "
              f"median of {args.runs} runs each (runs alternate)\n")
        print(f"{'case':<30} {'tool':<14} {'wall ms':>8} {'cpu ms':>8} {'cpu ns/varbind':>15}")
        for name, flags in cases.items():
            ours = [args.nocwatch, "snmp", "bulkwalk", *flags, reps, "-On", agent, ".1"]
            theirs = ["snmpbulkwalk", *flags, reps, "-On", "-m", "", agent, ".1"]
            run(ours), run(theirs)  # warm snmpd's caches
            results = {"nocwatch": [], "snmpbulkwalk": []}
            for _ in range(args.runs):
                results["nocwatch"].append(run(ours))
                results["snmpbulkwalk"].append(run(theirs))
            medians = {}
            for tool, samples in results.items():
                wall = statistics.median(s[0] for s in samples) * 1e3
                cpu = statistics.median(s[1] for s in samples) * 1e3
                medians[tool] = (wall, cpu)
                print(f"{name:<30} {tool:<14} {wall:>8.1f} {cpu:>8.1f} {cpu * 1e6 / count:>15.0f}")
            ratio_cpu = medians["nocwatch"][1] / medians["snmpbulkwalk"][1]
            ratio_wall = medians["nocwatch"][0] / medians["snmpbulkwalk"][0]
            print(f"{'':<30} {'ratio':<14} {ratio_wall:>8.2f} {ratio_cpu:>8.2f}   (nocwatch / snmpbulkwalk)")
    finally:
        snmpd.kill()
        snmpd.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
