//! A tenant with witnesses: every checkpoint the daemon signs is cosigned
//! before it counts; a witness that is down stops writes and reads (what
//! was stored counts once it is back); and a directory put back from an
//! older copy is refused at startup.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::*;
use witness::Witness;

/// A witness on `port` (0: any), until the returned sender is dropped.
struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(state: &Path, port: u16) -> Running {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let w = Witness::open(state).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        fs_witness::serve_until(listener, w, "", async {
            let _ = rx.await;
        })
        .unwrap();
    });
    Running { url, stop: Some(tx), thread: Some(thread) }
}

fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn a_witnessed_tenant_counts_only_cosigned_checkpoints_and_refuses_a_rollback() {
    let l = Ledgers::new();
    let state = l.tmp.path().join("witness");
    let wkey = Witness::create(&state, "witness.test/w1").unwrap();
    let key = l.keys["acme"].clone();
    let audit = key.renamed(&format!("{}/audit", key.name())).unwrap();
    for k in [&key, &audit] {
        Witness::trust(&state, &k.to_string()).unwrap();
    }
    let w = serve(&state, 0);
    // `fsctl witness add`: the witness cosigns both checkpoints, then is saved.
    let root = tenant::Root::new(&l.root);
    let dir = root.tenant_dir("acme");
    let configured = witness::client::admit(&dir, &wkey.to_string(), &w.url).unwrap();
    let (mut t, _) = witness::client::open(&root, "acme").unwrap();
    witness::client::cosign(&mut t.engine, std::slice::from_ref(&configured)).unwrap();
    witness::client::add(&dir, &configured).unwrap();
    drop(t);
    let before = l.tmp.path().join("acme-before");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&dir)
            .arg(&before)
            .status()
            .unwrap()
            .success()
    );

    let mut d = l.start(&[]);
    let wt = l.token("acme.identity");
    let r = l.token("acme.reports");
    assert_eq!(append(&d, "acme", wt, &[b"one", b"two"], None).status, 201);
    let cp = get(&format!("{}/acme/checkpoint", d.url), r);
    let file = l.tmp.path().join("cp");
    std::fs::write(&file, &cp.body).unwrap();
    let opened = oracle::cosigned(&key.to_string(), &wkey.to_string(), &file).unwrap();
    assert_eq!(
        opened.size, 2,
        "the served checkpoint carries the witness's cosignature (checked by Go)"
    );

    // The witness goes away: appends are stored but refused, reads are not served.
    let url = w.url.clone();
    drop(w);
    let a = append(&d, "acme", wt, &[b"three"], Some("k3"));
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.json()["message"].as_str().unwrap().contains("records 2 to 2 are stored"), "{a:?}");
    assert_eq!(get(&format!("{}/v1/acme/records?from=0", d.url), r).status, 503);

    // Back (same address): the next request catches up, and the retry is answered.
    let w = serve(&state, port(&url));
    let again = append(&d, "acme", wt, &[b"three"], Some("k3"));
    assert_eq!((again.status, again.json()["first"].as_u64()), (200, Some(2)), "{again:?}");
    let cp = get(&format!("{}/acme/checkpoint", d.url), r);
    std::fs::write(&file, &cp.body).unwrap();
    assert_eq!(oracle::cosigned(&key.to_string(), &wkey.to_string(), &file).unwrap().size, 3);
    assert_eq!(get(&format!("{}/v1/acme/records?from=0", d.url), r).status, 200);
    assert!(d.terminate());

    // The directory put back from the copy made before: the witness has
    // cosigned a larger tree, so the daemon will not serve it.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&before)
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let out = l.command().output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled back or forked"), "{err}");
    drop(w);
}
