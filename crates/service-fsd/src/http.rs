//! The HTTP API (`docs/http.md`, `openapi.yaml`): who is calling comes from
//! the credential alone (a bearer token, or a TLS client certificate); a
//! tenant in the path that is not the caller's is answered exactly as a
//! tenant that does not exist (404), and logged.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use abi::client::{Role, rights};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64ct::{Base64, Encoding};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ledger::engine::{Read, Tree};
use ledger::{Limit, ReadSummary};
use serde::Deserialize;
use serde_json::json;
use tlog::Tile;
use tokio::sync::oneshot;

use crate::config::Limits;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::worker::{Appended, Job, Queue, Records, Served, Who};

/// The records framing of `docs/abi.md`: big-endian `u16` length, bytes, …
pub const RECORDS_TYPE: &str = "application/vnd.service-fs.records";
/// One record, its bytes as they are.
pub const RAW_TYPE: &str = "application/octet-stream";
/// Signed notes.
const NOTE_TYPE: &str = "text/plain; charset=utf-8";

/// A tenant as the HTTP layer knows it.
pub struct TenantInfo {
    /// Its worker's queue.
    pub queue: Queue,
    /// Its modules and their roles.
    pub modules: HashMap<String, Role>,
}

/// Everything a handler needs.
pub struct AppState {
    /// Tenants by name.
    pub tenants: HashMap<String, TenantInfo>,
    /// Credentials (replaced on SIGHUP).
    pub credentials: RwLock<credentials::Credentials>,
    /// Largest record, from `tenants.toml`.
    pub max_record: usize,
    /// Limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Per-module rate limits, if any.
    pub limiter: Option<DefaultKeyedRateLimiter<String>>,
    next_request: AtomicU64,
}

impl AppState {
    /// The state for `tenants`.
    pub fn new(
        tenants: HashMap<String, TenantInfo>,
        credentials: credentials::Credentials,
        max_record: usize,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> AppState {
        let limiter = NonZeroU32::new(limits.rate_per_module).map(|rate| {
            let burst = NonZeroU32::new(limits.burst_per_module).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        AppState {
            tenants,
            credentials: RwLock::new(credentials),
            max_record,
            limits,
            metrics,
            limiter,
            next_request: AtomicU64::new(1),
        }
    }
}

type St = State<Arc<AppState>>;

/// The DER encoding of the client certificate the TLS connection a request
/// came on presented (its end-entity certificate), if any. The TLS server
/// ([`crate::tls`]) puts it in each request's extensions; as an extractor
/// it is `ClientCert(None)` where there is none (plain HTTP).
#[derive(Clone, Debug, Default)]
pub struct ClientCert(pub Option<Arc<Vec<u8>>>);

impl<S: Send + Sync> FromRequestParts<S> for ClientCert {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientCert, Self::Rejection> {
        Ok(parts.extensions.get::<ClientCert>().cloned().unwrap_or_default())
    }
}

/// Every route, for the OpenAPI check: (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/{tenant}/status"),
    ("post", "/v1/{tenant}/records"),
    ("get", "/v1/{tenant}/records"),
    ("get", "/v1/{tenant}/checkpoint"),
    ("post", "/v1/{tenant}/checkpoint"),
    ("get", "/v1/{tenant}/proofs/inclusion"),
    ("get", "/v1/{tenant}/proofs/consistency"),
    ("get", "/v1/{tenant}/audit/records"),
    ("get", "/v1/{tenant}/audit/checkpoint"),
    ("post", "/v1/{tenant}/audit/checkpoint"),
    ("get", "/{tenant}/checkpoint"),
    ("get", "/{tenant}/tile/{path}"),
    ("get", "/{tenant}/audit/checkpoint"),
    ("get", "/{tenant}/audit/tile/{path}"),
];

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = Duration::from_millis(state.limits.request_timeout_ms);
    let max_body = state.limits.max_body;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/{tenant}/status", get(status))
        .route("/v1/{tenant}/records", get(read_records).post(append))
        .route("/v1/{tenant}/checkpoint", get(latest_checkpoint).post(sign_checkpoint))
        .route("/v1/{tenant}/proofs/inclusion", get(inclusion))
        .route("/v1/{tenant}/proofs/consistency", get(consistency))
        .route("/v1/{tenant}/audit/records", get(read_audit))
        .route(
            "/v1/{tenant}/audit/checkpoint",
            get(latest_audit_checkpoint).post(sign_audit_checkpoint),
        )
        .route("/{tenant}/checkpoint", get(latest_checkpoint))
        .route("/{tenant}/tile/{*path}", get(tile))
        .route("/{tenant}/audit/checkpoint", get(latest_audit_checkpoint))
        .route("/{tenant}/audit/tile/{*path}", get(audit_tile))
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// The authenticated caller of a tenant's route.
struct Caller {
    tenant: String,
    who: Who,
    role: Role,
}

impl AppState {
    fn refuse(&self, e: ApiError) -> ApiError {
        self.metrics.refused(e.code);
        e
    }

    /// Authenticates the request for `tenant` and checks `right`. A client
    /// certificate, if one was presented, is the credential: it must be
    /// known, and a bearer token beside it must name the same module.
    /// Otherwise the bearer token is.
    fn caller(
        &self,
        headers: &HeaderMap,
        cert: &ClientCert,
        tenant: &str,
        right: u64,
    ) -> Result<Caller, ApiError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token or client certificate is required",
            )
        };
        let holder = {
            let creds = self.credentials.read().unwrap_or_else(|p| p.into_inner());
            match (&cert.0, token) {
                (None, None) => return Err(self.refuse(unauthorized())),
                (None, Some(token)) => creds.token(token).cloned(),
                (Some(der), token) => {
                    let Some(h) = creds.certificate(der).cloned() else {
                        tracing::warn!(request, "unknown client certificate");
                        return Err(self.refuse(unauthorized()));
                    };
                    if let Some(t) = token
                        && !creds
                            .token(t)
                            .is_some_and(|t| t.tenant == h.tenant && t.module == h.module)
                    {
                        tracing::warn!(
                            request,
                            certificate = %h.credential,
                            "a bearer token beside a client certificate that is not its module's"
                        );
                        return Err(self.refuse(unauthorized()));
                    }
                    Some(h)
                }
            }
        };
        let Some(holder) = holder else {
            tracing::warn!(request, "unknown credential");
            return Err(self.refuse(unauthorized()));
        };
        if holder.tenant != tenant {
            tracing::warn!(
                request,
                caller = %format_args!("{}.{}", holder.tenant, holder.module),
                path_tenant = tenant,
                "a request for another tenant, answered as not found"
            );
            return Err(self.refuse(ApiError::not_found()));
        }
        let role = self
            .tenants
            .get(tenant)
            .and_then(|t| t.modules.get(&holder.module))
            .copied()
            .ok_or_else(|| {
                tracing::warn!(request, "credential for a module tenants.toml does not have");
                self.refuse(unauthorized())
            })?;
        if role.rights() & right != right {
            return Err(self.refuse(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "module {}.{} ({}) may not do this",
                    holder.tenant,
                    holder.module,
                    role.name()
                ),
            )));
        }
        let module = format!("{}.{}", holder.tenant, holder.module);
        if let Some(l) = &self.limiter
            && l.check_key(&module).is_err()
        {
            return Err(self.refuse(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "this module's request rate is over its limit; retry shortly",
            )));
        }
        let who = Who { module, credential: holder.credential, request };
        Ok(Caller { tenant: tenant.into(), who, role })
    }

    async fn ask<T>(
        &self,
        tenant: &str,
        job: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> Job,
    ) -> Result<T, ApiError> {
        let info = self.tenants.get(tenant).ok_or_else(ApiError::not_found)?;
        let (tx, rx) = oneshot::channel();
        if info.queue.try_send(job(tx)).is_err() {
            return Err(
                self.refuse(ApiError::unavailable("too many requests are waiting for this ledger"))
            );
        }
        rx.await.unwrap_or_else(|_| Err(ApiError::unavailable("the ledger stopped")))
    }
}

async fn healthz(State(s): St) -> Response {
    let down: Vec<&String> =
        s.tenants.iter().filter(|(_, t)| t.queue.is_closed()).map(|(n, _)| n).collect();
    match down.is_empty() {
        true => axum::Json(json!({ "status": "ok" })).into_response(),
        false => ApiError::unavailable("a ledger stopped").into_response(),
    }
}

async fn metrics(State(s): St) -> Response {
    let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, ct)], s.metrics.encode()).into_response()
}

async fn status(
    State(s): St,
    Path(tenant): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &tenant, 0)?;
    let (size, audit_size) = s.ask(&c.tenant, |reply| Job::Status { reply }).await?;
    Ok(axum::Json(json!({
        "tenant": c.tenant,
        "module": c.who.module,
        "role": c.role.name(),
        "size": size,
        "audit_size": audit_size,
    }))
    .into_response())
}

/// Where each record of a body in the records framing lies: every length
/// read and checked against what remains, so no input makes it panic or
/// read past the body.
pub fn framed_ranges(body: &[u8]) -> Result<Vec<std::ops::Range<usize>>, ApiError> {
    let mut ranges = vec![];
    let mut at = 0usize;
    while at < body.len() {
        let Some(len) = body.get(at..at + 2) else {
            return Err(ApiError::bad("bad_framing", format!("a length cut short at byte {at}")));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let start = at + 2;
        if start + len > body.len() {
            return Err(ApiError::bad(
                "bad_framing",
                format!("record {} at byte {at} runs past the end of the body", ranges.len()),
            ));
        }
        ranges.push(start..start + len);
        at = start + len;
    }
    Ok(ranges)
}

/// The records of an append body, checked: one raw record, or the framing.
fn parse_records(
    headers: &HeaderMap,
    body: &Bytes,
    max_record: usize,
) -> Result<Vec<std::ops::Range<usize>>, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    let too_large = |len: usize| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "record_too_large",
            format!("record of {len} bytes is larger than the maximum of {max_record}"),
        )
    };
    let ranges = match ct {
        RAW_TYPE => std::iter::once(0..body.len()).collect(),
        RECORDS_TYPE => framed_ranges(body)?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send {RAW_TYPE} (one record) or {RECORDS_TYPE} (records framed)"),
            ));
        }
    };
    if ranges.is_empty() {
        return Err(ApiError::bad("no_records", "an append needs at least one record"));
    }
    for (i, r) in ranges.iter().enumerate() {
        if r.is_empty() {
            return Err(ApiError::bad("empty_record", format!("record {i} is empty")));
        }
        if r.len() > max_record {
            return Err(too_large(r.len()));
        }
    }
    Ok(ranges)
}

async fn append(
    State(s): St,
    Path(tenant): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &tenant, rights::APPEND)?;
    // A body over `limits.max_body` (or one that breaks off): the same JSON
    // error as any other refusal.
    let body = body.map_err(|e| {
        s.refuse(ApiError::new(
            e.status(),
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "bad_argument"
            },
            format!("{}: the limit is {} bytes", e.body_text(), s.limits.max_body),
        ))
    })?;
    let ranges = parse_records(&h, &body, s.max_record).map_err(|e| s.refuse(e))?;
    let key = match h.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().map(|k| k.trim().trim_matches('"').to_string());
            match k.filter(|k| crate::idempotency::valid_key(k)) {
                Some(k) => Some(k),
                None => {
                    return Err(s.refuse(ApiError::bad(
                        "bad_idempotency_key",
                        "Idempotency-Key must be 1-255 printable ASCII characters",
                    )));
                }
            }
        }
    };
    let records = Records { body, ranges };
    let a: Appended = s.ask(&c.tenant, |reply| Job::Append { records, key, reply }).await?;
    let status = if a.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let body = AppendAnswer {
        first: a.first,
        last: a.first + a.count - 1,
        count: a.count,
        tree_size: a.tree_size,
        replayed: a.replayed,
    };
    Ok((status, request_id(&c), axum::Json(body)).into_response())
}

/// An append's answer (`Appended` in docs/openapi.yaml).
#[derive(serde::Serialize)]
struct AppendAnswer {
    first: u64,
    last: u64,
    count: u64,
    tree_size: u64,
    replayed: bool,
}

fn request_id(c: &Caller) -> [(&'static str, HeaderValue); 1] {
    [("x-request-id", HeaderValue::from(c.who.request))]
}

/// `from` and `max` of a read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    from: u64,
    max: Option<u64>,
}

async fn read_records(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
    q: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    read(s, t, h, cert, q, Tree::Log).await
}

async fn read_audit(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
    q: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    read(s, t, h, cert, q, Tree::Audit).await
}

fn query<T>(
    s: &AppState,
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| s.refuse(ApiError::bad("bad_argument", e.body_text())))
}

fn right_of(tree: Tree) -> u64 {
    match tree {
        Tree::Log => rights::READ,
        Tree::Audit => rights::AUDIT,
    }
}

async fn read(
    s: Arc<AppState>,
    tenant: String,
    h: HeaderMap,
    cert: ClientCert,
    q: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
    tree: Tree,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &tenant, right_of(tree))?;
    let q = query(&s, q)?;
    let raw = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(RAW_TYPE)));
    let max = if raw { 1 } else { q.max.unwrap_or(u64::MAX).min(s.limits.max_read_records) };
    if max == 0 {
        return Err(s.refuse(ApiError::bad("bad_argument", "max must be at least 1")));
    }
    let limit = Limit { max_entries: max, max_bytes: s.limits.max_read_bytes };
    let read = Read::Records { tree, from: q.from, limit };
    let who = c.who.clone();
    let Served::Records(body, summary) =
        s.ask(&c.tenant, |reply| Job::Read { who, read, reply }).await?
    else {
        return Err(ApiError::unavailable("unexpected answer"));
    };
    let mut headers = read_headers(&summary);
    headers.insert("x-request-id", HeaderValue::from(c.who.request));
    if raw {
        if summary.count == 0 {
            return Err(ApiError::bad(
                "out_of_range",
                format!("no record {} in a ledger of {}", q.from, summary.tree_size),
            ));
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_TYPE));
        return Ok((headers, body.slice_from(2)).into_response());
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RECORDS_TYPE));
    Ok((headers, body).into_response())
}

trait SliceFrom {
    fn slice_from(self, n: usize) -> Vec<u8>;
}

impl SliceFrom for Vec<u8> {
    fn slice_from(mut self, n: usize) -> Vec<u8> {
        self.drain(..n.min(self.len()));
        self
    }
}

fn read_headers(s: &ReadSummary) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-first-index", HeaderValue::from(s.from));
    h.insert("x-count", HeaderValue::from(s.count));
    h.insert("x-tree-size", HeaderValue::from(s.tree_size));
    h.insert("x-audit-seq", HeaderValue::from(s.audit_seq));
    h
}

async fn checkpoint(
    s: Arc<AppState>,
    tenant: String,
    h: HeaderMap,
    cert: ClientCert,
    tree: Tree,
    sign: bool,
) -> Result<Response, ApiError> {
    let right = match tree {
        Tree::Log => rights::CHECKPOINT,
        Tree::Audit => rights::AUDIT,
    };
    let c = s.caller(&h, &cert, &tenant, right)?;
    let note = s.ask(&c.tenant, |reply| Job::Checkpoint { tree, sign, reply }).await?;
    Ok(([(header::CONTENT_TYPE, NOTE_TYPE)], note).into_response())
}

async fn latest_checkpoint(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    checkpoint(s, t, h, cert, Tree::Log, false).await
}

async fn sign_checkpoint(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    checkpoint(s, t, h, cert, Tree::Log, true).await
}

async fn latest_audit_checkpoint(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    checkpoint(s, t, h, cert, Tree::Audit, false).await
}

async fn sign_audit_checkpoint(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    checkpoint(s, t, h, cert, Tree::Audit, true).await
}

fn b64(h: &tlog::Hash) -> String {
    Base64::encode_string(&h.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    tree_size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old_size: u64,
    tree_size: Option<u64>,
}

async fn current_size(s: &AppState, tenant: &str) -> Result<u64, ApiError> {
    Ok(s.ask(tenant, |reply| Job::Status { reply }).await?.0)
}

async fn inclusion(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &t, rights::READ)?;
    let q = query(&s, q)?;
    let tree_size = match q.tree_size {
        Some(n) => n,
        None => current_size(&s, &c.tenant).await?,
    };
    let read = Read::Inclusion { index: q.index, tree_size };
    let who = c.who.clone();
    let Served::Inclusion(p, seq) =
        s.ask(&c.tenant, |reply| Job::Read { who, read, reply }).await?
    else {
        return Err(ApiError::unavailable("unexpected answer"));
    };
    Ok((
        request_id(&c),
        axum::Json(json!({
            "index": p.index,
            "tree_size": p.tree_size,
            "leaf_hash": b64(&p.leaf_hash),
            "root": b64(&p.root),
            "proof": p.proof.as_slice().iter().map(b64).collect::<Vec<_>>(),
            "audit_seq": seq,
        })),
    )
        .into_response())
}

async fn consistency(
    State(s): St,
    Path(t): Path<String>,
    h: HeaderMap,
    cert: ClientCert,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &t, rights::READ)?;
    let q = query(&s, q)?;
    let tree_size = match q.tree_size {
        Some(n) => n,
        None => current_size(&s, &c.tenant).await?,
    };
    let read = Read::Consistency { old_size: q.old_size, tree_size };
    let who = c.who.clone();
    let Served::Consistency(p, seq) =
        s.ask(&c.tenant, |reply| Job::Read { who, read, reply }).await?
    else {
        return Err(ApiError::unavailable("unexpected answer"));
    };
    Ok((
        request_id(&c),
        axum::Json(json!({
            "old_size": p.old_size,
            "tree_size": p.tree_size,
            "old_root": b64(&p.old_root),
            "root": b64(&p.root),
            "proof": p.proof.as_slice().iter().map(b64).collect::<Vec<_>>(),
            "audit_seq": seq,
        })),
    )
        .into_response())
}

async fn tile(
    State(s): St,
    Path((t, path)): Path<(String, String)>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    serve_tile(s, t, path, h, cert, Tree::Log).await
}

async fn audit_tile(
    State(s): St,
    Path((t, path)): Path<(String, String)>,
    h: HeaderMap,
    cert: ClientCert,
) -> Result<Response, ApiError> {
    serve_tile(s, t, path, h, cert, Tree::Audit).await
}

async fn serve_tile(
    s: Arc<AppState>,
    tenant: String,
    path: String,
    h: HeaderMap,
    cert: ClientCert,
    tree: Tree,
) -> Result<Response, ApiError> {
    let c = s.caller(&h, &cert, &tenant, right_of(tree))?;
    let Some(tile) = Tile::parse(&format!("tile/{path}")) else {
        return Err(s.refuse(ApiError::not_found()));
    };
    let read = Read::Tile { tree, tile };
    let who = c.who.clone();
    let served = s.ask(&c.tenant, |reply| Job::Read { who, read, reply }).await;
    let (data, seq) = match served {
        Ok(Served::Tile(d, seq)) => (d, seq),
        Ok(_) => return Err(ApiError::unavailable("unexpected answer")),
        // Beyond the tree: tlog-tiles clients expect 404.
        Err(e) if e.code == "out_of_range" => return Err(ApiError::not_found()),
        Err(e) => return Err(e),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_TYPE));
    headers.insert("x-audit-seq", HeaderValue::from(seq));
    headers.insert("x-request-id", HeaderValue::from(c.who.request));
    // Full tiles never change; partial ones may be pruned once full, and are
    // still served (cut from the full tile).
    if tile.is_full() {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
    }
    Ok((headers, data).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any body: an error or ranges inside it; framed records come back whole.
        #[test]
        fn framing_never_panics_and_round_trips(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        ) {
            if let Ok(ranges) = framed_ranges(&body) {
                prop_assert!(ranges.iter().all(|r| r.end <= body.len()));
            }
            let framed: Vec<u8> = records
                .iter()
                .flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat())
                .collect();
            let ranges = framed_ranges(&framed).unwrap();
            let got: Vec<&[u8]> = ranges.into_iter().map(|r| &framed[r]).collect();
            prop_assert_eq!(got, records.iter().map(Vec::as_slice).collect::<Vec<_>>());
            if !framed.is_empty() {
                prop_assert!(framed_ranges(&framed[..framed.len() - 1]).is_err());
            }
        }
    }
}
