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
    let app = app(w, prefix);
    listener.set_nonblocking(true).context("listening")?;
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).context("listening")?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
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
