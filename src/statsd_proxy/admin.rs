//! The proxy's admin console, as proxy.js's management port: `help`,
//! `health [up|down]` (what a load balancer in front of several proxies
//! asks), `status` (uptime and the nodes on the ring, Etsy's format),
//! plus ours: `stats` (every counter, `name: value`, ended by `END`), `quit`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::listen::STOP_POLL;
use super::route::Shared;

/// Starts the admin accept thread.
pub fn spawn(shared: Arc<Shared>, listener: TcpListener) -> anyhow::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("proxy-admin".into())
        .spawn(move || accept_loop(&shared, &listener))
        .context("cannot start the admin thread")
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let healthy = Arc::new(AtomicBool::new(true));
    let active = Arc::new(AtomicUsize::new(0));
    while !shared.stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if active.load(Ordering::Relaxed) >= shared.settings.tcp_max_connections {
            shared.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (shared2, healthy2, active2) = (shared.clone(), healthy.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("proxy-admin-conn".into())
            .spawn(move || {
                let _ = connection(&shared2, &healthy2, stream);
                active2.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn connection(shared: &Shared, healthy: &AtomicBool, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(STOP_POLL))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream).take(1 << 20);
    let mut line = String::new();
    while !shared.stop.load(Ordering::Relaxed) {
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) if !line.ends_with('\n') => continue,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        }
        // Commands may come in lines longer than one read: bounded by take().
        reader.set_limit(1 << 20);
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let answer = match cmd {
            "help" => "Commands: health, status, stats, quit\n\n".to_string(),
            "health" => {
                match words.next().map(str::to_ascii_lowercase).as_deref() {
                    Some("up") => healthy.store(true, Ordering::Relaxed),
                    Some("down") => healthy.store(false, Ordering::Relaxed),
                    _ => {}
                }
                let h = if healthy.load(Ordering::Relaxed) {
                    "up"
                } else {
                    "down"
                };
                format!("health: {h}\n")
            }
            "status" => {
                let ring = shared.ring();
                let mut s = format!("uptime: {}\nnodes: ", shared.started.elapsed().as_secs());
                for &m in ring.members() {
                    s.push_str(&shared.ids[usize::from(m)]);
                    s.push(' ');
                }
                s.push('\n');
                s
            }
            "stats" => format!("{}END\n\n", shared.stats.render(&shared.ids)),
            "quit" => return Ok(()),
            "" => String::new(),
            _ => "ERROR\n".to_string(),
        };
        line.clear();
        out.write_all(answer.as_bytes())?;
    }
    Ok(())
}
