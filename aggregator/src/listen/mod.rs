//! Listeners: they frame bytes into packets, hand them to
//! [`Core::handle_packet`](crate::server::Core) and count; parsing and
//! aggregation happen there. Every listener thread checks the core's stop
//! flag at least every [`POLL`], drains what the kernel already holds, and
//! exits; [`crate::Running::shutdown`] joins them all.

use std::sync::Arc;
use std::time::Duration;

use crate::server::{Core, Running, StartError};

pub mod admin;
pub mod tcp;
pub mod udp;

/// How often blocked listener threads look at the stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// Binds every configured listener and spawns its threads.
pub(crate) fn start_all(core: &Arc<Core>, running: &mut Running) -> Result<(), StartError> {
    let s = &core.settings;
    if let Some(addr) = s.udp {
        let bound = udp::start(core, addr, running).map_err(|e| StartError {
            what: format!("udp listener {addr}"),
            source: e,
        })?;
        running.addrs_mut().udp = Some(bound);
    }
    if let Some(path) = s.unix.clone() {
        udp::start_unix(core, &path, running).map_err(|e| StartError {
            what: format!("unix datagram socket {}", path.display()),
            source: e,
        })?;
        running.addrs_mut().unix = Some(path);
    }
    if let Some(addr) = s.tcp {
        let bound = tcp::start_accepting(
            core,
            addr,
            running,
            ("statsd-tcp", "statsd-tcp-conn"),
            tcp::connection,
        )
        .map_err(|e| StartError {
            what: format!("tcp listener {addr}"),
            source: e,
        })?;
        running.addrs_mut().tcp = Some(bound);
    }
    if let Some(addr) = s.admin {
        let bound = tcp::start_accepting(
            core,
            addr,
            running,
            ("statsd-admin", "statsd-admin-conn"),
            admin::connection,
        )
        .map_err(|e| StartError {
            what: format!("admin console {addr}"),
            source: e,
        })?;
        running.addrs_mut().admin = Some(bound);
    }
    Ok(())
}

/// A connectable form of a bound address (0.0.0.0 → 127.0.0.1, :: → ::1),
/// used to wake a blocked `accept` at shutdown.
pub(crate) fn wake_addr(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, addr.port())
}
