//! `kill -9` under load, over and over (SERVICE_FSD_KILLS times, default
//! 200): after every restart the ledger verifies, every acknowledged append
//! is there with its index, and retrying what was in flight with its
//! Idempotency-Key never appends a record twice.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 8;

/// What a client saw: acknowledged (index, record), and what was in flight when the daemon died.
struct Seen {
    acked: Vec<(u64, Vec<Vec<u8>>)>,
    in_flight: Option<Vec<Vec<u8>>>,
}

fn client(url: String, token: String, kill: usize, t: usize, stop: Arc<AtomicBool>) -> Seen {
    let d = Daemon { child: None, url };
    let mut seen = Seen { acked: vec![], in_flight: None };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        // Batches of 1 to 3 records; the key names the batch.
        let n = 1 + (i % 3);
        let recs: Vec<Vec<u8>> =
            (0..n).map(|j| format!("k{kill} t{t} b{i} r{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        let key = format!("k{kill}-t{t}-b{i}");
        let answer = try_append(&d, "acme", &token, &refs, Some(&key));
        match answer {
            Ok(a) if a.status == 201 => {
                seen.acked.push((a.json()["first"].as_u64().unwrap(), recs));
            }
            // The connection died with the daemon: this one is in flight.
            _ => {
                seen.in_flight = Some(recs);
                break;
            }
        }
        i += 1;
    }
    seen
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged_and_retries_never_duplicate() {
    let kills: usize =
        std::env::var("SERVICE_FSD_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let l = Ledgers::new();
    let token = l.token("acme.identity").to_string();
    let mut acked: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut rng = 0x9e3779b97f4a7c15u64 ^ u64::from(std::process::id());
    let start = Instant::now();
    for kill in 0..kills {
        let mut d = l.start(&[]);
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let (url, token, stop) = (d.url.clone(), token.clone(), stop.clone());
                std::thread::spawn(move || client(url, token, kill, t, stop))
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(5 + rng % 60));
        d.kill();
        stop.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // Restart: recovery runs; every acknowledged record is where it was said to be.
        let d = l.start(&[]);
        let stored = l.records("acme");
        for s in &seen {
            for (first, recs) in &s.acked {
                for (j, r) in recs.iter().enumerate() {
                    let i = first + j as u64;
                    assert_eq!(
                        stored.get(i as usize),
                        Some(r),
                        "kill {kill}: acknowledged record {i} lost"
                    );
                    acked.insert(i, r.clone());
                }
            }
        }
        // Retry what was in flight, with its key: at most once in the ledger.
        let mut retried = vec![];
        for (t, s) in seen.iter().enumerate() {
            let Some(recs) = &s.in_flight else { continue };
            let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            let key = format!("k{kill}-t{t}-b{}", s.acked.len());
            let a = append(&d, "acme", &token, &refs, Some(&key));
            assert!([200, 201].contains(&a.status), "kill {kill}: retry {a:?}");
            retried.push((a.json()["first"].as_u64().unwrap() as usize, recs));
        }
        drop(d);
        if !retried.is_empty() {
            let stored = l.records("acme");
            for (first, recs) in retried {
                let got = &stored[first..first + recs.len()];
                assert_eq!(got, &recs[..], "kill {kill}: the retry's indexes");
            }
        }
    }
    let stored = l.records("acme");
    let mut distinct = std::collections::HashSet::new();
    for r in &stored {
        assert!(
            distinct.insert(r),
            "record {:?} is in the ledger twice",
            String::from_utf8_lossy(r)
        );
    }
    for (i, r) in &acked {
        assert_eq!(&stored[*i as usize], r);
    }
    eprintln!(
        "{kills} kills in {:.1} s: {} records, {} acknowledged before a kill",
        start.elapsed().as_secs_f64(),
        stored.len(),
        acked.len()
    );
    assert!(acked.len() > kills, "the load really ran");
}
