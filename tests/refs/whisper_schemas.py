"""Runs carbon's own storage-schemas / storage-aggregation loader.

  whisper_schemas.py CONF_DIR < metric names (one per line)
CONF_DIR holds storage-schemas.conf and storage-aggregation.conf. Prints one
JSON line per metric: {"schema": NAME, "archives": [[spp, points]...],
"xff": X|null, "method": M|null}. If carbon refuses the files (it would exit),
prints {"fatal": MESSAGE} once instead.
"""
import json
import sys

import whisper
from carbon.conf import settings

settings["CONF_DIR"] = sys.argv[1]
from carbon import state  # noqa: E402
import carbon.storage as cs  # noqa: E402


class Database(object):
    """What carbon-cache's whisper backend contributes to the validation."""
    aggregationMethods = whisper.aggregationMethods

    def validateArchiveList(self, archives):
        try:
            whisper.validateArchiveList(archives)
        except whisper.InvalidConfiguration as e:
            raise ValueError("%s" % e)


state.database = Database()
try:
    schemas = cs.loadStorageSchemas()
    aggregations = cs.loadAggregationSchemas()
except BaseException as e:  # carbon exits (SystemExit) or crashes (AssertionError)
    print(json.dumps({"fatal": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)

for line in sys.stdin:
    metric = line.rstrip("\n")
    schema = next(s for s in schemas if s.matches(metric))
    agg = next(s for s in aggregations if s.matches(metric))
    xff, method = agg.archives
    print(json.dumps({"schema": schema.name,
                      "archives": [list(a.getTuple()) for a in schema.archives],
                      "xff": xff, "method": method}))
