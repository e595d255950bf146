//! End-to-end tests through real sockets, processes and files. One test
//! binary; each module below holds one behaviour.

/// Harness: processes, free ports, the references, the render and StatsD differential runners.
mod util;

/// The binary's own commands (config printing and checking).
mod cli;

/// Whisper files and algorithms against the real Python `whisper` module.
mod whisper_interop;

/// The read-only Read handle over Whisper trees (find vs graphite-web, tags, corrupt files).
mod whisper_read;

/// storage-schemas.conf / storage-aggregation.conf against carbon's own loader.
mod whisper_schemas;

/// The render API against graphite-web 1.1.10 on the same Whisper files.
mod render_diff;

/// Graphs (png, svg metadata, pdf, pie) against graphite-web 1.1.10's cairo drawing.
mod render_graphs;

/// The [render] opt-ins beyond graphite-web: storage-method consolidation, stitched archives.
mod render_optin;

/// Etsy StatsD vs `ferrograph statsd`, same packets, every flushed line.
mod statsd_diff;

/// `ferrograph statsd` as a process: shutdown flush, admin console, config errors.
mod statsd_daemon;

/// `ferrograph serve`: StatsD → Whisper → /render, restarts, kill -9.
mod pipeline;

/// Real client libraries (Python `statsd`, Node `hot-shots`) through serve.
mod clients;

/// graphite-web's Combine and Transform render functions against graphite-web itself.
mod render_functions_combine_transform;

/// The requests Grafana's Graphite data source sends, over a real socket.
mod render_grafana;

/// Calculate, Filter, Sorting, Alias, Graph and Special render functions against graphite-web.
mod render_functions_filter_alias;

/// `ferrograph carbon` end to end: protocols, SIGTERM drain, kill -9.
mod carbon_receivers;

/// `ferrograph whisper ...` against the classic whisper-*.py tools.
mod whisper_tools;

/// carbon plaintext and pickle through `ferrograph serve`.
mod pipeline_carbon;

/// The first hour as a new user: config errors, `send`, `wait-ready`, `/metrics`, the tree.
mod first_hour;

/// The README's tour, run verbatim from the README's text.
mod tour;

/// Game days: descriptor exhaustion, slow clients, tokens, corrupt files.
mod hardening;

/// Nothing accepted is lost: kill -9 during a burst, journal replay, stop time.
mod durability;

/// Capacity planning: export (CSV, JSON lines, Parquet), forecasts, /check.
mod capacity;

/// [carbon] aggregation_rules / rewrite_rules through serve, and against carbon's aggregator code.
mod ingest_rules;

/// l2met log metrics: POST /logs (logplex) and `ferrograph logs` through serve.
mod logs;

// The ClickHouse backend against real servers (docs/clickhouse.md).
mod clickhouse;
/// `ferrograph statsd-proxy` in front of two StatsD nodes: one node per key, health checks, rerouting.
mod statsd_proxy;

/// Events and dashboards (issue 13) against graphite-web; restart persistence; write_token.
mod events_dashboards;
/// Reload without restart (SIGHUP, `ferrograph reload`): schemas, render limits, log level, background resize.
mod reload;

/// The browser UI in headless Chromium: the tree, a composer link's drawn graph, a dashboard after a restart.
mod browser;
