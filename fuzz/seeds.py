"""Seed inputs for the fuzz targets (docs/fuzzing.md): hand-written lines,
targets and time specs, pickles of every protocol, and Whisper files made by
the reference whisper module (scripts/install-references.sh installs it).

Usage: python3 fuzz/seeds.py fuzz/corpus   (then `cargo fuzz cmin` each)
"""
import glob, os, pickle, struct, sys, tempfile

refs = os.environ.get("FERROGRAPH_REFS", "/opt/ferrograph-refs")
sys.path[:0] = glob.glob(os.path.join(refs, "venv/lib/python3*/site-packages"))
import whisper

root = sys.argv[1]
def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# StatsD: first byte = switches (bit0 sanitize off, bit1 h/d timers, bit2 canonical tags)
statsd = [
    "a:1|c", "app.requests.count:1|c", "app.latency.p:12.5|ms|@0.1",
    "app.requests:1|c|#env:prod,region:eu-west-1", "app/requests count@x:1|c",
    "gauge:+3|g", "gauge:-3|g", "gauge:7|g", "uniques:user1|s", "a:1|ms:2|ms:3|c",
    "a:1|c|@.5", "a:1|c|@1e0", "a:1|h\nb:2|d", "x:1|c|#b:2,a:1", "x:1|c|#b:,a:1,bare",
    "nocolon", "a:|c", "a:1", "a:1|c|@0", "a:1|c|@-1", "a:Infinity|c", "a:1e3|ms|@0.5|extra",
    "a b\tc:0x10|c\r\nd:\u00a01|g",
]
for i, line in enumerate(statsd):
    put("statsd_line", f"seed-{i:02}", bytes([i % 8]) + line.encode())

plain = [
    "a.b.c 1.5 1700000000", "x 1e3 -1", "y nan 17", "z 1_000 1700000000.5",
    "w inf 1700000000", "v -2 -1.9", "u 1 1e16", "  padded   2   3  ", "",
    "too few", "a b c d", "a x 1", "a 1 x", "a\t1\t2\na 2 3\n\n",
    "a 0x10 1", "a 1__0 1", "a _1 1", "a 1 -inf",
]
for i, line in enumerate(plain):
    put("carbon_plaintext", f"seed-{i:02}", line)

# l2met: POST /logs bodies (octet-counted RFC 5424 frames) and plain lines
def logplex(*messages):
    out = b""
    for m in messages:
        frame = ("<190>1 2024-05-01T10:00:00+00:00 host app web.1 - " + m).encode()
        out += str(len(frame)).encode() + b" " + frame
    return out
l2met = [
    logplex("at=info count#requests=1 measure#db.latency=50ms sample#queue.depth=7 source=web.1"),
    logplex("measure#t=1.5s measure#size=200MB", "count#hits", "sample#g=-3 measure#neg=-1ms"),
    logplex("no metrics here") + b"\n" + logplex("count#a=1e3"),
    b"12 <13>1 - h a",
    b"x12 short", b"99999999999 ", b"5 <1>1 ",
    b"<13>1 2024-05-01T10:00:00Z h a p m [x@1 k=\"v]\\\"\"][y] count#sd=2",
    b"count#plain=1 measure#p=3ms\ncount#=1 measure#bad=abc sample#x\r\n",
]
for i, data in enumerate(l2met):
    put("l2met", f"seed-{i:02}", data)

msgs = [
    [("a.b", (1700000000, 1.5)), ("c", (17, 2))],
    [("a", (1, 2.5))],
    (("t", (1.5, -1)), ("u", (2**70, True))),
    [("a", (1, 2)), "junk", ("b", ("x", 1)), (b"bytes.path", (1, None))],
    [],
    {"not": "a list"},
    [("x" * 300, (1700000000.25, 1e308))],
]
for p in range(6):
    for j, m in enumerate(msgs):
        put("carbon_pickle", f"seed-p{p}-{j}", pickle.dumps(m, protocol=p))
put("carbon_pickle", "seed-evil-global", b"cos\nsystem\n(S'echo hi'\ntR.")

targets = [
    "a.b.c", "sumSeries(a.*.c)", "aliasByNode(a.b.*, 1)", "a.{b,c}.d|scale(2)",
    "template(a.$1.b, 'x')", "template(sumSeries(a.$env.*), env='prod')",
    "seriesByTag('name=x', 'env=~prod.*')", "movingAverage(a.b, '5min', xFilesFactor=0.5)",
    "asPercent(a.b, None, inf)", "highestAverage(a.*, 3)|alias(\"top \\\"3\\\"\")",
    "a\\(b\\).c", "divideSeries(a.b,sumSeries(a.*))", "summarize(a.b, '1h', 'sum', true)",
    "f(-1.5e-3, 1e999, false)", "a.b[0-9].c*", "groupByNode(a.*.*.d, 2, 'sum')",
]
for i, t in enumerate(targets):
    put("render_target", f"seed-{i:02}", t)

times = [
    (0, "-1h"), (0, "now-2d3h"), (2, "12:00_20230101"), (0, "midnight yesterday"),
    (4, "teatime"), (1, "-1d2h"), (1, "5min"), (6, "noon tomorrow"), (0, "jan 1"),
    (8, "11/14/23"), (0, "monday"), (0, "1700000000"), (10, "20230326"),
    (2, "02:30_20230326"), (0, "now+1w"), (1, "+3mon"), (1, "1y"), (1, "-30s2min"),
    (4, "8:30pm_20231105"), (0, "Sunday-1h"),
]
for i, (pick, t) in enumerate(times):
    put("render_time", f"seed-{i:02}", bytes([pick]) + t.encode())

# The Whisper targets read a fetch window from the first 13 bytes (fuzz/src/lib.rs).
def window(now, back, length, pick):
    return struct.pack(">IIIB", now, back, length, pick)

now = 1700000000
d = tempfile.mkdtemp()
files = []
for i, (archives, agg, xff, pts) in enumerate([
    ([(1, 10)], "average", 0.5, 5),
    ([(1, 12), (4, 6)], "sum", 0.0, 20),
    ([(10, 6), (60, 5), (300, 4)], "max", 1.0, 40),
    ([(1, 8), (2, 8)], "last", 0.5, 0),
    ([(5, 6), (30, 4)], "absmin", 0.3, 30),
]):
    path = os.path.join(d, f"{i}.wsp")
    whisper.create(path, archives, xFilesFactor=xff, aggregationMethod=agg)
    if pts:
        whisper.update_many(path, [(now - k * 7, float(k)) for k in range(pts)], now=now)
    files.append(open(path, "rb").read())
for i, f in enumerate(files):
    for j, (back, length, pick) in enumerate([(60, 60, 0), (3600, 3000, 1), (10, 0, 2), (100000, 99990, 0)]):
        data = window(now, back, length, pick) + f
        put("whisper_header", f"seed-{i}-{j}", data)
        put("whisper_reader", f"seed-{i}-{j}", data)
# A few corrupt ones: truncated, bad aggregation code, zero archives.
bad = [files[1][:40], b"\x00\x00\x00\x09" + files[0][4:], files[0][:12] + b"\x00\x00\x00\x00", b""]
for k, f in enumerate(bad):
    for t in ("whisper_header", "whisper_reader"):
        put(t, f"seed-corrupt-{k}", window(now, 60, 60, 0) + f)
