//! Anchoring against a Rekor-compatible log on loopback (`fake-rekor`: a
//! real Merkle log with real signatures), through the same client code a
//! user runs against Rekor itself.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anchor::tiles::DirTiles;
use anchor::{AnchorLedger, Job, Month, Outcome, RekorKey, RekorLog};
use fake_rekor::{Fault, Options, Server};
use ledger::Ledger;
use note::Signer;
use tenant::Root;

struct World {
    _tmp: tempfile::TempDir,
    root: Root,
    signer: Signer,
    rekor: Server,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path().join("ledgers"));
    root.init("acme", None).unwrap();
    let signer = root.signer("acme").unwrap();
    let rekor = Server::start(Options::default()).unwrap();
    World { _tmp: tmp, root, signer, rekor }
}

fn fast() -> rekor::Policy {
    rekor::Policy {
        timeout: Duration::from_secs(2),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

impl World {
    fn append(&self, n: usize, tag: &str) {
        let mut t = self.root.open("acme").unwrap();
        for i in 0..n {
            t.engine.append(format!("{tag} {i}").as_bytes()).unwrap();
        }
    }

    fn anchor_from(&self, month: &str, source: &Path) -> anyhow::Result<Outcome> {
        self.anchor_to(month, source, &self.rekor)
    }

    fn anchor_to(&self, month: &str, source: &Path, rekor: &Server) -> anyhow::Result<Outcome> {
        let src = DirTiles(source.to_path_buf());
        let job = Job {
            signer: &self.signer,
            anchors: &self.root.anchors_dir("acme"),
            source: &src,
            witnesses: &[],
            month: month.parse::<Month>().unwrap(),
            wait: Duration::from_secs(5),
            now: 1_800_000_000,
            tsa: None,
        };
        let key = RekorKey::parse(&rekor.log_key()).unwrap();
        anchor::anchor(&job, &RekorLog::new(rekor.url(), key, fast()))
    }

    fn anchor(&self, month: &str) -> anyhow::Result<Outcome> {
        self.anchor_from(month, &self.root.log_dir("acme"))
    }

    fn receipts(&self) -> u64 {
        AnchorLedger::open(&self.root.anchors_dir("acme"), &self.signer, Duration::from_secs(5))
            .unwrap()
            .size()
    }

    fn verify(&self) -> anyhow::Result<anchor::chain::Report> {
        let key = RekorKey::parse(&self.rekor.log_key()).unwrap();
        anchor::chain::verify(
            &self.root.anchors_dir("acme"),
            &self.signer.verifier(),
            &[key],
            &[],
            None,
            &DirTiles(self.root.log_dir("acme")),
        )
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn anchors_month_by_month_and_the_chain_verifies() {
    let w = world();
    w.append(3, "a");
    let Outcome::Anchored(0, first) = w.anchor("2026-10").unwrap() else { panic!("not anchored") };
    assert_eq!((first.size, first.previous.clone(), first.rekor.log_index), (3, None, 0));
    assert!(!first.rekor.recovered);
    // The same month again: nothing is sent, nothing appended.
    let posts = w.rekor.posts();
    assert!(matches!(w.anchor("2026-10").unwrap(), Outcome::Already(0, _)));
    assert_eq!(w.rekor.posts(), posts);
    w.append(300, "b");
    let Outcome::Anchored(1, second) = w.anchor("2026-11").unwrap() else { panic!() };
    let prev = second.previous.clone().unwrap();
    assert_eq!((prev.size, second.size), (3, 303));
    assert!(!prev.consistency.is_empty());
    // A month before the last one anchored is refused.
    let err = w.anchor("2026-09").unwrap_err().to_string();
    assert!(err.contains("before 2026-11"), "{err}");
    w.append(2, "c");
    let r = w.verify().unwrap();
    assert_eq!((r.receipts, r.anchored_size, r.current_size), (2, 303, 305));
    assert_eq!((r.first.as_deref(), r.last.as_deref()), (Some("2026-10"), Some("2026-11")));
    // An unchanged ledger next month is anchored again (the same entry).
    w.append(0, "");
    assert!(matches!(w.anchor("2026-12").unwrap(), Outcome::Anchored(2, _)));
    assert!(matches!(w.anchor("2027-01").unwrap(), Outcome::Anchored(3, _)));
    assert_eq!(w.verify().unwrap().receipts, 4);
}

#[test]
fn a_failing_rekor_changes_nothing() {
    let w = world();
    w.append(1, "a");
    for fault in [
        Fault::Pushback,
        Fault::Frozen,
        Fault::Garbage,
        Fault::CorruptProof,
        Fault::WrongRoot,
        Fault::OtherKey,
        Fault::OtherOrigin,
        Fault::OtherBody,
    ] {
        // A log of its own for each: some faults log the entry and only
        // garble the answer, and a retry would then find it (409).
        let rekor = Server::start(Options::default()).unwrap();
        rekor.set_fault(fault);
        let err = w.anchor_to("2026-10", &w.root.log_dir("acme"), &rekor).unwrap_err();
        assert_eq!(w.receipts(), 0, "{fault:?}: {err:#}");
        // The same log, healed: an entry it logged under the fault is
        // found and proved again (409 + tiles).
        rekor.clear_fault();
        let done = w.anchor_to("2026-10", &w.root.log_dir("acme"), &rekor);
        assert!(matches!(done, Ok(Outcome::Anchored(0, _))), "{fault:?}: {done:?}");
        // Only the entry logged under OtherBody was someone else's.
        assert_eq!(rekor.size(), if fault == Fault::OtherBody { 2 } else { 1 }, "{fault:?}");
        fs::remove_dir_all(w.root.anchors_dir("acme")).unwrap();
    }
    assert!(matches!(w.anchor("2026-10").unwrap(), Outcome::Anchored(0, _)));
    w.verify().unwrap();
}

#[test]
fn retries_pushback_and_recovers_a_lost_answer() {
    let w = world();
    w.append(1, "a");
    w.rekor.set_fault_times(Fault::Pushback, 2);
    assert!(matches!(w.anchor("2026-10").unwrap(), Outcome::Anchored(0, _)));
    w.append(1, "b");
    // Rekor logs the entry but the answer is lost: the retry is told the
    // entry exists (409) and rebuilds its proof from Rekor's tiles.
    w.rekor.set_fault_times(Fault::DropConnection, 1);
    let Outcome::Anchored(1, r) = w.anchor("2026-11").unwrap() else { panic!() };
    assert!(r.rekor.recovered);
    w.verify().unwrap();
}

#[test]
fn rollback_and_fork_are_refused() {
    let w = world();
    w.append(3, "a");
    let old = w._tmp.path().join("old-log");
    copy_dir(&w.root.log_dir("acme"), &old);
    w.append(2, "b");
    w.anchor("2026-10").unwrap();
    // The source rolled back to size 3.
    let err = format!("{:#}", w.anchor_from("2026-11", &old).unwrap_err());
    assert!(err.contains("rolled back"), "{err}");
    // A fork: the old copy grown with other records, signed by the same key.
    let fork = Root::new(w._tmp.path().join("fork"));
    copy_dir(&w.root.tenant_dir("acme"), &fork.tenant_dir("acme"));
    fs::remove_dir_all(fork.log_dir("acme")).unwrap();
    copy_dir(&old, &fork.log_dir("acme"));
    {
        let mut t = fork.open("acme").unwrap();
        for i in 0..4 {
            t.engine.append(format!("forged {i}").as_bytes()).unwrap();
        }
    }
    let err = format!("{:#}", w.anchor_from("2026-11", &fork.log_dir("acme")).unwrap_err());
    assert!(err.contains("not an extension"), "{err}");
    assert_eq!(w.receipts(), 1);
    // The auditor's check catches the current ledger replaced by the fork.
    fs::remove_dir_all(w.root.log_dir("acme")).unwrap();
    copy_dir(&fork.log_dir("acme"), &w.root.log_dir("acme"));
    let err = format!("{:#}", w.verify().unwrap_err());
    assert!(err.contains("not an extension"), "{err}");
}

#[test]
fn verification_catches_changed_receipts_and_other_keys() {
    let w = world();
    w.append(3, "a");
    w.anchor("2026-10").unwrap();
    w.verify().unwrap();
    // Another log's key (same origin, another key) does not verify the entry.
    let other = Server::start(Options { seed: Some([7; 32]), ..Options::default() }).unwrap();
    let key = RekorKey::parse(&other.log_key()).unwrap();
    let v = anchor::chain::verify(
        &w.root.anchors_dir("acme"),
        &w.signer.verifier(),
        &[key],
        &[],
        None,
        &DirTiles(w.root.log_dir("acme")),
    );
    assert!(v.is_err());
    // A receipt changed on disk.
    let bundle = w.root.anchors_dir("acme").join("log/tile/entries/000.p/1");
    let mut bytes = fs::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    fs::write(&bundle, bytes).unwrap();
    assert!(w.verify().is_err());
}

#[test]
fn a_wiped_anchor_ledger_is_not_started_again() {
    let w = world();
    w.append(1, "a");
    w.anchor("2026-10").unwrap();
    fs::remove_file(w.root.anchors_dir("acme").join("log/checkpoint")).unwrap();
    let err = format!("{:#}", w.anchor("2026-11").unwrap_err());
    assert!(err.contains("wiped"), "{err}");
}

#[test]
fn one_emitter_at_a_time() {
    let w = world();
    w.append(1, "a");
    w.anchor("2026-10").unwrap();
    let held = AnchorLedger::open(&w.root.anchors_dir("acme"), &w.signer, Duration::ZERO).unwrap();
    let err = AnchorLedger::open(&w.root.anchors_dir("acme"), &w.signer, Duration::ZERO)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("in use by pid"), "{err}");
    drop(held);
}

#[test]
fn a_symlinked_anchor_ledger_is_refused() {
    let w = world();
    w.append(1, "a");
    let elsewhere = w._tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, w.root.anchors_dir("acme")).unwrap();
    let err = format!("{:#}", w.anchor("2026-10").unwrap_err());
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn rekor_v1_anchors_carry_its_signed_time() {
    use fake_rekor::v1::{V1Fault, V1Log, V1Server};
    let w = world();
    let log = V1Log::new([5; 32]);
    let server = V1Server::start(log.clone()).unwrap();
    let pem = log.public_key_pem();
    let key = RekorKey::parse(&pem).unwrap();
    let src = DirTiles(w.root.log_dir("acme"));
    let anchor = |month: &str| {
        let job = Job {
            signer: &w.signer,
            anchors: &w.root.anchors_dir("acme"),
            source: &src,
            witnesses: &[],
            month: month.parse().unwrap(),
            wait: Duration::from_secs(5),
            now: 1_800_000_000,
            tsa: None,
        };
        anchor::anchor(&job, &RekorLog::new(&server.url(), key.clone(), fast()))
    };
    w.append(2, "a");
    let Outcome::Anchored(0, r) = anchor("2026-10").unwrap() else { panic!() };
    assert_eq!(r.rekor.api, anchor::receipt::Api::V1);
    let t = r.time.rekor_integrated_time.unwrap();
    assert!(t > 1_700_000_000, "{t}");
    // A corrupt signed entry timestamp is caught; nothing is kept.
    w.append(1, "b");
    log.set_fault(V1Fault::CorruptSet);
    assert!(anchor("2026-11").is_err());
    assert_eq!(w.receipts(), 1);
    log.set_fault(V1Fault::None);
    // That entry stays logged with its bad timestamp, and is refused again.
    assert!(anchor("2026-11").is_err());
    w.append(1, "c");
    assert!(matches!(anchor("2026-11").unwrap(), Outcome::Anchored(1, _)));
    // The chain verifies with the v1 key; with a v2 key it names the log it lacks.
    let verify = |keys: &[RekorKey]| {
        anchor::chain::verify(
            &w.root.anchors_dir("acme"),
            &w.signer.verifier(),
            keys,
            &[],
            None,
            &DirTiles(w.root.log_dir("acme")),
        )
    };
    assert_eq!(verify(std::slice::from_ref(&key)).unwrap().receipts, 2);
    let v2 = RekorKey::parse(&w.rekor.log_key()).unwrap();
    let err = format!("{:#}", verify(&[v2]).unwrap_err());
    assert!(err.contains("no --rekor-key given is that log's"), "{err}");
}

#[test]
fn verification_follows_no_symbolic_link() {
    let w = world();
    w.append(1, "a");
    w.anchor("2026-10").unwrap();
    let moved = w._tmp.path().join("moved");
    fs::rename(w.root.anchors_dir("acme"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, w.root.anchors_dir("acme")).unwrap();
    let err = format!("{:#}", w.verify().unwrap_err());
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn rfc3161_timestamps_are_kept_and_checked() {
    use fake_rekor::tsa::{TsaFault, TsaServer};
    let w = world();
    let tsa_server = TsaServer::start().unwrap();
    let authority = rekor::tsa::Authority::from_pem_chain(&tsa_server.root_pem()).unwrap();
    let tsa = anchor::Tsa { url: tsa_server.url(), authority: authority.clone(), policy: fast() };
    let src = DirTiles(w.root.log_dir("acme"));
    let anchor = |month: &str| {
        let job = Job {
            signer: &w.signer,
            anchors: &w.root.anchors_dir("acme"),
            source: &src,
            witnesses: &[],
            month: month.parse().unwrap(),
            wait: Duration::from_secs(5),
            now: 1_800_000_000,
            tsa: Some(&tsa),
        };
        let key = RekorKey::parse(&w.rekor.log_key()).unwrap();
        anchor::anchor(&job, &RekorLog::new(w.rekor.url(), key, fast()))
    };
    w.append(2, "a");
    let Outcome::Anchored(0, r) = anchor("2026-10").unwrap() else { panic!() };
    let t = r.time.rfc3161.clone().unwrap();
    assert!(t.time > 1_700_000_000 && t.url == tsa_server.url(), "{t:?}");
    // A token under another root, or over another message: nothing kept.
    w.append(1, "b");
    for fault in [TsaFault::OtherRoot, TsaFault::OtherImprint, TsaFault::Unavailable] {
        tsa_server.set_fault(fault, usize::MAX);
        let err = format!("{:#}", anchor("2026-11").unwrap_err());
        assert_eq!(w.receipts(), 1, "{fault:?}: {err}");
        tsa_server.clear_fault();
    }
    anchor("2026-11").unwrap();
    let verify = |tsa: Option<&rekor::tsa::Authority>| {
        let key = RekorKey::parse(&w.rekor.log_key()).unwrap();
        anchor::chain::verify(
            &w.root.anchors_dir("acme"),
            &w.signer.verifier(),
            &[key],
            &[],
            tsa,
            &DirTiles(w.root.log_dir("acme")),
        )
    };
    assert_eq!(verify(Some(&authority)).unwrap().timestamps, 2);
    // Another authority's root does not verify them.
    let other = TsaServer::start().unwrap();
    let other = rekor::tsa::Authority::from_pem_chain(&other.root_pem()).unwrap();
    let err = format!("{:#}", verify(Some(&other)).unwrap_err());
    assert!(err.contains("RFC 3161"), "{err}");
    // Receipts made without an authority fail a check that requires one.
    let plain = world();
    plain.append(1, "a");
    plain.anchor("2026-10").unwrap();
    let key = RekorKey::parse(&plain.rekor.log_key()).unwrap();
    let err = anchor::chain::verify(
        &plain.root.anchors_dir("acme"),
        &plain.signer.verifier(),
        &[key],
        &[],
        Some(&authority),
        &DirTiles(plain.root.log_dir("acme")),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("no RFC 3161 timestamp"), "{err:#}");
}

#[test]
fn the_rekor_signature_never_passes_for_a_checkpoint_signature() {
    use base64ct::{Base64, Encoding};
    let w = world();
    w.append(1, "a");
    let Outcome::Anchored(0, r) = w.anchor("2026-10").unwrap() else { panic!() };
    let req: serde_json::Value = serde_json::from_str(&r.rekor.request).unwrap();
    let sig = req["hashedRekordRequestV002"]["signature"]["content"].as_str().unwrap();
    let sig = Base64::decode_vec(sig).unwrap();
    // The tenant's key, as Rekor names it…
    let spki = req["hashedRekordRequestV002"]["signature"]["verifier"]["publicKey"]["rawBytes"]
        .as_str()
        .unwrap();
    assert_eq!(Base64::decode_vec(spki).unwrap()[12..], w.signer.verifier().public_key()[..]);
    // …but its Ed25519ph signature verifies as no pure Ed25519 one, over the
    // checkpoint or its text.
    let v = w.signer.verifier();
    let text = &r.checkpoint[..r.checkpoint.find("\n\n").unwrap() + 1];
    assert!(!v.verify(r.checkpoint.as_bytes(), &sig) && !v.verify(text.as_bytes(), &sig));
    assert!(rekor::verify_ph(w.signer.verifier().public_key(), r.checkpoint.as_bytes(), &sig));
}

#[test]
fn go_verifies_the_rekor_signatures_as_rekor_does() {
    use fake_rekor::v1::{V1Log, V1Server};
    let w = world();
    w.append(1, "a");
    let Outcome::Anchored(0, v2) = w.anchor("2026-10").unwrap() else { panic!() };
    let artifact = w._tmp.path().join("checkpoint");
    fs::write(&artifact, &v2.checkpoint).unwrap();
    let req: serde_json::Value = serde_json::from_str(&v2.rekor.request).unwrap();
    let sig = &req["hashedRekordRequestV002"]["signature"];
    let (spki, content) = (
        sig["verifier"]["publicKey"]["rawBytes"].as_str().unwrap(),
        sig["content"].as_str().unwrap(),
    );
    oracle::ed25519ph(spki, content, &artifact).unwrap();
    // Another artifact, or a flipped bit, does not verify in Go either.
    let other = w._tmp.path().join("other");
    fs::write(&other, b"another checkpoint").unwrap();
    assert!(oracle::ed25519ph(spki, content, &other).is_err());
    let mut flipped = content.as_bytes().to_vec();
    flipped[3] ^= 1;
    assert!(oracle::ed25519ph(spki, std::str::from_utf8(&flipped).unwrap(), &artifact).is_err());
    // Rekor v1's request carries the same signature, its key in PEM.
    let log = V1Log::new([5; 32]);
    let server = V1Server::start(log.clone()).unwrap();
    let key = RekorKey::parse(&log.public_key_pem()).unwrap();
    let (entry, _) = RekorLog::new(&server.url(), key, fast())
        .submit(v2.checkpoint.as_bytes(), &w.signer)
        .unwrap();
    let req: serde_json::Value = serde_json::from_str(&entry.request).unwrap();
    assert_eq!(req["spec"]["signature"]["content"].as_str().unwrap(), content);
}
