//! The admin console (Etsy `mgmt_port`, 8126): each read is one command,
//! trimmed and split on spaces, answered as the reference answers it:
//! `help`, `config`, `health [up|down]`, `stats`, `counters`, `timers`,
//! `gauges`, `delcounters`, `deltimers`, `delgauges`, `quit`, else `ERROR`.
//! `sets`, `delsets` and `reload` are our extension (the reference has
//! none of them): `reload` runs the process's configuration reload (what
//! `SIGHUP` does to `ferrograph serve`) and answers `reloaded` or
//! `ERROR: reason`.
//! Dumps use a simplified form of Node's `util.inspect` (see docs).

use std::fmt::Write as _;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;

use crate::bucket::Kind;
use crate::listen::tcp::{read_some, Received};
use crate::server::Core;
use crate::time::unix_now_secs;

/// The process's configuration reload, as the admin console's `reload`
/// runs it: `Err` carries the reason the running configuration was kept.
pub type ReloadHook = std::sync::Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Serves one admin console connection.
pub(crate) fn connection(core: &Core, mut stream: TcpStream, peer: SocketAddr) {
    let may_delete = peer.ip().is_loopback() || core.settings.admin_allow_remote;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if core.stop.load(Ordering::Relaxed) {
            return;
        }
        let n = match read_some(&mut stream, &mut buf) {
            Received::Bytes(n) => n,
            Received::Nothing => continue,
            Received::Closed => return,
        };
        let text: String = buf[..n].iter().map(|b| (b & 0x7f) as char).collect();
        match answer(core, &text, may_delete) {
            Some(reply) => {
                if stream.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

/// The reply to one command; None closes the connection (`quit`).
/// `may_delete` is false for a remote peer without
/// `[statsd] admin_allow_remote`: the `del*` commands are then refused.
pub(crate) fn answer(core: &Core, text: &str, may_delete: bool) -> Option<String> {
    let mut words = text.trim().split(' ');
    let cmd = words.next().unwrap_or("");
    let params: Vec<&str> = words.collect();
    let mut out = String::new();
    match cmd {
        "help" => out.push_str(
            "Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, delgauges, delsets, health, config, reload, quit\n\n",
        ),
        "config" => {
            out.push('\n');
            for (k, v) in core.settings.describe() {
                let _ = writeln!(out, "{k}: {v}");
            }
        }
        "health" => {
            match params.first().map(|p| p.to_lowercase()).as_deref() {
                Some("up") => core.healthy.store(true, Ordering::Relaxed),
                Some("down") => core.healthy.store(false, Ordering::Relaxed),
                _ => {}
            }
            let h = if core.healthy.load(Ordering::Relaxed) { "up" } else { "down" };
            let _ = writeln!(out, "health: {h}");
        }
        "stats" => {
            let now = unix_now_secs();
            let _ = writeln!(out, "uptime: {}", now - core.started_secs);
            let last = core.stats.last_msg_seen.load(Ordering::Relaxed);
            let _ = writeln!(out, "messages.last_msg_seen: {}", now - last);
            let _ = writeln!(out, "messages.bad_lines_seen: {}", core.stats.bad_lines_total());
            if let Some(b) = &core.backend {
                for (name, v) in b.status() {
                    let shown = if name.starts_with("last_") { now as f64 - v } else { v };
                    let _ = writeln!(out, "graphite.{name}: {}", crate::jsnum::js_format(shown));
                }
            }
            out.push_str("END\n\n");
        }
        "counters" | "timers" | "gauges" | "sets" => {
            out.push_str(&dump(core, cmd));
            out.push_str("\nEND\n\n");
        }
        "delcounters" | "deltimers" | "delgauges" | "delsets" if !may_delete => {
            core.stats
                .admin_refused
                .fetch_add(1, Ordering::Relaxed);
            let _ = writeln!(
                out,
                "ERROR: {cmd} is refused from a remote peer ([statsd] admin_allow_remote = false)"
            );
            out.push_str("END\n\n");
        }
        "delcounters" | "deltimers" | "delgauges" | "delsets" => {
            let kind = match cmd {
                "delcounters" => Kind::Counter,
                "deltimers" => Kind::Timer,
                "delgauges" => Kind::Gauge,
                _ => Kind::Set,
            };
            for name in params {
                let mut matched: Vec<String> = Vec::new();
                let existing = core.buckets.keys_of(kind);
                if existing.iter().any(|k| k == name) {
                    matched.push(name.to_string());
                }
                if let Some(folder) = name.strip_suffix('*').filter(|_| name.ends_with(".*")) {
                    matched.extend(existing.iter().filter(|k| k.starts_with(folder)).cloned());
                }
                if matched.is_empty() {
                    let _ = writeln!(out, "metric {name} not found");
                }
                for k in matched {
                    core.buckets.remove(kind, &k);
                    let _ = writeln!(out, "deleted: {k}");
                }
            }
            out.push_str("END\n\n");
        }
        // Reloading changes what the whole process does, so it needs what
        // deleting needs: a loopback peer or `admin_allow_remote`.
        "reload" if !may_delete => {
            core.stats
                .admin_refused
                .fetch_add(1, Ordering::Relaxed);
            out.push_str(
                "ERROR: reload is refused from a remote peer ([statsd] admin_allow_remote = false)\n",
            );
        }
        "reload" => {
            let hook = core
                .admin_reload
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            match hook {
                None => out.push_str("ERROR: this process has no configuration to reload\n"),
                Some(reload) => match reload() {
                    Ok(()) => out.push_str("reloaded\n"),
                    Err(reason) => {
                        let _ = writeln!(out, "ERROR: {}", reason.replace('\n', " "));
                    }
                },
            }
        }
        "quit" => return None,
        _ => out.push_str("ERROR\n"),
    }
    Some(out)
}

/// `'key'` as Node's inspect prints an object key.
fn js_key(k: &str) -> String {
    let ident = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        k.to_string()
    } else {
        format!("'{}'", k.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

fn dump(core: &Core, what: &str) -> String {
    use crate::jsnum::js_format;
    let mut entries: Vec<String> = Vec::new();
    for i in 0..core.buckets.shard_count() {
        let shard = core.buckets.lock(i);
        match what {
            "counters" => entries.extend(
                shard
                    .counters
                    .iter()
                    .map(|(k, v)| format!("{}: {}", js_key(k), js_format(*v))),
            ),
            "timers" => entries.extend(shard.timers.iter().map(|(k, t)| {
                if let Some(h) = &t.hdr {
                    // hdr mode holds no values to list: summarise instead.
                    return format!(
                        "{}: {{ hdr_values: {}, min: {}, max: {} }}",
                        js_key(k),
                        h.len(),
                        js_format(h.min()),
                        js_format(h.max())
                    );
                }
                let vals: Vec<String> = t.values.iter().map(|v| js_format(*v)).collect();
                if vals.is_empty() {
                    format!("{}: []", js_key(k))
                } else {
                    format!("{}: [ {} ]", js_key(k), vals.join(", "))
                }
            })),
            "gauges" => entries.extend(
                shard
                    .gauges
                    .iter()
                    .map(|(k, g)| format!("{}: {}", js_key(k), js_format(g.value))),
            ),
            _ => entries.extend(shard.sets.iter().map(|(k, s)| {
                let mut m: Vec<String> = s.iter().map(|v| format!("'{v}'")).collect();
                m.sort();
                if m.is_empty() {
                    format!("{}: []", js_key(k))
                } else {
                    format!("{}: [ {} ]", js_key(k), m.join(", "))
                }
            })),
        }
    }
    entries.sort();
    if entries.is_empty() {
        "{}".to_string()
    } else if entries.iter().map(|e| e.len() + 2).sum::<usize>() <= 72 {
        format!("{{ {} }}", entries.join(", "))
    } else {
        format!("{{\n  {}\n}}", entries.join(",\n  "))
    }
}
