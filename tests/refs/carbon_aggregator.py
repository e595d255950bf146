"""carbon 1.1.10's own aggregator code on a scripted input, for
tests/ingest_rules.rs.

Input (JSON on stdin):
  {"aggregation_rules": PATH or null, "rewrite_rules": PATH or null,
   "max_intervals": N, "forward_all": bool,
   "steps": [{"now": T, "points": [[name, ts, value], ...]}, ...]}

Each step sets the clock to `now`, runs every point through carbon-aggregator's
pipeline processors (rewrite:pre, aggregate, rewrite:post), then runs every
buffer's compute_value (carbon runs it every `frequency` seconds; running it
at every step only adds emissions of open buckets, which later emissions of
the same bucket overwrite in storage).

carbon refuses a whole aggregation-rules file with one bad line; to compare
the "other rules still apply" behaviour, the rules are read line by line with
carbon's own RuleManager.parse_definition and the lines it raises on are
reported instead of applied.

Output (JSON): {"bad_lines": [N, ...], "forwarded": [[name, ts, value], ...],
"generated": [[name, ts, value], ...]} in the order carbon produced them, the
values as Python's repr (exact: JSON readers may round the last digit).
"""
import json
import sys
import time

from carbon.conf import settings
from carbon import events, instrumentation, state

state.events = events
state.instrumentation = instrumentation

from carbon.aggregator.rules import RuleManager  # noqa: E402
from carbon.aggregator.buffers import BufferManager  # noqa: E402
from carbon.aggregator.processor import AggregationProcessor  # noqa: E402
from carbon.rewrite import RewriteProcessor, RewriteRuleManager, PRE, POST  # noqa: E402

spec = json.load(sys.stdin)
settings['MAX_AGGREGATION_INTERVALS'] = spec['max_intervals']
settings['FORWARD_ALL'] = spec['forward_all']
settings['LOG_AGGREGATOR_MISSES'] = False
settings['WRITE_BACK_FREQUENCY'] = None

clock = [0]
time.time = lambda: clock[0]

bad_lines = []
if spec['aggregation_rules']:
    RuleManager.rules_file = spec['aggregation_rules']
    with open(spec['aggregation_rules']) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith('#') or not line:
                continue
            try:
                RuleManager.rules.append(RuleManager.parse_definition(line))
            except Exception:
                bad_lines.append(number)

if spec['rewrite_rules']:
    RewriteRuleManager.rules_file = spec['rewrite_rules']
    RewriteRuleManager.read_rules()

generated = []
events.metricGenerated.addHandler(
    lambda metric, datapoint: generated.append([metric, datapoint[0], repr(datapoint[1])]))

pre, aggregate, post = RewriteProcessor(PRE), AggregationProcessor(), RewriteProcessor(POST)
forwarded = []
for step in spec['steps']:
    clock[0] = step['now']
    for name, ts, value in step['points']:
        for m1, d1 in pre.process(name, (float(ts), float(value))):
            for m2, d2 in aggregate.process(m1, d1):
                for m3, d3 in post.process(m2, d2):
                    forwarded.append([m3, d3[0], repr(d3[1])])
    for buffer in list(BufferManager.buffers.values()):
        buffer.compute_value()

json.dump({"bad_lines": bad_lines, "forwarded": forwarded, "generated": generated}, sys.stdout)
