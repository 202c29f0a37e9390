//! The daemon on loopback, through a real HTTP client: isolation on every
//! route, rights by role, one audit record per read in order, bad input,
//! idempotent retries, group commit, and reloading credentials.

mod common;

use common::*;
use service_fsd::http::ROUTES;

/// A concrete URL for each route of `tenant` (every parameter valid).
fn urls(base: &str, tenant: &str) -> Vec<(&'static str, String)> {
    ROUTES
        .iter()
        .filter(|(_, p)| p.contains("{tenant}"))
        .map(|(m, p)| {
            let p = p.replace("{tenant}", tenant).replace("{path}", "entries/000.p/1");
            let q = match p.rsplit('/').next().unwrap() {
                "records" if *m == "get" => "?from=0",
                "inclusion" => "?index=0",
                "consistency" => "?old_size=1",
                _ => "",
            };
            (*m, format!("{base}{p}{q}"))
        })
        .collect()
}

fn send(method: &str, url: &str, token: &str) -> Answer {
    let m = method.to_uppercase();
    let (h, body): (&[(&str, &str)], &[u8]) = if url.ends_with("/records") && m == "POST" {
        (&[("content-type", "application/octet-stream")], b"intruder")
    } else {
        (&[], b"")
    };
    call(&m, url, Some(token), h, body)
}

/// Everything a caller could change about `tenant`: both logs' sizes and checkpoints.
fn state(l: &Ledgers, tenant: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = l.root.join(tenant);
    (
        std::fs::read(dir.join("log/checkpoint")).unwrap(),
        std::fs::read(dir.join("audit/checkpoint")).unwrap(),
    )
}

#[test]
fn no_route_reaches_another_tenant() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    assert_eq!(append(&d, "acme", l.token("acme.identity"), &[b"acme's"], None).status, 201);
    let before = state(&l, "acme");
    let routes = urls(&d.url, "acme");
    assert_eq!(routes.len(), ROUTES.len() - 2, "every tenant route is tried");
    for module in ["globex.payments", "globex.analytics", "globex.auditor"] {
        for (m, url) in &routes {
            let a = send(m, url, l.token(module));
            assert_eq!(a.status, 404, "{module} {m} {url}: {a:?}");
            // Exactly what a tenant that does not exist gets.
            let nobody = send(m, &url.replace("/acme/", "/nobody/"), l.token(module));
            assert_eq!((nobody.status, &nobody.body), (404, &a.body), "{url}");
        }
    }
    assert_eq!(state(&l, "acme"), before, "nothing changed, and no read was served");
    // Without a token, or with a wrong one: 401 everywhere.
    for (m, url) in &routes {
        assert_eq!(call(&m.to_uppercase(), url, None, &[], b"").status, 401, "{url}");
        assert_eq!(send(m, url, "sfs_forged").status, 401, "{url}");
    }
    assert_eq!(state(&l, "acme"), before);
    assert_eq!(l.records("acme"), vec![b"acme's".to_vec()]);
}

#[test]
fn rights_follow_roles() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    append(&d, "acme", l.token("acme.identity"), &[b"one", b"two"], None);
    for (module, role) in
        [("acme.identity", "ring1"), ("acme.reports", "ring2"), ("acme.auditor", "audit")]
    {
        for (m, url) in urls(&d.url, "acme") {
            let a = send(m, &url, l.token(module));
            let path = url.split("/acme").nth(1).unwrap().split('?').next().unwrap().to_string();
            let allowed = match (role, m, path.as_str()) {
                (_, _, "/status") => true,
                ("ring1", "post", "/records") => true,
                ("ring2", _, p) => !p.starts_with("/audit") && (m != "post" || p != "/records"),
                ("audit", _, p) => p.starts_with("/audit"),
                _ => false,
            };
            let want = if allowed { [200, 201].contains(&a.status) } else { a.status == 403 };
            assert!(
                want,
                "{module} ({role}) {m} {url}: {} {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            );
            if !allowed {
                assert_eq!(a.code(), "forbidden");
            }
        }
    }
}

#[test]
fn every_read_is_audited_once_in_order_before_it_is_served() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let recs: Vec<Vec<u8>> = (0..300).map(|i| format!("record {i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
    assert_eq!(append(&d, "acme", l.token("acme.identity"), &refs, None).json()["last"], 299);
    let r = l.token("acme.reports");
    let u = &d.url;
    let reads = [
        (format!("{u}/v1/acme/records?from=5&max=3"), "read_since", 5, 3),
        (format!("{u}/v1/acme/proofs/inclusion?index=7&tree_size=300"), "prove_inclusion", 7, 1),
        (format!("{u}/v1/acme/proofs/consistency?old_size=10"), "prove_consistency", 10, 290),
        (format!("{u}/acme/tile/entries/001.p/44"), "read_tile", 1, 44),
        (format!("{u}/acme/tile/0/000"), "read_tile", 0, 256),
        (format!("{u}/v1/acme/records?from=299"), "read_since", 299, 1),
    ];
    let mut seqs = vec![];
    let mut ids = vec![];
    for (url, ..) in &reads {
        let a = get(url, r);
        assert_eq!(a.status, 200, "{url}: {}", String::from_utf8_lossy(&a.body));
        let seq = match a.header("x-audit-seq") {
            "" => a.json()["audit_seq"].as_u64().unwrap(),
            s => s.parse().unwrap(),
        };
        seqs.push(seq);
        ids.push(a.header("x-request-id").parse::<u64>().unwrap());
    }
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    // Refused reads leave no record.
    assert_eq!(get(&format!("{u}/v1/acme/records?from=301"), r).status, 400);
    assert_eq!(get(&format!("{u}/acme/tile/entries/001.p/45"), r).status, 404);
    let a = get(&format!("{u}/v1/acme/audit/records?from=0"), l.token("acme.auditor"));
    assert_eq!(a.status, 200);
    let lines: Vec<serde_json::Value> =
        unframe(&a.body).iter().map(|r| serde_json::from_slice(r).unwrap()).collect();
    assert_eq!(
        lines.len(),
        reads.len(),
        "one record per read, the audit read's own not yet visible"
    );
    for (i, (rec, (_, op, from, count))) in lines.iter().zip(&reads).enumerate() {
        assert_eq!(rec["seq"], i as u64);
        assert_eq!(rec["op"], *op);
        assert_eq!((rec["from"].as_u64(), rec["count"].as_u64()), (Some(*from), Some(*count)));
        assert_eq!(rec["module"], "acme.reports");
        assert!(rec["credential"].as_str().unwrap().starts_with("token:"));
        assert_eq!(rec["request"].as_u64(), Some(ids[i]));
    }
    assert_eq!(lines[3]["tile"], "tile/entries/001.p/44");
}

#[test]
fn bad_input_gets_one_json_error_and_changes_nothing() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let w = l.token("acme.identity");
    append(&d, "acme", w, &[b"kept"], None);
    let before = state(&l, "acme");
    let url = format!("{}/v1/acme/records", d.url);
    let raw = [("content-type", "application/octet-stream")];
    let framing = [("content-type", "application/vnd.service-fs.records")];
    let big = vec![b'x'; 1025];
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        ("empty raw", call("POST", &url, Some(w), &raw, b""), 400, "empty_record"),
        ("too large", call("POST", &url, Some(w), &raw, &big), 413, "record_too_large"),
        ("empty framing", call("POST", &url, Some(w), &framing, b""), 400, "no_records"),
        ("truncated", call("POST", &url, Some(w), &framing, b"\x00\x05abc"), 400, "bad_framing"),
        (
            "half a length",
            call("POST", &url, Some(w), &framing, b"\x00\x01a\x00"),
            400,
            "bad_framing",
        ),
        (
            "an empty one",
            call("POST", &url, Some(w), &framing, b"\x00\x01a\x00\x00"),
            400,
            "empty_record",
        ),
        (
            "one too large",
            call("POST", &url, Some(w), &framing, &framed(&[b"ok", &big])),
            413,
            "record_too_large",
        ),
        ("no type", call("POST", &url, Some(w), &[], b"x"), 415, "unsupported_media_type"),
        (
            "json",
            call("POST", &url, Some(w), &[("content-type", "application/json")], b"{}"),
            415,
            "unsupported_media_type",
        ),
        (
            "bad key",
            call("POST", &url, Some(w), &[raw[0], ("idempotency-key", "")], b"x"),
            400,
            "bad_idempotency_key",
        ),
    ];
    for (what, a, status, code) in cases {
        assert_eq!(a.status, status, "{what}: {}", String::from_utf8_lossy(&a.body));
        if !code.is_empty() {
            assert_eq!(a.code(), code, "{what}");
            assert!(!a.json()["message"].as_str().unwrap().is_empty());
        }
    }
    // A body over the limit (4 MiB) is refused from its Content-Length: 413,
    // or, when the daemon answers and closes before the client has sent it
    // all, a broken connection. Either way nothing was appended.
    match try_call("POST", &url, Some(w), &raw, &vec![1; 5 << 20]) {
        Ok(a) => assert_eq!((a.status, a.code().as_str()), (413, "body_too_large"), "{a:?}"),
        Err(e) => assert!(e.to_string().contains("pipe") || e.to_string().contains("reset"), "{e}"),
    }
    let r = l.token("acme.reports");
    let u = &d.url;
    for (url, code) in [
        (format!("{u}/v1/acme/records"), "bad_argument"),
        (format!("{u}/v1/acme/records?from=x"), "bad_argument"),
        (format!("{u}/v1/acme/records?from=0&tenant=globex"), "bad_argument"),
        (format!("{u}/v1/acme/records?from=0&max=0"), "bad_argument"),
        (format!("{u}/v1/acme/records?from=2"), "out_of_range"),
        (format!("{u}/v1/acme/records?from=18446744073709551615"), "out_of_range"),
        (format!("{u}/v1/acme/proofs/inclusion?index=1&tree_size=1"), "out_of_range"),
        (format!("{u}/v1/acme/proofs/inclusion?index=0&tree_size=99"), "out_of_range"),
        (format!("{u}/v1/acme/proofs/consistency?old_size=0"), "bad_argument"),
        (format!("{u}/acme/tile/entries/000.p/2"), "not_found"),
        (format!("{u}/acme/tile/0/x001"), "not_found"),
        (format!("{u}/acme/tile/../../signing.key"), "not_found"),
        (format!("{u}/acme/tile/0/000.p/0"), "not_found"),
        (format!("{u}/acme/signing.key"), "not_found"),
    ] {
        let a = get(&url, r);
        assert!([400, 404].contains(&a.status), "{url}: {a:?}");
        assert_eq!(a.code(), code, "{url}");
    }
    assert_eq!(state(&l, "acme"), before, "nothing changed, nothing was audited");
    assert_eq!(l.records("acme"), vec![b"kept".to_vec()]);
}

#[test]
fn a_retry_with_its_idempotency_key_never_appends_twice() {
    let l = Ledgers::new();
    let mut d = l.start(&[]);
    let w = l.token("acme.identity");
    let first = append(&d, "acme", w, &[b"a", b"b"], Some("order-1"));
    assert_eq!(
        (first.status, first.json()["first"].as_u64(), first.json()["last"].as_u64()),
        (201, Some(0), Some(1))
    );
    let again = append(&d, "acme", w, &[b"a", b"b"], Some("order-1"));
    assert_eq!(again.status, 200);
    assert_eq!(
        (again.json()["first"].as_u64(), again.json()["replayed"].as_bool()),
        (Some(0), Some(true))
    );
    let other = append(&d, "acme", w, &[b"changed"], Some("order-1"));
    assert_eq!((other.status, other.code().as_str()), (422, "idempotency_key_reused"));
    // Concurrent retries of one request: one append.
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (url, w) = (d.url.clone(), w.to_string());
            std::thread::spawn(move || {
                let d = Daemon { child: None, url };
                append(&d, "acme", &w, &[b"c"], Some("order-2")).json()["first"].as_u64().unwrap()
            })
        })
        .collect();
    let firsts: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(firsts.iter().all(|&f| f == 2), "{firsts:?}");
    // Remembered across a restart.
    assert!(d.terminate());
    let d = l.start(&[]);
    let after = append(&d, "acme", w, &[b"a", b"b"], Some("order-1"));
    assert_eq!((after.status, after.json()["first"].as_u64()), (200, Some(0)));
    assert_eq!(l.records("acme"), [&b"a"[..], b"b", b"c"].map(<[u8]>::to_vec));
}

#[test]
fn concurrent_appends_share_commits() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let (url, w) = (d.url.clone(), l.token("acme.identity").to_string());
            std::thread::spawn(move || {
                let d = Daemon { child: None, url };
                (0..20)
                    .map(|i| {
                        let rec = format!("t{t} r{i}");
                        let a = append(&d, "acme", &w, &[rec.as_bytes()], None);
                        assert_eq!(a.status, 201);
                        (a.json()["first"].as_u64().unwrap(), rec)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut got: Vec<(u64, String)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    got.sort();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), (0..640).collect::<Vec<_>>());
    let stored = l.records("acme");
    for (i, rec) in &got {
        assert_eq!(stored[*i as usize], rec.as_bytes());
    }
    let metrics =
        String::from_utf8(call("GET", &format!("{}/metrics", d.url), None, &[], b"").body).unwrap();
    let commits: f64 = metrics
        .lines()
        .find(|l| l.starts_with("service_fs_commits_total{log=\"records\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(commits < 640.0, "group commit: {commits} commits for 640 appends");
    assert!(metrics.contains("service_fs_batch_records_bucket"));
    let fsyncs = metrics
        .lines()
        .find(|l| l.starts_with("service_fs_store_fsync_seconds_count"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap();
    assert!(fsyncs >= commits, "the stores' fsyncs are observed: {fsyncs}");
    assert!(!metrics.contains("acme"), "metrics name no tenant");
}

#[test]
fn a_new_token_works_after_sighup_and_a_removed_one_stops() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let new = credentials::add_token(&l.credentials, "acme", "reports").unwrap();
    let url = format!("{}/v1/acme/status", d.url);
    assert_eq!(get(&url, &new).status, 401);
    d.hup();
    let ok = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        get(&url, &new).status == 200
    });
    assert!(ok, "the new token works after SIGHUP");
    assert_eq!(get(&url, &new).json()["role"], "ring2");
    let mut file = credentials::File::load(&l.credentials).unwrap();
    let hash = credentials::hex(&credentials::sha256(new.as_bytes()));
    file.token.retain(|e| e.sha256 != hash);
    file.store(&l.credentials).unwrap();
    d.hup();
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        get(&url, &new).status == 401
    });
    assert!(gone, "a removed token stops working after SIGHUP");
    assert_eq!(get(&url, l.token("acme.reports")).status, 200, "the others still work");
}

#[test]
fn healthz_and_sigterm() {
    let l = Ledgers::new();
    let mut d = l.start(&[]);
    let a = call("GET", &format!("{}/healthz", d.url), None, &[], b"");
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("ok")));
    assert!(d.terminate(), "exits 0 on SIGTERM");
}

#[test]
fn the_openapi_document_has_exactly_the_routes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    let doc: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let mut documented = std::collections::BTreeSet::new();
    for (p, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            documented.insert((m.clone(), p.clone()));
            // Every operation says what it answers, errors included.
            assert!(item[m]["responses"].is_object(), "{m} {p}");
        }
    }
    let served: std::collections::BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, served, "docs/openapi.yaml and the router differ");
    // Every error code the daemon answers with is in the document's enum.
    let codes: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes, service_fsd::error::CODES, "the documented error codes");
}

#[test]
fn sigterm_under_load_answers_what_is_in_flight_and_loses_nothing() {
    let l = Ledgers::new();
    let mut d = l.start(&[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (url, w, stop) =
                (d.url.clone(), l.token("acme.identity").to_string(), stop.clone());
            std::thread::spawn(move || {
                let d = Daemon { child: None, url };
                let (mut acked, mut refused) = (vec![], 0);
                for i in 0.. {
                    let rec = format!("t{t} r{i}");
                    match try_append(&d, "acme", &w, &[rec.as_bytes()], None) {
                        Ok(a) if a.status == 201 => {
                            acked.push((a.json()["first"].as_u64().unwrap(), rec))
                        }
                        Ok(a) => panic!("an answer other than 201 while draining: {a:?}"),
                        // The listener closed: nothing more is accepted.
                        Err(_) => refused += 1,
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) && refused > 0 {
                        break;
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(d.terminate(), "exits 0 after draining");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<(u64, String)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(!acked.is_empty());
    let stored = l.records("acme");
    for (i, rec) in &acked {
        assert_eq!(stored[*i as usize], rec.as_bytes(), "acknowledged before SIGTERM: kept");
    }
    // Nothing was committed that was not answered: no record beyond the acknowledged ones.
    assert_eq!(stored.len(), acked.len(), "every commit made while draining was answered");
}

#[test]
fn a_module_over_its_rate_gets_429_and_others_are_not_slowed() {
    let l = Ledgers::new();
    let cfg = l.tmp.path().join("service-fs.toml");
    let text = format!(
        "dir = {:?}\n[limits]\nrate_per_module = 1\nburst_per_module = 3\nmax_body = 2048\n",
        l.root
    );
    std::fs::write(&cfg, text).unwrap();
    let d = l.start(&["--config", cfg.to_str().unwrap()]);
    let url = format!("{}/v1/acme/status", d.url);
    let statuses: Vec<u16> = (0..6).map(|_| get(&url, l.token("acme.reports")).status).collect();
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let a = get(&url, l.token("acme.reports"));
    if a.status == 429 {
        assert_eq!(a.code(), "rate_limited");
    }
    // Another module has its own budget.
    assert_eq!(get(&url, l.token("acme.auditor")).status, 200);
    // The configured body limit holds.
    let w = l.token("acme.identity");
    let big = call(
        "POST",
        &format!("{}/v1/acme/records", d.url),
        Some(w),
        &[("content-type", "application/octet-stream")],
        &[7; 4096],
    );
    assert_eq!((big.status, big.code().as_str()), (413, "body_too_large"), "one JSON error");
}
