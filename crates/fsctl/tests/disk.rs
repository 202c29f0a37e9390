//! `fsctl disk ls|export|verify` on disk images written by the ledger
//! engine through psdb's disk format: the export is a ledger `fsctl
//! verify` and Go's tlog/note accept; damage and bad input are refused with
//! one line; the image is never written.

mod common;

use std::cell::RefCell;
use std::path::Path;
use std::process::{Command, Output};

use disk::file::FileDevice;
use disk::namespace::Namespace;
use disk::superblock::{self, Spec};
use disk::{BlockDevice, Store};
use ledger::{Buffers, Engine, Ledger, NoClock};
use note::Signer;
use zerocopy::IntoBytes;

use common::FSCTL;

const SPECS: [Spec; 4] = [
    Spec { name: "acme/log", size: 1 << 20 },
    Spec { name: "acme/audit", size: 256 << 10 },
    Spec { name: "globex/log", size: 512 << 10 },
    Spec { name: "globex/audit", size: 256 << 10 },
];

fn signer(tenant: &str) -> Signer {
    Signer::from_seed(&format!("service-fs/{tenant}"), [tenant.len() as u8; 32]).unwrap()
}

/// Writes an image with `records` records in acme and 3 in globex, each
/// batch followed by an audited read.
fn image(path: &Path, records: u64) {
    let size = superblock::disk_bytes(&SPECS).unwrap();
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
    let mut dev = FileDevice::open(path).unwrap();
    let sb = superblock::open(&mut dev, &SPECS, &mut [0u8; 8192]).unwrap();
    let extents: Vec<(u64, u64)> =
        superblock::table(&SPECS).unwrap().map(|e| (e.start.get(), e.size.get())).collect();
    let dev = RefCell::new(dev);
    for (t, (tenant, n)) in [("acme", records), ("globex", 3)].into_iter().enumerate() {
        let (mut m0, mut m1) = (vec![0u64; 1 << 16], vec![0u64; 1 << 16]);
        let (i, j) = (2 * t, 2 * t + 1);
        let bs = sb.block_size;
        let mut log =
            Namespace::open(&mut *dev.borrow_mut(), i as u32, extents[i], bs, m0.as_mut_bytes())
                .unwrap()
                .0;
        let mut audit =
            Namespace::open(&mut *dev.borrow_mut(), j as u32, extents[j], bs, m1.as_mut_bytes())
                .unwrap()
                .0;
        let stores = (Store { ns: &mut log, dev: &dev }, Store { ns: &mut audit, dev: &dev });
        let (mut e, _) = Engine::open(
            stores.0,
            stores.1,
            signer(tenant),
            NoClock,
            Buffers::<Vec<u8>>::default(),
            1024,
        )
        .unwrap();
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let recs: Vec<Vec<u8>> =
                chunk.iter().map(|i| format!("{tenant} record {i}").into_bytes()).collect();
            e.append_batch(recs.iter().map(Vec::as_slice)).unwrap();
            let reader = ledger::Caller { module: "m", credential: "c", request: None };
            e.read_since(&reader, 0, ledger::Limit::entries(1), &mut |_, _| {}).unwrap();
        }
    }
    dev.borrow_mut().flush().unwrap();
}

fn run(args: &[&str]) -> Output {
    Command::new(FSCTL).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "fsctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "fsctl {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line of error: {err:?}");
    err.trim_end().to_string()
}

fn key(tenant: &str) -> String {
    format!("{tenant}={}", signer(tenant).verifier())
}

#[test]
fn an_image_lists_exports_and_verifies_with_our_tools_and_go() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 700);
    let before = std::fs::read(&img).unwrap();
    let ls = ok(&["disk", "ls", img.to_str().unwrap()]);
    assert!(ls.contains("service-fs disk, format 1, 512-byte blocks, 4 namespaces"), "{ls}");
    let acme = ls.lines().find(|l| l.starts_with("acme/log ")).unwrap();
    assert!(acme.contains("checkpoint size 700"), "{ls}");
    assert!(
        ls.lines().any(|l| l.starts_with("globex/audit ") && l.contains("checkpoint size 1")),
        "{ls}"
    );
    let out = tmp.path().join("export");
    ok(&["disk", "export", img.to_str().unwrap(), out.to_str().unwrap()]);
    for tenant in ["acme", "globex"] {
        let v = ok(&[
            "--dir",
            out.to_str().unwrap(),
            "verify",
            tenant,
            "--key",
            &signer(tenant).verifier().to_string(),
        ]);
        assert_eq!(v.lines().count(), 2, "{v}");
        let audit =
            signer(tenant).verifier().renamed(&format!("service-fs/{tenant}/audit")).unwrap();
        let empty = tmp.path().join("none.jsonl");
        std::fs::write(&empty, "").unwrap();
        for (which, k) in [("log", signer(tenant).verifier()), ("audit", audit)] {
            let go = oracle::check(&out.join(tenant).join(which), &k.to_string(), &empty).unwrap();
            assert_eq!(
                go.size,
                if which == "log" { if tenant == "acme" { 700 } else { 3 } } else { go.size }
            );
        }
    }
    let v = ok(&[
        "disk",
        "verify",
        img.to_str().unwrap(),
        "--key",
        &key("acme"),
        "--key",
        &key("globex"),
    ]);
    assert_eq!(v.lines().count(), 4, "{v}");
    assert!(v.contains("ok acme/log service-fs/acme size 700"), "{v}");
    // Read-only, and a second export into the same place is refused.
    let err = fails(&["disk", "export", img.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(err.contains("already exists"), "{err}");
    assert!(std::fs::read(&img).unwrap() == before, "the image changed");
}

#[test]
fn a_read_only_image_is_enough() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 10);
    let mut perms = std::fs::metadata(&img).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(&img, perms).unwrap();
    ok(&["disk", "verify", img.to_str().unwrap(), "--key", &key("acme")]);
    ok(&["disk", "ls", img.to_str().unwrap()]);
}

#[test]
fn damage_wrong_keys_and_bad_input_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 300);
    let good = std::fs::read(&img).unwrap();
    let p = img.to_str().unwrap();
    // A flipped bit in acme's log.
    let mut bad = good.clone();
    bad[64 * 1024 + 8192 + 200] ^= 1;
    std::fs::write(&img, &bad).unwrap();
    let err = fails(&["disk", "verify", p, "--key", &key("acme")]);
    assert!(
        err.contains("acme/log")
            && err.contains("failed their checksum")
            && err.contains("0x12000"),
        "{err}"
    );
    let ls = ok(&["disk", "ls", p]);
    assert!(ls.contains("DAMAGED"), "{ls}");
    let err = fails(&["disk", "export", p, tmp.path().join("x").to_str().unwrap()]);
    assert!(err.contains("acme/log"), "{err}");
    assert!(!tmp.path().join("x/acme").exists(), "nothing half-exported");
    std::fs::write(&img, &good).unwrap();
    // The wrong key, an unknown tenant, a malformed key.
    let err =
        fails(&["disk", "verify", p, "--key", &format!("acme={}", signer("globex").verifier())]);
    assert!(err.contains("verification failed: acme/log"), "{err}");
    let err =
        fails(&["disk", "verify", p, "--key", &format!("initech={}", signer("acme").verifier())]);
    assert!(err.contains("no tenant \"initech\""), "{err}");
    assert!(fails(&["disk", "verify", p, "--key", "acme"]).contains("TENANT=VERIFIER_KEY"));
    assert!(fails(&["disk", "verify", p, "--key", "acme=nonsense"]).contains("--key acme"));
    // Not an image, missing, or another version.
    let junk = tmp.path().join("junk.img");
    std::fs::write(&junk, vec![7u8; 1 << 16]).unwrap();
    assert!(fails(&["disk", "ls", junk.to_str().unwrap()]).contains("not a service-fs disk"));
    assert!(
        fails(&["disk", "ls", tmp.path().join("none").to_str().unwrap()]).contains("No such file")
    );
    assert!(fails(&["disk", "ls", tmp.path().to_str().unwrap()]).contains("not a regular file"));
    let mut v2 = good.clone();
    disk::model::edit_superblock(&mut v2, |sb| sb[8] = 2);
    std::fs::write(&junk, &v2).unwrap();
    assert!(fails(&["disk", "ls", junk.to_str().unwrap()]).contains("format version 2"));
}

#[test]
fn a_namespace_table_naming_paths_outside_the_export_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 5);
    // Rename globex's namespaces to "../up/log" in both superblock copies.
    let mut bytes = std::fs::read(&img).unwrap();
    disk::model::edit_superblock(&mut bytes, |sb| {
        for (i, name) in [(2usize, "../up/log"), (3, "../up/audit")] {
            let at = 64 + 64 * i;
            sb[at..at + 40].fill(0);
            sb[at..at + name.len()].copy_from_slice(name.as_bytes());
        }
    });
    std::fs::write(&img, &bytes).unwrap();
    let out = tmp.path().join("export");
    let err = fails(&["disk", "export", img.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(err.contains("not <tenant>/log"), "{err}");
    assert!(!tmp.path().join("up").exists());
}

#[test]
fn a_table_claiming_extents_beyond_the_image_is_reported_not_believed() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 5);
    // globex/log claims 2^60 bytes in both superblock copies.
    let mut bytes = std::fs::read(&img).unwrap();
    disk::model::edit_superblock(&mut bytes, |sb| {
        sb[64 + 64 * 2 + 48..64 + 64 * 2 + 56].copy_from_slice(&(1u64 << 60).to_le_bytes())
    });
    std::fs::write(&img, &bytes).unwrap();
    let ls = ok(&["disk", "ls", img.to_str().unwrap()]);
    let line = ls.lines().find(|l| l.starts_with("globex/log ")).unwrap();
    assert!(line.contains("extent ends beyond the device"), "{ls}");
    let err = fails(&["disk", "verify", img.to_str().unwrap(), "--key", &key("globex")]);
    assert!(err.contains("globex/log") && err.contains("beyond the device"), "{err}");
    ok(&["disk", "verify", img.to_str().unwrap(), "--key", &key("acme")]);
}

/// A binary built beside fsctl (`cargo test --workspace` builds it; alone,
/// build it).
fn beside(name: &str) -> std::path::PathBuf {
    let bin = Path::new(FSCTL).with_file_name(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "--locked", "-p", name]).status().unwrap();
        assert!(ok.success(), "building {name}");
    }
    bin
}

#[test]
fn an_exported_image_is_anchored_with_its_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    image(&img, 300);
    let out = tmp.path().join("export");
    ok(&["disk", "export", img.to_str().unwrap(), out.to_str().unwrap()]);
    // The seeds `make image` provisions: build/keys/<tenant>.seed, 32 bytes.
    let seeds = tmp.path().join("keys");
    std::fs::create_dir(&seeds).unwrap();
    for t in ["acme", "globex"] {
        std::fs::write(seeds.join(format!("{t}.seed")), [t.len() as u8; 32]).unwrap();
    }
    let rekor = fake_rekor::Server::start(fake_rekor::Options::default()).unwrap();
    let emit = |seeds: &Path| {
        Command::new(beside("fs-anchor-emitter"))
            .arg("--dir")
            .arg(&out)
            .arg("--seeds")
            .arg(seeds)
            .args([
                "--rekor-url",
                rekor.url(),
                "--rekor-key",
                &rekor.log_key(),
                "--month",
                "2026-12",
            ])
            .output()
            .unwrap()
    };
    // A wrong seed: the checkpoint does not verify under it; nothing anchored.
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    for t in ["acme", "globex"] {
        std::fs::write(wrong.join(format!("{t}.seed")), [9u8; 32]).unwrap();
    }
    let r = emit(&wrong);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not signed by the tenant's key"));
    assert_eq!(rekor.posts(), 0);
    assert!(!out.join("acme/anchors").exists(), "an anchor ledger under the wrong key");
    let r = emit(&seeds);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(stdout.contains("acme: anchored 2026-12 at size 300"), "{stdout}");
    assert!(stdout.contains("globex: anchored 2026-12 at size 3"), "{stdout}");
    let v = ok(&[
        "--dir",
        out.to_str().unwrap(),
        "anchors",
        "verify",
        "acme",
        "--key",
        &signer("acme").verifier().to_string(),
        "--rekor-key",
        &rekor.log_key(),
    ]);
    assert!(v.contains("1 anchor receipt (2026-12) verified"), "{v}");
}
