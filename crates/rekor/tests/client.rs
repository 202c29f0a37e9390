//! `rekor::Client` against a loopback HTTP server (tests/common): retries,
//! timeouts, statuses, and the 409 recovery from tiles.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Log, Reply, Server, body_for_request, reply};
use rekor::{AnchorKey, Client, Error, Policy, v2};
use serde_json::Value;

/// Short timeouts and waits, three tries.
fn fast() -> Policy {
    Policy {
        timeout: Duration::from_millis(1500),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

const ARTIFACT: &[u8] = b"tenant.example\n42\nAAAA\n";

fn anchor() -> AnchorKey {
    AnchorKey::from_seed([7; 32])
}

fn request() -> v2::Request {
    v2::request(ARTIFACT, &anchor())
}

/// A server that logs what is posted to `log` and answers 201 with the
/// entry, after `fails` answers from `fail`; it dedupes like Rekor (409).
fn logging_server(
    log: Arc<Mutex<Log>>,
    fails: usize,
    fail: impl Fn() -> Reply + Send + Sync + 'static,
) -> Server {
    Server::start(move |n, req| {
        let mut log = log.lock().unwrap();
        if req.method == "GET" {
            return serve_read(&log, &req.path);
        }
        assert_eq!(req.path, "/api/v2/log/entries");
        assert_eq!(req.header("content-type"), Some("application/json"));
        if n < fails {
            return fail();
        }
        let body = body_for_request(&req.body);
        if let Some(i) = log.index_of(&body) {
            let msg = format!(
                r#"{{"code":6,"message":"an equivalent entry already exists in the transparency log with index {i}","details":[]}}"#
            );
            return Reply::Http(409, vec![("x-log-index", i.to_string())], msg.into_bytes());
        }
        let i = log.append(body);
        let tle = serde_json::to_vec(&log.tle(i)).unwrap();
        Reply::Http(201, vec![("content-type", "application/json".into())], tle)
    })
}

/// `GET <read>/checkpoint` and tiles, under `/api/v2`.
fn serve_read(log: &Log, path: &str) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v2/") else { return reply(404, "no") };
    if rest == "checkpoint" {
        return reply(200, log.checkpoint());
    }
    match log.tile(rest) {
        Some(data) => reply(200, data),
        None => reply(404, "no such tile"),
    }
}

fn new_log(fillers: usize) -> Arc<Mutex<Log>> {
    Arc::new(Mutex::new(Log::new("rekor.test", 3).with_fillers(fillers)))
}

fn verify(log: &Arc<Mutex<Log>>, created: &v2::Created) -> v2::Verified {
    let key = log.lock().unwrap().log_key();
    v2::verify(&created.response, ARTIFACT, &anchor().spki_der(), &key).unwrap()
}

#[test]
fn created_201() {
    let log = new_log(4);
    let server = logging_server(log.clone(), 0, || reply(500, ""));
    let key = log.lock().unwrap().log_key();
    let client = Client::new(&server.url, fast());
    let created = client.create_entry_v2(&request(), &key).unwrap();
    assert!(!created.recovered);
    let v = verify(&log, &created);
    assert_eq!((v.log_index, v.tree_size), (4, 5));
    assert_eq!(server.posts(), 1);
    // The request on the wire is exactly Request::to_json.
    assert_eq!(server.requests()[0].body, request().to_json());
}

#[test]
fn retried_after_two_503s() {
    let log = new_log(1);
    let fail = || reply(503, r#"{"code":14,"message":"reached max pushback; retry"}"#);
    let server = logging_server(log.clone(), 2, fail);
    let key = log.lock().unwrap().log_key();
    let created = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap();
    assert!(!created.recovered);
    verify(&log, &created);
    assert_eq!(server.posts(), 3);
}

#[test]
fn status_400_is_not_retried() {
    let server =
        Server::start(|_, _| reply(400, r#"{"code":3,"message":"invalid hashedrekord request"}"#));
    let key = Log::new("rekor.test", 3).log_key();
    let err = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 400, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&server.url) && text.contains("400"), "{text}");
    assert!(text.contains("invalid hashedrekord request") && !text.contains('\n'), "{text}");
    assert_eq!(server.posts(), 1);
}

#[test]
fn status_405_says_the_log_is_frozen() {
    let server = Server::start(|_, _| {
        reply(405, "This log has been frozen, please switch to the latest log.\n")
    });
    let key = Log::new("rekor.test", 3).log_key();
    let err = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 405, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("frozen") && text.contains("/api/v2/log/entries"), "{text}");
    assert!(!text.contains('\n'), "{text:?}");
    assert_eq!(server.posts(), 1);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = Server::start(|_, _| Reply::Silence);
    let policy = Policy { timeout: Duration::from_millis(300), attempts: 2, ..fast() };
    let key = Log::new("rekor.test", 3).log_key();
    let start = Instant::now();
    let err = Client::new(&server.url, policy).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Unavailable { attempts: 2, .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert_eq!(server.posts(), 2);
    assert!(err.to_string().contains(&server.url), "{err}");
}

#[test]
fn connection_refused_is_unavailable_after_the_attempts() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let key = Log::new("rekor.test", 3).log_key();
    let err = Client::new(&url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Unavailable { attempts: 3, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&url) && text.contains("3 attempts") && !text.contains('\n'), "{text}");
}

#[test]
fn get_and_post_json_return_other_statuses() {
    let server = Server::start(|_, req| match req.path.as_str() {
        "/healthz" => reply(200, r#"{"status":"SERVING"}"#),
        _ => Reply::Http(418, vec![("x-thing", "yes".into())], b"teapot".to_vec()),
    });
    let client = Client::new(&format!("{}/", server.url), fast());
    let r = client.get("/healthz").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &br#"{"status":"SERVING"}"#[..]));
    let r = client.post_json("/x", b"{}").unwrap();
    assert_eq!((r.status, r.header("X-Thing")), (418, Some("yes")));
    assert_eq!(server.requests()[1].body, b"{}");
}

#[test]
fn retries_are_bounded_for_429() {
    let server = Server::start(|_, _| reply(429, "slow down"));
    let err = Client::new(&server.url, fast()).get("/api/v2/checkpoint").unwrap_err();
    match &err {
        Error::Unavailable { attempts: 3, last, .. } => assert!(last.contains("429"), "{last}"),
        e => panic!("{e:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn garbage_201_fails_verification() {
    for garbage in [&b"<html>oops</html>"[..], b"{}", br#"{"logIndex":"1","inclusionProof":null}"#]
    {
        let g = garbage.to_vec();
        let server = Server::start(move |_, _| reply(201, g.clone()));
        let key = Log::new("rekor.test", 3).log_key();
        let created = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap();
        assert_eq!(created.response, garbage);
        let r = v2::verify(&created.response, ARTIFACT, &anchor().spki_der(), &key);
        assert!(r.is_err(), "{r:?}");
    }
}

/// A lost answer: the entry is logged, the client's next try gets 409.
fn recovered_in_log_of(fillers: usize, after: usize) -> Vec<String> {
    let log = new_log(fillers);
    let lost = Arc::new(Mutex::new(true));
    let (l, lost2) = (log.clone(), lost.clone());
    let inner = logging_server(log.clone(), 0, || reply(500, ""));
    let server = Server::start(move |_, req| {
        if req.method == "POST" && std::mem::take(&mut *lost2.lock().unwrap()) {
            // Log it, then more entries, and answer too late.
            let mut log = l.lock().unwrap();
            log.append(body_for_request(&req.body));
            for i in 0..after {
                log.append(format!("{{\"later\":{i}}}").into_bytes());
            }
            return reply(503, "lost");
        }
        forward(&inner, req)
    });
    let key = log.lock().unwrap().log_key();
    let client = Client::new(&server.url, fast());
    let created = client.create_entry_v2(&request(), &key).unwrap();
    assert!(created.recovered);
    let v = verify(&log, &created);
    assert_eq!((v.log_index, v.tree_size), (fillers as u64, (fillers + 1 + after) as u64));
    // The rebuilt entry looks like rekor-tiles' own.
    let tle: Value = serde_json::from_slice(&created.response).unwrap();
    assert_eq!(tle["logIndex"], fillers.to_string());
    assert_eq!(tle["integratedTime"], "0");
    assert_eq!(server.posts(), 2);
    server.requests().into_iter().map(|r| r.path).collect()
}

/// Sends `req` to `server` with a plain TCP client.
fn forward(server: &Server, req: &common::Req) -> Reply {
    let client = Client::new(&server.url, Policy { attempts: 1, ..fast() });
    let r = if req.method == "POST" {
        client.post_json(&req.path, &req.body)
    } else {
        client.get(&req.path)
    };
    match r {
        Ok(r) => {
            let headers = match r.header("x-log-index") {
                Some(i) => vec![("x-log-index", i.to_string())],
                None => vec![],
            };
            Reply::Http(r.status, headers, r.body)
        }
        Err(e) => reply(502, e.to_string()),
    }
}

#[test]
fn conflict_409_is_recovered_from_tiles() {
    recovered_in_log_of(3, 0);
}

#[test]
fn conflict_409_is_recovered_across_partial_and_higher_tiles() {
    // 300 entries: a full and a partial level-0 tile, a level-1 tile.
    let paths = recovered_in_log_of(260, 39);
    for p in ["/api/v2/tile/0/001.p/44", "/api/v2/tile/1/000.p/1", "/api/v2/tile/entries/001.p/44"]
    {
        assert!(paths.iter().any(|q| q == p), "{p} not in {paths:?}");
    }
    let paths = recovered_in_log_of(10, 289);
    assert!(paths.iter().any(|q| q == "/api/v2/tile/0/000"), "{paths:?}");
}

#[test]
fn conflict_409_reads_a_full_tile_when_the_partial_one_is_gone() {
    // The published checkpoint is for 100 entries, but the tile has filled
    // up since and its partial versions are deleted (C2SP allows it).
    let mut log = Log::new("rekor.test", 3).with_fillers(7);
    log.append(body_for_request(&request().to_json()));
    for i in 0..300 {
        log.append(format!("{{\"later\":{i}}}").into_bytes());
    }
    let leaves = log.leaves();
    let checkpoint = log.checkpoint_with("rekor.test", 100, &common::mth(&leaves[..100]));
    let key = log.log_key();
    let log = Arc::new(Mutex::new(log));
    let server = Server::start(move |_, req| match req.path.as_str() {
        "/api/v2/log/entries" => Reply::Http(409, vec![("x-log-index", "7".into())], vec![]),
        "/api/v2/checkpoint" => reply(200, checkpoint.clone()),
        p if p.contains(".p/") => reply(404, "gone"),
        p => serve_read(&log.lock().unwrap(), p),
    });
    let created = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap();
    assert!(created.recovered);
    let v = v2::verify(&created.response, ARTIFACT, &anchor().spki_der(), &key).unwrap();
    assert_eq!((v.log_index, v.tree_size), (7, 100));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p == "/api/v2/tile/entries/000.p/100"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/api/v2/tile/entries/000"), "{paths:?}");
}

#[test]
fn conflict_409_when_the_log_holds_another_entry_there() {
    let log = new_log(5);
    let l = log.clone();
    let server = Server::start(move |_, req| {
        if req.method == "POST" {
            return Reply::Http(409, vec![("x-log-index", "2".into())], b"dup".to_vec());
        }
        serve_read(&l.lock().unwrap(), &req.path)
    });
    let key = log.lock().unwrap().log_key();
    let err = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Recovery { index: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("not the entry we sent"), "{err}");
}

#[test]
fn conflict_409_without_tiles_or_index() {
    let server = Server::start(|_, req| {
        if req.method == "POST" {
            return Reply::Http(409, vec![("x-log-index", "0".into())], b"dup".to_vec());
        }
        reply(501, "Not Implemented")
    });
    let key = Log::new("rekor.test", 3).log_key();
    let err = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Recovery { index: 0, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/api/v2/checkpoint") && text.contains("501"), "{text}");
    let server = Server::start(|_, _| reply(409, "dup"));
    let err = Client::new(&server.url, fast()).create_entry_v2(&request(), &key).unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 409, .. }), "{err:?}");
}

#[test]
fn conflict_409_with_a_checkpoint_under_another_key() {
    let log = new_log(2);
    let server = logging_server(log.clone(), 0, || reply(500, ""));
    let key = log.lock().unwrap().log_key();
    let client = Client::new(&server.url, fast());
    client.create_entry_v2(&request(), &key).unwrap();
    // The second post is a duplicate; recovery checks the checkpoint key.
    let other = Log::new("rekor.test", 4).log_key();
    let err = client.create_entry_v2(&request(), &other).unwrap_err();
    assert!(matches!(err, Error::Recovery { index: 2, .. }), "{err:?}");
    // With the right key it recovers.
    assert!(client.create_entry_v2(&request(), &key).unwrap().recovered);
}

#[test]
fn read_url_can_be_elsewhere() {
    let log = new_log(2);
    let l = log.clone();
    let tiles = Server::start(move |_, req| {
        let path = format!("/api/v2{}", req.path.strip_prefix("/bucket").unwrap_or("/none"));
        serve_read(&l.lock().unwrap(), &path)
    });
    let writer = logging_server(log.clone(), 0, || reply(500, ""));
    let key = log.lock().unwrap().log_key();
    let client = Client::new(&writer.url, fast()).with_read_url(&format!("{}/bucket/", tiles.url));
    assert_eq!(client.read_url(), format!("{}/bucket", tiles.url));
    client.create_entry_v2(&request(), &key).unwrap();
    let created = client.create_entry_v2(&request(), &key).unwrap();
    assert!(created.recovered);
    verify(&log, &created);
    assert!(tiles.requests().iter().any(|r| r.path == "/bucket/checkpoint"));
}
