//! The HTTP/1.1 server around [`Api`]: accepting, per-connection limits,
//! and the limits on what one slow or hostile client can hold.
//!
//! * a request's line and headers must arrive within `[render]
//!   read_timeout`, or the connection is closed (slowloris, and idle
//!   keep-alive connections);
//! * request heads larger than `max_header_bytes` get 431 (hyper's own
//!   answer), bodies larger than `max_body_bytes` 413 ([`Api::handle`]);
//! * at most `max_connections` connections are open; more are closed as
//!   soon as they are accepted, and counted;
//! * out of file descriptors, the accept loop pauses and says so once per
//!   period ([`storage::net::AcceptErrors`]) instead of spinning.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::Api;

/// Serves `api` on `listener` (HTTP/1.1 with keep-alive) until `shutdown`
/// completes; connections in flight are then dropped.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let limits = api.settings().http_limits.clone();
    let open = Arc::new(AtomicUsize::new(0));
    let mut accept_errors = storage::net::AcceptErrors::new("render api");
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    let pause = accept_errors.pause_after(&e);
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            },
        };
        if open.load(Ordering::Acquire) >= limits.max_connections {
            api.stats()
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let connection = ConnectionSlot::take(&open);
        let api = api.clone();
        let read_timeout = limits.read_timeout;
        let max_header_bytes = limits.max_header_bytes;
        tokio::spawn(async move {
            let _connection = connection;
            let service_api = api.clone();
            let service = hyper::service::service_fn(move |req| {
                let api = service_api.clone();
                async move { Ok::<_, Infallible>(api.handle(req).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .max_header_size(max_header_bytes)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                if e.is_timeout() {
                    api.stats().read_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(error = %e, "render API connection ended with an error");
            }
        });
    }
}

/// One open connection, counted until dropped.
struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    fn take(open: &Arc<AtomicUsize>) -> ConnectionSlot {
        open.fetch_add(1, Ordering::AcqRel);
        ConnectionSlot(open.clone())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
