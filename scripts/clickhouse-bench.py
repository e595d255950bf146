#!/usr/bin/env python3
"""The ClickHouse backend's figures, each against a reference in the same run.

    scripts/clickhouse-bench.py [--series 1000] [--points 8640] [--repeat 5]

Starts Debian's clickhouse-server (loopback, free ports, a temp dir), then
two `ferrograph serve` nodes on the same schemas: one on ClickHouse, one on
Whisper. Measures, end to end through the real sockets:

- ingest: SERIES x POINTS carbon plaintext lines (10 s apart, one day by
  default) over one TCP connection, until `count()` in the points table has
  them all, in points per second; the same lines into the Whisper node
  until its files hold them;
- the ClickHouse node's peak RSS (VmHWM) over the whole run;
- `/render?target=sumSeries(bench.*.*)&from=-1d` on both nodes, REPEAT
  times each, median and the ratio.

Everything it starts is stopped by PID at the end; loopback only.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "ferrograph")
SCHEMAS = "[bench]\npattern = ^bench\\.\nretentions = 10s:2d,60s:30d\n[default]\npattern = .*\nretentions = 10s:1d\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ch_query(url, sql):
    req = urllib.request.Request(url + "/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


def wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_serve(config, data_dir, log):
    p = subprocess.Popen([BIN, "serve", "--config", config, "--data-dir", data_dir],
                         stdout=subprocess.PIPE, stderr=open(log, "w"))
    addrs = json.loads(p.stdout.readline())
    return p, addrs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--points", type=int, default=8640)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ferrograph"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="ferrograph-ch-bench-")
    started = []
    try:
        with open(os.path.join(tmp, "schemas.conf"), "w") as f:
            f.write(SCHEMAS)
        http, tcp = free_port(), free_port()
        url = f"http://127.0.0.1:{http}"

        def config(backend, render_port):
            return (f"[statsd]\nudp = \"\"\ntcp = \"\"\nadmin = \"\"\n\n"
                    f"[carbon]\nplaintext = \"127.0.0.1:0\"\npickle = \"\"\nudp = \"\"\n\n"
                    f"[storage]\nbackend = \"{backend}\"\nschemas = \"schemas.conf\"\nself_metrics_interval = \"\"\n"
                    f"max_cache_points = 20000000\nmax_new_series_per_minute = 0\nmax_creates_per_second = 0\n\n"
                    f"[render]\nhttp = \"127.0.0.1:0\"\nmax_points_per_request = 100000000\n\n"
                    f"[clickhouse]\nurl = \"{url}\"\noptimize_interval = \"\"\n")
        for backend in ("clickhouse", "whisper"):
            with open(os.path.join(tmp, f"{backend}.toml"), "w") as f:
                f.write(config(backend, 0))
        xml = subprocess.run([BIN, "clickhouse", "rollup-xml", "--config", os.path.join(tmp, "clickhouse.toml")],
                             check=True, capture_output=True, text=True).stdout
        chdir = os.path.join(tmp, "clickhouse")
        os.makedirs(os.path.join(chdir, "data"))
        with open(os.path.join(chdir, "users.xml"), "w") as f:
            f.write("<yandex><profiles><default></default></profiles><users><default><password></password>"
                    "<networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>"
                    "</default></users><quotas><default></default></quotas></yandex>\n")
        with open(os.path.join(chdir, "config.xml"), "w") as f:
            f.write(f"<yandex><logger><level>warning</level><log>{chdir}/server.log</log></logger>"
                    f"<listen_host>127.0.0.1</listen_host><http_port>{http}</http_port><tcp_port>{tcp}</tcp_port>"
                    f"<path>{chdir}/data/</path><tmp_path>{chdir}/tmp/</tmp_path><users_config>{chdir}/users.xml</users_config>"
                    f"<default_profile>default</default_profile><default_database>default</default_database>"
                    f"<mark_cache_size>268435456</mark_cache_size><timezone>UTC</timezone>{xml}</yandex>\n")
        server_bin = "/usr/bin/clickhouse-server" if os.path.exists("/usr/bin/clickhouse-server") else "/usr/sbin/clickhouse-server"
        server = subprocess.Popen([server_bin, f"--config-file={chdir}/config.xml"], cwd=chdir,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(server)
        wait(lambda: urllib.request.urlopen(url + "/ping", timeout=1).read().strip() == b"Ok.", 60, "clickhouse-server")
        subprocess.run([BIN, "clickhouse", "init", "--config", os.path.join(tmp, "clickhouse.toml")],
                       check=True, capture_output=True)
        nodes = {}
        for backend in ("clickhouse", "whisper"):
            p, addrs = start_serve(os.path.join(tmp, f"{backend}.toml"), os.path.join(tmp, f"data-{backend}"),
                                   os.path.join(tmp, f"{backend}.log"))
            started.append(p)
            nodes[backend] = (p, addrs)
        now = int(time.time()) // 10 * 10
        start = now - (args.points - 1) * 10
        total = args.series * args.points
        print(f"generating {total} points ({args.series} series x {args.points} points at 10 s)", flush=True)
        chunks = []
        for k in range(args.points):
            t = start + k * 10
            chunks.append("".join(f"bench.h{i // 100}.m{i % 100} {(i * 7 + k) % 101} {t}\n"
                                  for i in range(args.series)).encode())
        payload = b"".join(chunks)
        del chunks
        results = {}
        for backend in ("clickhouse", "whisper"):
            p, addrs = nodes[backend]
            host, port = addrs["carbon_plaintext"].rsplit(":", 1)
            t0 = time.time()
            with socket.create_connection((host, int(port))) as s:
                s.sendall(payload)
            sent = time.time() - t0
            if backend == "clickhouse":
                wait(lambda: int(ch_query(url, "SELECT count() FROM graphite WHERE Path LIKE 'bench.%'")) >= total,
                     600, "the points in ClickHouse")
            else:
                render = f"http://{addrs['http']}/render?target=sumSeries(bench.*.*)&format=json&from={start - 1}&until={now}&now={now}"
                def whisper_has_all():
                    body = json.loads(urllib.request.urlopen(render, timeout=60).read())
                    points = [v for v, _ in body[0]["datapoints"] if v is not None] if body else []
                    return len(points) >= args.points and _cache_empty(addrs)
                wait(whisper_has_all, 900, "the points in the Whisper files")
            took = time.time() - t0
            results[backend] = (sent, took)
            print(f"{backend:10} ingest: {total} points sent in {sent:.2f} s, stored after {took:.2f} s: "
                  f"{total / took:,.0f} points/s", flush=True)
        timings = {}
        for backend in ("clickhouse", "whisper"):
            p, addrs = nodes[backend]
            q = f"http://{addrs['http']}/render?target=sumSeries(bench.*.*)&format=json&from=-1d"
            runs = []
            for _ in range(args.repeat):
                t0 = time.time()
                body = urllib.request.urlopen(q, timeout=120).read()
                runs.append(time.time() - t0)
            timings[backend] = statistics.median(runs)
            print(f"{backend:10} render sumSeries({args.series} series x 1 day at 10 s): median {timings[backend]:.3f} s "
                  f"of {args.repeat} ({len(body)} bytes)", flush=True)
        rss = peak_rss_kib(nodes["clickhouse"][0].pid)
        print(f"ClickHouse node peak RSS: {rss / 1024:.0f} MiB; Whisper node: {peak_rss_kib(nodes['whisper'][0].pid) / 1024:.0f} MiB")
        print(f"ratio render ClickHouse/Whisper: {timings['clickhouse'] / timings['whisper']:.2f}x the time; "
              f"ingest ClickHouse/Whisper: {results['whisper'][1] / results['clickhouse'][1]:.2f}x the rate")
    finally:
        for p in reversed(started):
            p.send_signal(signal.SIGTERM)
        for p in reversed(started):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", tmp])


def _cache_empty(addrs):
    text = urllib.request.urlopen(f"http://{addrs['http']}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("ferrograph_cache_points"):
            return float(line.split()[-1]) == 0
    return True


if __name__ == "__main__":
    main()
