#!/usr/bin/env python3
"""Whole-process throughput of `ferrograph statsd-proxy` against Etsy
StatsD 0.9.0's proxy.js, in one run, on loopback.

Each trial starts two `ferrograph statsd` nodes (flushing every second to a
capture server here that sums their `stats_counts.statsd.metrics_received`),
then the proxy under test in front of them, offers a fixed rate of counter
lines with `ferrograph bench-udp --daemon none`, waits for the flushes, and
prints one JSON line: lines sent, lines the nodes received, delivered share.
proxy.js needs its optional dependency hashring 3.2.0 (NODE_PATH=DIR of a
node_modules holding it; `npm install --prefix DIR hashring@3.2.0`).

usage: bench-statsd-proxy.py [--rates 50000,100000,200000] [--duration 5]
       [--per-packet 1] [--node-path /tmp/proxy-hashring/node_modules]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "ferrograph")
ETSY = os.environ.get("FERROGRAPH_REFS", "/opt/ferrograph-refs") + "/statsd/node_modules/statsd"


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Capture:
    """Graphite plaintext sink: sums metrics_received over flushes."""

    def __init__(self):
        self.received = 0
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.addr = "127.0.0.1:%d" % self.server.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        for line in conn.makefile("rb"):
            if line.startswith(b"stats_counts.statsd.metrics_received "):
                with self.lock:
                    self.received += int(float(line.split()[1]))


def wait_port(port, kind=socket.SOCK_STREAM, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("port %d never opened" % port)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def trial(proxy, rate, args, tmp):
    capture = Capture()
    nodes = []
    procs = []
    for i in range(2):
        udp, admin = free_port(socket.SOCK_DGRAM), free_port()
        cfg = os.path.join(tmp, "node%d.toml" % i)
        with open(cfg, "w") as f:
            f.write('[statsd]\nudp = "127.0.0.1:%d"\ntcp = ""\nadmin = "127.0.0.1:%d"\n'
                    'flush_interval = "1s"\ngraphite = "%s"\nudp_threads = 1\n'
                    % (udp, admin, capture.addr))
        procs.append(subprocess.Popen([BIN, "statsd", "--config", cfg], stderr=subprocess.DEVNULL))
        nodes.append((udp, admin))
    for _, admin in nodes:
        wait_port(admin)
    listen, mgmt = free_port(socket.SOCK_DGRAM), free_port()
    if proxy == "ferrograph":
        cfg = os.path.join(tmp, "proxy.toml")
        with open(cfg, "w") as f:
            f.write('[statsd_proxy]\nudp = "127.0.0.1:%d"\nadmin = "127.0.0.1:%d"\n' % (listen, mgmt))
            for udp, admin in nodes:
                f.write('[[statsd_proxy.nodes]]\nhost = "127.0.0.1"\nport = %d\nadminport = %d\n'
                        % (udp, admin))
        cmd = [BIN, "statsd-proxy", "--config", cfg]
        env = os.environ
    else:
        cfg = os.path.join(tmp, "proxyConfig.js")
        with open(cfg, "w") as f:
            f.write("{nodes: [%s], server: './servers/udp', host: '127.0.0.1', port: %d,"
                    " udp_version: 'udp4', mgmt_address: '127.0.0.1', mgmt_port: %d,"
                    " forkCount: 0, checkInterval: 1000, cacheSize: 10000}\n"
                    % (",".join("{host: '127.0.0.1', port: %d, adminport: %d}" % n for n in nodes),
                       listen, mgmt))
        cmd = ["node", os.path.join(ETSY, "proxy.js"), cfg]
        env = dict(os.environ, NODE_PATH=args.node_path)
    p = subprocess.Popen(cmd, cwd=ETSY, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_port(mgmt)
    time.sleep(1.5)  # first health checks
    with capture.lock:
        before = capture.received
    out = subprocess.run([BIN, "bench-udp", "--daemon", "none", "--target", "127.0.0.1:%d" % listen,
                          "--rates", str(rate), "--duration", str(args.duration),
                          "--per-packet", str(args.per_packet), "--names", "10000", "--mix", "c=100"],
                         capture_output=True, text=True, check=True)
    sent = json.loads(out.stdout.strip().splitlines()[-1])
    # Wait for the nodes' counts to settle (two quiet flushes).
    last, stable = -1, 0
    while stable < 3:
        time.sleep(1)
        with capture.lock:
            now = capture.received
        stable = stable + 1 if now == last else 0
        last = now
    for proc in reversed(procs):
        stop(proc)
    got = last - before
    result = {"proxy": proxy, "rate": rate, "per_packet": args.per_packet,
              "sent_lines": sent["sent_metrics"], "delivered_lines": got,
              "delivered_share": round(got / max(sent["sent_metrics"], 1), 4),
              "delivered_per_s": round(got / sent["seconds"])}
    print(json.dumps(result), flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="50000,100000,200000")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--per-packet", type=int, default=1)
    ap.add_argument("--proxies", default="ferrograph,etsy")
    ap.add_argument("--node-path", default="/tmp/proxy-hashring/node_modules")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for rate in [int(r) for r in args.rates.split(",")]:
            for proxy in args.proxies.split(","):
                trial(proxy, rate, args, tmp)


if __name__ == "__main__":
    sys.exit(main())
