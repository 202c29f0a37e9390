//! The HTTP face of a [`Witness`]: `POST <prefix>/add-checkpoint` as C2SP
//! tlog-witness specifies it. The binary `fs-witness` runs it; tests run it
//! in-process.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use witness::Witness;
use witness::protocol::{ADD_CHECKPOINT, MAX_BODY, SIZE_CONTENT_TYPE};

/// The routes of witness `w` under the submission prefix `prefix`.
pub fn app(w: Witness, prefix: &str) -> Router {
    let path = format!("{}{ADD_CHECKPOINT}", prefix.trim_end_matches('/'));
    Router::new()
        .route(&path, post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Mutex::new(w)))
}

/// Serves witness `w` on `listener` until interrupted (SIGINT).
pub fn serve(listener: TcpListener, w: Witness, prefix: &str) -> Result<()> {
    serve_until(listener, w, prefix, async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Serves witness `w` on `listener` until `stop` completes.
pub fn serve_until(
    listener: TcpListener,
    w: Witness,
    prefix: &str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = app(w, prefix);
    listener.set_nonblocking(true).context("listening")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).context("listening")?;
        axum::serve(listener, app).with_graceful_shutdown(stop).await.context("serving")
    })
}

/// A witness served on a thread of its own, on a free loopback port, until
/// this is dropped (for tests, and for tools that embed a witness).
pub struct Running {
    /// Its submission prefix, `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Starts witness `w` on a free loopback port.
pub fn spawn(w: Witness) -> Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").context("listening")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        serve_until(listener, w, "", async {
            let _ = rx.await;
        })
    });
    Ok(Running { url, stop: Some(tx), thread: Some(thread) })
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn add_checkpoint(State(w): State<Arc<Mutex<Witness>>>, body: Bytes) -> Response {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // File I/O and an fsync under the lock: off the async workers.
    let answer = tokio::task::spawn_blocking(move || {
        let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
        w.add_checkpoint(&body, now)
    })
    .await;
    match answer {
        Ok(Ok(cosignature)) => {
            tracing::info!("cosigned");
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], cosignature)
                .into_response()
        }
        Ok(Err(refusal)) => {
            let status =
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A conflict or a failing proof may be evidence of a log's misbehaviour.
            tracing::warn!(status = status.as_u16(), reason = refusal.body().trim(), "refused");
            let kind = if status == StatusCode::CONFLICT {
                SIZE_CONTENT_TYPE
            } else {
                "text/plain; charset=utf-8"
            };
            (status, [(header::CONTENT_TYPE, kind)], refusal.body()).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
