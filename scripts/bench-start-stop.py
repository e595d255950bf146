#!/usr/bin/env python3
"""Start and stop figures of `ferrograph serve` (docs/operations.md,
"Start and stop at scale"), on the real disk, loopback only.

start: N existing Whisper files (hard links of a few small files, so a million
       cost directory entries, not data blocks), then the time from spawning
       `serve` to `GET /health` answering 200 (index built, journal opened,
       every listener bound), the index time `serve` logs, and the time from
       SIGTERM to exit. With --cold (root only) the kernel's dentry and inode
       caches are dropped first (echo 2 > drop_caches; the page cache is
       kept), as after a reboot.
burst: `serve` with the schemas `1s:1h,1m:1d` and sparse files, a burst of
       K new StatsD counter keys (each sent once, over loopback UDP with
       `ferrograph bench-udp --daemon none`), one flush, then SIGTERM: the
       time to exit, and what the stop left in the journal against what the
       next start replays (nothing is discarded).

journal: what the write-ahead journal costs: the same carbon input (SERIES
       series x POINTS points over one plaintext TCP connection) into
       `serve` with `wal = false`, with the default `wal_sync_interval =
       "1s"` and with "100ms"; for each, the time until the store has
       accepted every point and until every point is in its file, and the
       process's CPU seconds; plus the latency of one `fdatasync` after a
       256 KiB append on the same disk (what each sync interval costs).

The data directory is under target/ unless --dir is given, and is removed
at the end.

usage: bench-start-stop.py start [--files 1000000] [--cold]
       bench-start-stop.py burst [--keys 200000]
       bench-start-stop.py journal [--series 1000] [--points 2000]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "ferrograph")

CONFIG = """[statsd]
udp = "127.0.0.1:0"
tcp = "127.0.0.1:0"
admin = "127.0.0.1:0"
flush_interval = "1s"
[carbon]
plaintext = "127.0.0.1:0"
pickle = "127.0.0.1:0"
udp = "127.0.0.1:0"
[render]
http = "127.0.0.1:0"
[storage]
{storage}
"""


def start_serve(workdir, data, storage=""):
    config = os.path.join(workdir, "ferrograph.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(storage=storage))
    log = open(os.path.join(workdir, "serve.log"), "ab")
    started = time.monotonic()
    proc = subprocess.Popen(
        [BIN, "serve", "--config", config, "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    line = proc.stdout.readline()
    addrs = json.loads(line)
    url = "http://%s/health" % addrs["http"]
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.01)
    return proc, addrs, time.monotonic() - started


def stop_serve(proc):
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=600)
    return code, time.monotonic() - started


def metrics(addrs, families):
    """Sums of the /metrics samples of each family (all label sets)."""
    url = "http://%s/metrics" % addrs["http"]
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    sums = {}
    for line in text.splitlines():
        for family in families:
            if line.startswith(family) and line[len(family)] in "{ ":
                sums[family] = sums.get(family, 0) + float(line.rsplit(" ", 1)[1])
    return sums


def read_log(workdir):
    with open(os.path.join(workdir, "serve.log"), errors="replace") as f:
        return f.read()


def start(args, workdir):
    data = os.path.join(workdir, "data")
    template = os.path.join(workdir, "template.wsp")
    subprocess.run([BIN, "whisper", "create", template, "60:1440"], check=True,
                   stdout=subprocess.DEVNULL)
    per_dir = 1000
    made = time.monotonic()
    for d in range((args.files + per_dir - 1) // per_dir):
        sub = os.path.join(data, "bench", "d%04d" % d)
        os.makedirs(sub)
        # ext4 allows 65,000 links per inode: a fresh copy every 50 dirs
        if d % 50 == 0:
            source = "%s.%d" % (template, d)
            shutil.copyfile(template, source)
        for i in range(min(per_dir, args.files - d * per_dir)):
            os.link(source, os.path.join(sub, "m%04d.wsp" % i))
    print(json.dumps({"files": args.files, "made_s": round(time.monotonic() - made, 1)}),
          flush=True)
    for run in range(args.runs):
        if args.cold:
            subprocess.run(["sync"], check=True)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
        proc, _, ready = start_serve(workdir, data)
        code, stopped = stop_serve(proc)
        log = read_log(workdir)
        built = re.findall(r"series=(\d+).*?elapsed_ms=(\d+).*?storage index built|"
                           r"storage index built.*?series=(\d+).*?elapsed_ms=(\d+)", log)
        index = built[-1] if built else None
        print(json.dumps({
            "run": run + 1,
            "cold_dentries": args.cold,
            "ready_s": round(ready, 2),
            "index_log": [x for x in index if x] if index else None,
            "sigterm_exit_s": round(stopped, 2),
            "exit_code": code,
        }), flush=True)


def burst(args, workdir):
    data = os.path.join(workdir, "data")
    schemas = os.path.join(workdir, "schemas.conf")
    with open(schemas, "w") as f:
        f.write("[all]\npattern = .*\nretentions = 1s:1h,1m:1d\n")
    storage = 'schemas = "%s"\ncreate_mode = "sparse"' % schemas
    proc, addrs, ready = start_serve(workdir, data, storage)
    sent = subprocess.run(
        [BIN, "bench-udp", "--daemon", "none", "--target", addrs["statsd_udp"],
         "--names", str(args.keys), "--rates", str(args.rate),
         "--duration", str(max(1, args.keys // args.rate)), "--per-packet", "20",
         "--mix", "c=100"],
        check=True, capture_output=True, text=True).stdout.strip()
    # one flush: the interval's keys reach the store's cache and journal
    time.sleep(1.5)
    refused = metrics(addrs, ("ferrograph_new_series_points_refused_total",
                              "ferrograph_points_rejected_total",
                              "ferrograph_points_overflowed_total",
                              "ferrograph_points_received_total"))
    code, stopped = stop_serve(proc)
    log = read_log(workdir)
    left = re.findall(r"stay in the journal.*?points=(\d+)", log)
    left = int(left[-1]) if left else 0
    files_at_stop = sum(len(f) for _, _, f in os.walk(data))
    # the next start replays what the stop left
    proc, _, ready2 = start_serve(workdir, data, storage)
    code2, stopped2 = stop_serve(proc)
    log = read_log(workdir)
    replayed = [int(x) for x in re.findall(r"points=(\d+).*replaying the journal", log) +
                re.findall(r"replaying the journal.*?points=(\d+)", log)]
    dropped = "points dropped" in log or "could not write" in log
    left2 = re.findall(r"stay in the journal.*?points=(\d+)", log)
    left2 = int(left2[-1]) if left2 else 0
    print(json.dumps({
        "keys": args.keys,
        "sent": json.loads(sent),
        "sigterm_exit_s": round(stopped, 2),
        "exit_code": code,
        "refused_or_overflowed_before_stop": refused,
        "left_in_journal_at_stop": left,
        "files_after_stop": files_at_stop,
        "replayed_at_next_start": replayed,
        "next_start_ready_s": round(ready2, 2),
        "next_stop_s": round(stopped2, 2),
        "next_exit_code": code2,
        "left_in_journal_at_next_stop": left2,
        "dropped_logged": dropped,
    }), flush=True)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fdatasync_latency(workdir, runs=50):
    """Median seconds of one fdatasync after a 256 KiB append."""
    path = os.path.join(workdir, "sync-probe")
    block = os.urandom(256 * 1024)
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(runs):
            os.write(fd, block)
            t = time.monotonic()
            os.fdatasync(fd)
            times.append(time.monotonic() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return times[len(times) // 2]


def journal(args, workdir):
    import socket
    base = int(time.time()) - args.points - 60
    lines = []
    for p in range(args.points):
        for s in range(args.series):
            lines.append("jbench.s%05d %d %d\n" % (s, p, base + p))
    payload = "".join(lines).encode()
    total = args.series * args.points
    schemas = os.path.join(workdir, "schemas.conf")
    with open(schemas, "w") as f:
        f.write("[all]\npattern = .*\nretentions = 1s:2h\n")
    variants = [("wal = false", "wal = false"),
                ("wal, sync 1s", 'wal_sync_interval = "1s"'),
                ("wal, sync 100ms", 'wal_sync_interval = "100ms"')]
    print(json.dumps({"points": total, "fdatasync_256k_median_ms":
                      round(fdatasync_latency(workdir) * 1000, 2)}), flush=True)
    for run in range(args.runs):
        for name, extra in variants:
            data = os.path.join(workdir, "data")
            shutil.rmtree(data, ignore_errors=True)
            storage = ('schemas = "%s"\ncreate_mode = "sparse"\nself_metrics_interval = ""\n'
                       'max_creates_per_second = 0\n%s' % (schemas, extra))
            proc, addrs, _ = start_serve(workdir, data, storage)
            cpu0 = cpu_seconds(proc.pid)
            host, port = addrs["carbon_plaintext"].rsplit(":", 1)
            started = time.monotonic()
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(payload)
            accepted = committed = None
            while committed is None and time.monotonic() - started < 300:
                m = metrics(addrs, ("ferrograph_points_received_total",
                                    "ferrograph_points_committed_total"))
                now = time.monotonic() - started
                if accepted is None and m.get("ferrograph_points_received_total", 0) >= total:
                    accepted = now
                if m.get("ferrograph_points_committed_total", 0) >= total:
                    committed = now
                time.sleep(0.05)
            cpu = cpu_seconds(proc.pid) - cpu0
            code, stopped = stop_serve(proc)
            print(json.dumps({
                "run": run + 1, "variant": name,
                "accepted_s": round(accepted, 2) if accepted else None,
                "committed_s": round(committed, 2) if committed else None,
                "cpu_s": round(cpu, 2),
                "cpu_s_per_million": round(cpu / total * 1e6, 2),
                "sigterm_exit_s": round(stopped, 2), "exit_code": code,
            }), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("start")
    s.add_argument("--files", type=int, default=1_000_000)
    s.add_argument("--runs", type=int, default=2)
    s.add_argument("--cold", action="store_true")
    s.add_argument("--dir")
    b = sub.add_parser("burst")
    b.add_argument("--keys", type=int, default=200_000)
    b.add_argument("--rate", type=int, default=100_000)
    b.add_argument("--dir")
    j = sub.add_parser("journal")
    j.add_argument("--series", type=int, default=1000)
    j.add_argument("--points", type=int, default=2000)
    j.add_argument("--runs", type=int, default=3)
    j.add_argument("--dir")
    args = p.parse_args()
    workdir = args.dir or os.path.join(ROOT, "target", "bench-start-stop")
    if os.path.exists(workdir):
        sys.exit("%s exists; remove it first" % workdir)
    os.makedirs(workdir)
    try:
        {"start": start, "burst": burst, "journal": journal}[args.mode](args, workdir)
    finally:
        removing = time.monotonic()
        shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps({"removed_s": round(time.monotonic() - removing, 1)}), flush=True)


if __name__ == "__main__":
    main()
