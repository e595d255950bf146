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
//!   period ([`storage::net::AcceptErrors`]) instead of spinning;
//! * with `tls_cert` and `tls_key`, connections are HTTPS ([`super::tls`]),
//!   the handshake bounded by `read_timeout` too.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::Api;
use crate::config::HttpLimits;

/// Serves `api` on `listener` (HTTP/1.1 with keep-alive) until `shutdown`
/// completes; connections in flight are then dropped.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let limits = api.settings().http_limits.clone();
    let tls = match &limits.tls {
        Some((cert, key)) => Some(
            super::tls::acceptor(cert, key)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
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
        let tls = tls.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _connection = connection;
            match tls {
                None => serve_connection(stream, api, &limits).await,
                Some(acceptor) => {
                    // The handshake is bounded like a request head.
                    match tokio::time::timeout(limits.read_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, api, &limits).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            api.stats().read_timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }
}

/// HTTP/1.1 over one connection, plain or TLS, with the head limits.
async fn serve_connection<S>(stream: S, api: Api, limits: &HttpLimits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service_api = api.clone();
    let service = hyper::service::service_fn(move |req| {
        let api = service_api.clone();
        async move { Ok::<_, Infallible>(api.handle(req).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_header_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        if e.is_timeout() {
            api.stats().read_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(error = %e, "render API connection ended with an error");
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
