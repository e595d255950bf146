#!/usr/bin/env python3
"""Sends a fixed set of metrics with the PyPI `statsd` client library, the
way an application would, to the StatsD address given on the command line.

  python_statsd_client.py HOST PORT PREFIX

Per metric type: counter PREFIX.hits += 1 seven times and += 5 once,
gauge PREFIX.queue = 40 then a delta of +2, timer PREFIX.latency with 10..100 ms
in steps of 10, set PREFIX.users with 3 distinct members (one repeated).
"""
import sys

import statsd


def main():
    host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = statsd.StatsClient(host, port, prefix=prefix)
    for _ in range(7):
        client.incr("hits")
    client.incr("hits", 5)
    client.gauge("queue", 40)
    client.gauge("queue", 2, delta=True)
    for ms in range(10, 101, 10):
        client.timing("latency", ms)
    for member in ["alice", "bob", "alice", "carol"]:
        client.set("users", member)
    # a pipeline sends several metrics in one datagram
    with client.pipeline() as pipe:
        pipe.incr("piped")
        pipe.incr("piped")
    print("sent")


if __name__ == "__main__":
    main()
