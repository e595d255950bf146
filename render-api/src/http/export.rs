//! `GET /export?target=…&from=…&until=…&format=csv|jsonl|parquet[&step=…&func=…]`:
//! [`crate::export`] over HTTP, streamed. The body is sent in chunks as
//! series are read, so memory stays bounded however large the export; the
//! status is decided when the first chunk is ready, so a bad target, a bad
//! time or a limit is the same 4xx as from `/render`. A failure after that
//! can only cut the body short (and is logged and counted).

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use crate::error::ApiError;
use crate::eval::Evaluator;
use crate::export::{export, ExportError, ExportRequest};

use super::{now_epoch, to_response, Api, Params, Reply, Req, ResponseBody};

/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks in flight between the exporting thread and the connection.
const CHUNKS_IN_FLIGHT: usize = 8;

/// The whole export in one reply (for [`Api::handle_blocking`], which
/// answers without a connection).
pub(crate) fn buffered(req: &Req<'_>) -> Result<Reply, ApiError> {
    let request = ExportRequest::from_params(req.params, req.settings.time_zone, now_epoch())?;
    let mut ev = Evaluator::new(req.read, req.settings.limits.clone())
        .with_read_options(req.settings.read_options);
    match export(&mut ev, &request, Vec::new(), &mut |_| {}) {
        Ok(body) => Ok(Reply::ok(request.format.content_type(), body)),
        Err(ExportError::Api(e)) => Err(e),
        Err(ExportError::Io(e)) => Err(ApiError::Storage(e.to_string())),
    }
}

/// Told once: `Ok` when the first chunk goes out (or the export ends
/// having written nothing), the error when it fails before.
type Started = Arc<Mutex<Option<oneshot::Sender<Result<(), ExportError>>>>>;

fn tell(started: &Started, result: Result<(), ExportError>) -> Result<(), ExportError> {
    let sender = started.lock().ok().and_then(|mut s| s.take());
    match sender {
        Some(sender) => {
            let _ = sender.send(result);
            Ok(())
        }
        None => result,
    }
}

/// The export as a streamed response; `slot` (an evaluation slot) is held
/// until the last chunk is written.
pub(crate) async fn streamed(
    api: &Api,
    params: Params,
    slot: OwnedSemaphorePermit,
) -> Response<ResponseBody> {
    let inner = &api.inner;
    inner.stats.requests.fetch_add(1, Ordering::Relaxed);
    let settings = inner.settings();
    let request = match ExportRequest::from_params(&params, settings.time_zone, now_epoch()) {
        Ok(r) => r,
        Err(e) => return to_response(api.error_reply("/export", e)),
    };
    let content_type = request.format.content_type();
    let (chunks, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let (started_tx, started_rx) = oneshot::channel();
    let started: Started = Arc::new(Mutex::new(Some(started_tx)));
    let read = inner.read.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut ev = Evaluator::new(read.as_ref(), settings.limits.clone())
            .with_read_options(settings.read_options);
        let writer = ChunkWriter {
            chunks,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            started: started.clone(),
        };
        let result = export(&mut ev, &request, writer, &mut |_| {}).map(|_| ());
        if let Err(e) = tell(&started, result) {
            // The status is sent: the body ends short.
            tracing::warn!(error = %e, "export stopped after its first chunk");
        }
    });
    match started_rx.await {
        Ok(Ok(())) => {
            let mut resp = Response::new(ChunkBody(receiver).boxed());
            if let Ok(v) = HeaderValue::from_str(content_type) {
                resp.headers_mut().insert(CONTENT_TYPE, v);
            }
            resp
        }
        Ok(Err(ExportError::Api(e))) => to_response(api.error_reply("/export", e)),
        Ok(Err(ExportError::Io(e))) => {
            to_response(api.error_reply("/export", ApiError::Storage(e.to_string())))
        }
        Err(_) => to_response(Reply::error(500, "internal error")),
    }
}

/// Buffers an export's bytes and hands them to the connection in chunks.
struct ChunkWriter {
    chunks: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
    started: Started,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let _ = tell(&self.started, Ok(()));
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        // A closed channel is a client that went away: stop exporting.
        self.chunks
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The response body: chunks as the exporting thread sends them, ending
/// when it is done.
struct ChunkBody(mpsc::Receiver<Bytes>);

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}
