//! Writes the seed corpora, `fuzz/corpus/<target>/`, with the project's
//! own code and files: `cargo +nightly-2026-04-04 run --example seeds` in
//! `fuzz/` (docs/fuzzing.md). The seeds are committed; rerun it when a
//! format changes.

#[path = "../fuzz_targets/common.rs"]
mod common;

use std::fs;
use std::path::Path;

use abi::psdb::{ENTRIES, encode_tile, label};
use abi::records::Writer;
use tlog::{Tile, bundle};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn signed(text: &str, signers: &[&note::Signer]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = note::sign(text, signers, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// One psdb_request operation in the target's encoding.
fn op(out: &mut Vec<u8>, ns: u8, lab: u64, kind: u8, regs: [u16; 4], payload: &[u8]) {
    // index, width, a, b, then the payload's length.
    out.extend_from_slice(&[ns, lab as u8, kind]);
    for v in regs.into_iter().chain([payload.len() as u16]) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(payload);
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (objects, cp_note) = common::ledger(5);
    let cp_text = {
        let s = std::str::from_utf8(&cp_note).unwrap();
        s[..s.rfind("\n\n").unwrap() + 1].to_string()
    };
    let [a, b] = common::note_keys();
    let stranger = note::Signer::from_seed("someone.else", [9; 32]).unwrap();

    // Signed notes: by each known key, both, an unknown one; a checkpoint.
    write("note_open", "by-a", &signed(&cp_text, &[&a]));
    write("note_open", "by-both", &signed("hello\nworld\n", &[&a, &b]));
    write("note_open", "by-b-and-stranger", &signed("a\n\nb\n", &[&stranger, &b]));
    write("note_open", "unknown-only", &signed(&cp_text, &[&stranger]));
    write("note_open", "text", b"If you think cryptography is the answer\n");

    // Checkpoint bodies.
    write("checkpoint", "ledger", cp_text.as_bytes());
    write("checkpoint", "extensions", format!("{cp_text}ext one\next two\n").as_bytes());
    write("checkpoint", "empty-tree", b"o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
    write("checkpoint", "note", &cp_note);

    // Keys.
    let mut skey = String::new();
    a.write_private(&mut skey).unwrap();
    write("verifier_key", "vkey", a.verifier().to_string().as_bytes());
    write("verifier_key", "skey", skey.as_bytes());
    write("verifier_key", "vkey-t", common::signer().verifier().to_string().as_bytes());

    // Tile paths and psdb's tile registers.
    for (i, t) in [
        Tile::hashes(0, 0, 256),
        Tile::hashes(1, 1234, 17),
        Tile::entries(1_234_567, 5),
        Tile::hashes(63, u64::MAX, 1),
    ]
    .iter()
    .enumerate()
    {
        write("tile_path", &format!("path-{i}"), t.path().as_bytes());
        let regs: Vec<u8> = encode_tile(t).iter().flat_map(|w| w.to_le_bytes()).collect();
        write("tile_path", &format!("registers-{i}"), &regs);
    }

    // Entry bundles: the ledger's, with the count in front; one with an
    // empty entry; a truncated one.
    let bundle_bytes = &objects[0].1;
    write("entry_bundle", "ledger", &[&[5u8][..], bundle_bytes].concat());
    let mut buf = [0u8; 64];
    let mut at = bundle::put(&mut buf, 0, b"").unwrap();
    at = bundle::put(&mut buf, at, b"xyz").unwrap();
    write("entry_bundle", "empty-entry", &[&[2u8][..], &buf[..at]].concat());
    write(
        "entry_bundle",
        "truncated",
        &[&[1u8][..], &bundle_bytes[..bundle_bytes.len() - 1]].concat(),
    );

    // Proofs: a tree size, an index, a bit to flip, then leaves and an
    // arbitrary proof.
    write("proof", "small", &[7, 0, 3, 9, 1, 2, 3, 4, 5, 6, 7]);
    let mut big = vec![0x2c, 0x01, 200, 77];
    big.extend((0..=255u8).cycle().take(16 + 5 * 32));
    write("proof", "large", &big);

    // wire's checks: label, rights, registers, record count, max record
    // (u16), then the records.
    let mut recs = [0u8; 64];
    let mut w = Writer::new(&mut recs);
    assert!(w.push(b"first record") && w.push(b"second"));
    let n = w.len();
    let append = abi::client::label::APPEND as u8;
    write("wire_request", "append", &[&[append, 0xff, 2, 2, 0, 16][..], &recs[..n]].concat());
    write("wire_request", "too-large", &[&[append, 0xff, 2, 2, 4, 0][..], &recs[..n]].concat());
    write("wire_request", "status", &[abi::client::label::STATUS as u8, 0, 0, 0, 0, 0]);

    // psdb: store the ledger's objects, commit its checkpoint, read back.
    let mut ops = Vec::new();
    let entries = &objects[0].1;
    let hashes = &objects[1].1;
    op(&mut ops, 0, label::PUT, 3, [0, 5, entries.len() as u16, 0], entries);
    op(&mut ops, 0, label::PUT, 0, [0, 5, hashes.len() as u16, 0], hashes);
    op(&mut ops, 0, label::REPLACE_CHECKPOINT, 0, [0, 0, 0, cp_note.len() as u16], &cp_note);
    op(&mut ops, 0, label::GET, 3, [0, 5, 0, 0], &[]);
    op(&mut ops, 0, label::GET, 3, [0, 3, 0, 0], &[]);
    op(&mut ops, 0, label::GET_CHECKPOINT, 0, [0, 0, 0, 0], &[]);
    write("psdb_request", "commit", &ops);
    let mut more = ops.clone();
    op(&mut more, 0, label::PUT, 3, [1, 2, 4, 0], b"\x00\x02hi");
    op(&mut more, 0, label::RECOVER, 0, [0, 0, 5, 0], &[]);
    op(&mut more, 1, label::PUT, 1, [0, 1, 32, 0], &[7; 32]);
    op(&mut more, 4, label::GET, 0, [0, 0, 0, 0], &[]);
    write("psdb_request", "recover-and-audit", &more);
    assert_eq!(ENTRIES, 0xFF);

    // Disk images: as made (no patch); a byte of the superblock, of the
    // checkpoint slot and of the first record changed.
    write("disk_image", "as-made", &[]);
    let patch = |at: u32, bytes: &[u8]| {
        let mut p = at.to_le_bytes()[..3].to_vec();
        p.push(bytes.len() as u8);
        p.extend_from_slice(bytes);
        p
    };
    // The first byte says which checksums to make right again.
    let patch = |flags: u8, at: u32, bytes: &[u8]| [&[flags][..], &patch(at, bytes)].concat();
    write("disk_image", "superblock", &patch(0, 16, &[0xff]));
    write("disk_image", "superblock-resealed", &patch(2, 64 + 48, &[0, 0, 2]));
    write("disk_image", "slot", &patch(4, 64 * 1024 + 4096 + 16, &[1, 2, 3]));
    write("disk_image", "record", &patch(0, 64 * 1024 + 8192 + 8, &[0; 8]));
    write("disk_image", "record-resealed", &patch(9, 64 * 1024 + 8192 + 36, &[3]));

    // Ledgers for the verifier: as made, a flipped bit, an extra file.
    write("verify_ledger", "as-made", &[4]);
    write("verify_ledger", "flip", &[4, 3, 1, 9]);
    write(
        "verify_ledger",
        "extra",
        &[4, 4, 0, 11, b't', b'i', b'l', b'e', b'/', b'0', b'/', b'0', b'0', b'1', b' '],
    );

    // The project's own system description and tenants, and a minimal one.
    write("system_xml", "system.xml", &fs::read(root.join("system.xml")).unwrap());
    write(
        "system_xml",
        "minimal.xml",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <protection_domain name=\"a\" priority=\"1\">\n    <program_image path=\"a.elf\" />\n    <map mr=\"m\" vaddr=\"0x2000000\" perms=\"rw\" setvar_vaddr=\"x\" />\n  </protection_domain>\n  <protection_domain name=\"b\" priority=\"2\">\n    <program_image path=\"b.elf\" />\n  </protection_domain>\n  <channel>\n    <end pd=\"a\" id=\"0\" />\n    <end pd=\"b\" id=\"0\" pp=\"true\" />\n  </channel>\n</system>\n",
    );
    write("tenants_toml", "tenants.toml", &fs::read(root.join("tenants.toml")).unwrap());
    write(
        "tenants_toml",
        "max-record.toml",
        &fs::read(root.join("test-systems/max-record.toml")).unwrap(),
    );

    witness_seeds();
    anchor_seeds(&root);
}

/// Rekor's answers as the real staging logs gave them (v2 first byte 0,
/// v1 first byte 1) and an anchor receipt.
fn anchor_seeds(root: &Path) {
    let data = root.join("crates/rekor/tests/data");
    let bundle: serde_json::Value =
        serde_json::from_slice(&fs::read(data.join("staging-rekor-v2.txt.sigstore.json")).unwrap())
            .unwrap();
    let tle = serde_json::to_vec(&bundle["verificationMaterial"]["tlogEntries"][0]).unwrap();
    write("rekor_answer", "v2-staging", &[&[0][..], &tle].concat());
    let entry: serde_json::Value =
        serde_json::from_slice(&fs::read(data.join("v1/log_entry.json")).unwrap()).unwrap();
    let id = "0181bbc9c6333964ac3650aee1c1b3821211cf07067c1a118d0a7f86867bbb1df340cb8fc9c221af";
    let answer = serde_json::to_vec(&serde_json::json!({ id: entry })).unwrap();
    write("rekor_answer", "v1-staging", &[&[1][..], &answer].concat());
    let (_, note) = common::ledger(5);
    let receipt = serde_json::json!({
        "v": 1, "month": "2026-12", "emitted_at": 1_796_083_200u64,
        "checkpoint": String::from_utf8(note).unwrap(), "size": 5,
        "root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "previous": {"size": 3, "root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "consistency": []},
        "rekor": {"api": "v2", "url": "https://rekor.test", "log": "rekor.test",
                  "request": "{}", "response": String::from_utf8(tle).unwrap(),
                  "recovered": false, "log_index": 645, "tree_size": 646},
        "time": {"witnesses": [{"key": "w+01234567+AAAA", "time": 1_796_083_100u64}],
                 "rekor_integrated_time": null}
    });
    write("anchor_receipt", "receipt", &serde_json::to_vec(&receipt).unwrap());
}

/// Cosigned checkpoints and witness keys; add-checkpoint request bodies.
fn witness_seeds() {
    let c = common::cosigner();
    let (_, three) = common::ledger(3);
    let (_, five) = common::ledger(5);
    let text = |n: &[u8]| {
        let s = std::str::from_utf8(n).unwrap();
        s[..s.rfind("\n\n").unwrap() + 1].to_string()
    };
    let mut line = [0u8; 256];
    let n = c.cosign(&text(&three), 1_700_000_000, &mut line).unwrap();
    write("cosignature", "cosigned", &[&three[..], &line[..n]].concat());
    write("cosignature", "key", c.verifier().to_string().as_bytes());
    let body = witness::protocol::add_checkpoint_body;
    write("witness_request", "first", &body(0, &[], &three));
    write("witness_request", "same", &body(3, &[], &three));
    write("witness_request", "grown", &body(3, &[tlog::leaf_hash(b"x")], &five));
}
