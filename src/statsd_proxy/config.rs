//! The `[statsd_proxy]` section: [`RawProxyConfig`] is what the file says
//! (every key with its default, unknown keys refused), [`RawProxyConfig::validate`]
//! turns it into [`ProxySettings`], the only form the proxy reads.
//!
//! Keys follow Etsy's `proxyConfig.js` in our naming: listeners are `udp`,
//! `tcp` and `admin` as in `[statsd]`; `checkInterval` → `check_interval`
//! (a duration string), `cacheSize` → `cache_size`; each node is a
//! `[[statsd_proxy.nodes]]` table with `host`, `port` and `adminport`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::Deserialize;
use storage::api::{parse_duration, parse_listen_addr};

/// The largest UDP payload over IPv4: no forwarded packet may exceed it.
pub const MAX_DATAGRAM: usize = 65_507;

/// The `[statsd_proxy]` section as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProxyConfig {
    /// StatsD over UDP, "host:port"; "" disables it.
    pub udp: String,
    /// StatsD over TCP (newline-separated lines); "" (default) disables it.
    pub tcp: String,
    /// Admin console (Etsy `mgmt_port`): health, status, stats; "" disables it.
    pub admin: String,
    /// The StatsD nodes behind the proxy.
    pub nodes: Vec<RawNode>,
    /// Etsy `checkInterval`: how often each node's admin port is asked
    /// `health`; also the timeout of one check.
    pub check_interval: String,
    /// Etsy `cacheSize`: key → node lookups remembered per receiving
    /// thread (0 = hash every line).
    pub cache_size: usize,
    /// Ours: what a line is routed on. "name" (Etsy): the text before the
    /// first `:`. "aggregated": the key a node aggregates under (sanitized,
    /// DogStatsD tags appended, tags sorted), so spellings of one key that
    /// nodes merge always meet on one node.
    pub route_key: String,
    /// Ours: largest UDP packet sent to a node, bytes; lines are batched
    /// up to it (a longer line goes alone).
    pub max_packet_size: usize,
    /// Ours: packets queued per node; beyond it lines are dropped and counted.
    pub queue_packets: usize,
    /// Ours: SO_RCVBUF of the UDP listener, bytes.
    pub udp_receive_buffer: usize,
    /// Ours: concurrent TCP connections (StatsD and admin each).
    pub tcp_max_connections: usize,
    /// Ours: how long shutdown waits for the queues to drain.
    pub shutdown_timeout: String,
    /// Ours: how often counters that signal trouble (drops, bad lines) are
    /// checked and logged when they grew.
    pub log_interval: String,
    /// Ours: send the proxy's counters as StatsD counters (`PREFIX.lines_udp`,
    /// `PREFIX.node.HOST_PORT.lines_forwarded`, ...) through the ring to the
    /// nodes, so they are stored like any metric; "" (default, as proxy.js)
    /// = off.
    pub self_metrics_prefix: String,
    /// Ours: how often the self-metrics are sent.
    pub self_metrics_interval: String,
}

/// One `[[statsd_proxy.nodes]]` entry (Etsy's `{host, port, adminport}`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Address of the StatsD node.
    pub host: String,
    /// Its StatsD UDP port.
    pub port: u16,
    /// Its admin console port (answers `health`).
    pub adminport: u16,
}

impl Default for RawProxyConfig {
    fn default() -> Self {
        RawProxyConfig {
            udp: "0.0.0.0:8125".into(),
            tcp: String::new(),
            admin: "0.0.0.0:8126".into(),
            nodes: Vec::new(),
            check_interval: "1s".into(),
            cache_size: 10_000,
            route_key: "name".into(),
            max_packet_size: 1432,
            queue_packets: 16_384,
            udp_receive_buffer: 8 << 20,
            tcp_max_connections: 1024,
            shutdown_timeout: "5s".into(),
            log_interval: "60s".into(),
            self_metrics_prefix: String::new(),
            self_metrics_interval: "10s".into(),
        }
    }
}

/// What lines are routed on; see [`RawProxyConfig::route_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKey {
    /// The text before the first `:` (Etsy's proxy.js).
    Name,
    /// The key a node aggregates the line under.
    Aggregated,
}

/// A node, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// `host:port` as written: the node's name on the hash ring (Etsy's
    /// ring hashes this string, so the same config places keys alike).
    pub id: String,
    /// Where its StatsD lines go.
    pub statsd: SocketAddr,
    /// Where `health` is asked.
    pub admin: SocketAddr,
}

/// Validated settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxySettings {
    /// UDP listener.
    pub udp: Option<SocketAddr>,
    /// TCP listener.
    pub tcp: Option<SocketAddr>,
    /// Admin console.
    pub admin: Option<SocketAddr>,
    /// The nodes, in configured order.
    pub nodes: Vec<Node>,
    /// Health check period and timeout.
    pub check_interval: Duration,
    /// Key → node cache entries per thread.
    pub cache_size: usize,
    /// What lines are routed on.
    pub route_key: RouteKey,
    /// Largest packet sent to a node.
    pub max_packet_size: usize,
    /// Packets queued per node.
    pub queue_packets: usize,
    /// SO_RCVBUF of the UDP listener.
    pub udp_receive_buffer: usize,
    /// Concurrent TCP connections.
    pub tcp_max_connections: usize,
    /// Bound of the shutdown drain.
    pub shutdown_timeout: Duration,
    /// Trouble-counter log period.
    pub log_interval: Duration,
    /// Self-metrics prefix (None = off).
    pub self_metrics_prefix: Option<String>,
    /// Self-metrics period.
    pub self_metrics_interval: Duration,
}

/// A refused key: which one and why (the caller adds file and section).
#[derive(Debug)]
pub struct ProxyConfigError {
    /// The key, `nodes[1].port` for a node's key.
    pub key: String,
    /// The value as written.
    pub value: String,
    /// Why it is refused.
    pub reason: String,
}

fn refuse(key: &str, value: impl ToString, reason: impl ToString) -> ProxyConfigError {
    ProxyConfigError {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn resolve(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| "resolves to no address".to_string())
}

impl RawProxyConfig {
    /// Checks every key; resolves node addresses (as the proxy will).
    pub fn validate(&self) -> Result<ProxySettings, ProxyConfigError> {
        let listen = |key: &str, text: &str| {
            parse_listen_addr(text).map_err(|why| refuse(key, format!("{text:?}"), why))
        };
        let udp = listen("udp", &self.udp)?;
        let tcp = listen("tcp", &self.tcp)?;
        let admin = listen("admin", &self.admin)?;
        if udp.is_none() && tcp.is_none() {
            return Err(refuse(
                "udp",
                format!("{:?}", self.udp),
                "udp and tcp are both off: the proxy would receive nothing",
            ));
        }
        if self.nodes.is_empty() {
            return Err(refuse(
                "nodes",
                "[]",
                "at least one [[statsd_proxy.nodes]] entry (host, port, adminport) is needed",
            ));
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            let key = |k: &str| format!("nodes[{i}].{k}");
            if n.host.is_empty() {
                return Err(refuse(&key("host"), "\"\"", "a node needs a host"));
            }
            if n.port == 0 {
                return Err(refuse(&key("port"), 0, "must be a port number 1-65535"));
            }
            if n.adminport == 0 {
                return Err(refuse(
                    &key("adminport"),
                    0,
                    "must be a port number 1-65535",
                ));
            }
            let id = format!("{}:{}", n.host, n.port);
            if nodes.iter().any(|m| m.id == id) {
                return Err(refuse(
                    &key("port"),
                    n.port,
                    format!("node {id} is listed twice"),
                ));
            }
            let statsd =
                resolve(&id).map_err(|why| refuse(&key("host"), format!("{:?}", n.host), why))?;
            let admin = resolve(&format!("{}:{}", n.host, n.adminport))
                .map_err(|why| refuse(&key("host"), format!("{:?}", n.host), why))?;
            nodes.push(Node { id, statsd, admin });
        }
        if nodes.len() > usize::from(u16::MAX) {
            return Err(refuse("nodes", nodes.len(), "at most 65535 nodes"));
        }
        let duration = |key: &str, text: &str| -> Result<Duration, ProxyConfigError> {
            let d = parse_duration(text).map_err(|why| refuse(key, format!("{text:?}"), why))?;
            if d.is_zero() {
                return Err(refuse(key, format!("{text:?}"), "must be longer than 0"));
            }
            Ok(d)
        };
        let check_interval = duration("check_interval", &self.check_interval)?;
        let shutdown_timeout = duration("shutdown_timeout", &self.shutdown_timeout)?;
        let log_interval = duration("log_interval", &self.log_interval)?;
        let self_metrics_interval = duration("self_metrics_interval", &self.self_metrics_interval)?;
        let prefix = &self.self_metrics_prefix;
        if prefix.starts_with('.')
            || prefix.ends_with('.')
            || prefix.contains("..")
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(refuse(
                "self_metrics_prefix",
                format!("{prefix:?}"),
                "must be dotted words of letters, digits, '_' and '-'",
            ));
        }
        let route_key = match self.route_key.as_str() {
            "name" => RouteKey::Name,
            "aggregated" => RouteKey::Aggregated,
            other => {
                return Err(refuse(
                    "route_key",
                    format!("{other:?}"),
                    "must be \"name\" (Etsy: text before the first ':') or \"aggregated\"",
                ))
            }
        };
        if !(64..=MAX_DATAGRAM).contains(&self.max_packet_size) {
            return Err(refuse(
                "max_packet_size",
                self.max_packet_size,
                format!("must be 64-{MAX_DATAGRAM} bytes"),
            ));
        }
        if self.queue_packets == 0 {
            return Err(refuse("queue_packets", 0, "must be at least 1"));
        }
        if self.tcp_max_connections == 0 {
            return Err(refuse("tcp_max_connections", 0, "must be at least 1"));
        }
        Ok(ProxySettings {
            udp,
            tcp,
            admin,
            nodes,
            check_interval,
            cache_size: self.cache_size,
            route_key,
            max_packet_size: self.max_packet_size,
            queue_packets: self.queue_packets,
            udp_receive_buffer: self.udp_receive_buffer,
            tcp_max_connections: self.tcp_max_connections,
            shutdown_timeout,
            log_interval,
            self_metrics_prefix: (!prefix.is_empty()).then(|| prefix.clone()),
            self_metrics_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_node() -> RawProxyConfig {
        RawProxyConfig {
            nodes: vec![RawNode {
                host: "127.0.0.1".into(),
                port: 8127,
                adminport: 8128,
            }],
            ..RawProxyConfig::default()
        }
    }

    #[test]
    fn defaults_with_one_node_validate() {
        let s = with_node().validate().expect("valid");
        assert_eq!(s.nodes[0].id, "127.0.0.1:8127");
        assert_eq!(s.check_interval, Duration::from_secs(1));
        assert_eq!(s.tcp, None);
        assert_eq!(s.route_key, RouteKey::Name);
    }

    #[test]
    fn refusals_name_the_key() {
        assert_eq!(
            RawProxyConfig::default().validate().unwrap_err().key,
            "nodes"
        );
        let mut c = with_node();
        c.nodes.push(c.nodes[0].clone());
        assert_eq!(c.validate().unwrap_err().key, "nodes[1].port");
        let mut c = with_node();
        c.check_interval = "0s".into();
        assert_eq!(c.validate().unwrap_err().key, "check_interval");
        let mut c = with_node();
        c.route_key = "line".into();
        assert_eq!(c.validate().unwrap_err().key, "route_key");
        let mut c = with_node();
        c.max_packet_size = 70_000;
        assert_eq!(c.validate().unwrap_err().key, "max_packet_size");
        let mut c = with_node();
        c.udp = String::new();
        assert_eq!(c.validate().unwrap_err().key, "udp");
    }
}
