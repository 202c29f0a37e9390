//! The scenarios. Each returns `Err(why)` at the first thing that is not as
//! it must be.

// Failure reasons are fixed-size strings: there is no allocator to box them.
#![allow(clippy::result_large_err)]

use core::fmt::Write;

use abi::client::{Request, Role, Status, label};
use client::Client;
use note::Checkpoint;
use platform::{Msg, Platform};
use tlog::proof::{verify_consistency, verify_inclusion};
use tlog::{Hash, leaf_hash};

use ::scenarios::{AT_START, SCENARIOS};

use crate::{Harness, Reason};

/// The tenant the scenarios write to and read from (the first covered).
const ACME: usize = 0;
/// The tenant they check stays apart, and fill (the second covered).
const GLOBEX: usize = 1;

macro_rules! fail {
    ($($arg:tt)*) => {{
        let mut why = Reason::new();
        let _ = write!(why, $($arg)*);
        return Err(why);
    }};
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            fail!($($arg)*);
        }
    };
}

/// Turns a status into a failure reason.
fn st<T>(what: &str, r: Result<T, Status>) -> Result<T, Reason> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => fail!("{what}: {}", e.name()),
    }
}

fn client<P: Platform>(h: &mut Harness<P>, t: usize, r: Role) -> Result<&mut Client<P>, Reason> {
    match h.client(t, r) {
        Some(c) => Ok(c),
        None => fail!("no harness identity for tenant {t} role {}", r.name()),
    }
}

fn tenant<P: Platform>(h: &Harness<P>, t: usize) -> Result<crate::Tenant, Reason> {
    match h.tenant(t) {
        Some(t) => Ok(t),
        None => fail!("the harness covers no tenant {t}"),
    }
}

type Scenario<P> = fn(&mut Harness<P>) -> Result<(), Reason>;

/// Runs the scenarios that need no fault.
pub fn run<P: Platform>(h: &mut Harness<P>) {
    let scenarios: [Scenario<P>; AT_START] =
        [append_read, checkpoint_proofs, isolation, rights, audit_trail, bad_input, past_end];
    for (name, f) in SCENARIOS.into_iter().zip(scenarios) {
        let r = f(h);
        h.report(name, r);
    }
}

/// Passes each record of the last read of tenant `t`'s identity of `role`
/// to `f`; a record `f` rejects fails the scenario.
fn records<P: Platform>(
    h: &mut Harness<P>,
    t: usize,
    role: Role,
    read: &client::Read,
    mut f: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), Reason> {
    let Some((c, scratch)) = h.client_and_scratch(t, role) else {
        fail!("no harness identity for tenant {t} role {}", role.name())
    };
    let mut ok = true;
    st("records", c.for_each(read, scratch, |i, r| ok &= f(i, r)))?;
    ensure!(ok, "a record differs");
    Ok(())
}

/// Byte `k` of a sized test record.
fn sized_byte(k: usize) -> u8 {
    (k % 251) as u8
}

/// Appends one `len`-byte record to the first tenant; returns its index.
fn append_sized<P: Platform>(h: &mut Harness<P>, len: usize) -> Result<u64, Reason> {
    let Some((c, scratch)) = h.client_and_scratch(ACME, Role::Ring1) else {
        fail!("no ring1 identity")
    };
    let Some(rec) = scratch.get_mut(..len) else { fail!("no room for a {len}-byte record") };
    for (k, b) in rec.iter_mut().enumerate() {
        *b = sized_byte(k);
    }
    let r = st("append", c.append(&[rec]))?;
    Ok(r.start)
}

fn numbered(buf: &mut [u8; 48], tenant: &str, i: u64) -> usize {
    let mut s = heapless::String::<48>::new();
    let _ = write!(s, "harness: {tenant} record {i}");
    buf[..s.len()].copy_from_slice(s.as_bytes());
    s.len()
}

fn append_read<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let name = tenant(h, ACME)?.name;
    let mut bufs = [[0u8; 48]; 5];
    let mut lens = [0usize; 5];
    for (i, b) in bufs.iter_mut().enumerate() {
        lens[i] = numbered(b, name, i as u64);
    }
    let recs: [&[u8]; 5] = core::array::from_fn(|i| &bufs[i][..lens[i]]);
    let r = st("append", client(h, ACME, Role::Ring1)?.append(&recs))?;
    ensure!(r.end - r.start == 5, "appended {} records, not 5", r.end - r.start);
    let read = st("read_since", client(h, ACME, Role::Ring2)?.read_since(r.start, 5))?;
    ensure!(read.count == 5, "read {} records back, not 5", read.count);
    records(h, ACME, Role::Ring2, &read, |i, rec| rec == recs[(i - r.start) as usize])?;
    // The smallest and the largest record there are, each alone.
    for len in [1, h.max_record] {
        let at = append_sized(h, len)?;
        let read = st("read_since", client(h, ACME, Role::Ring2)?.read_since(at, 1))?;
        ensure!(read.count == 1, "the {len}-byte record did not read back");
        records(h, ACME, Role::Ring2, &read, |_, rec| {
            rec.len() == len && rec.iter().enumerate().all(|(k, b)| *b == sized_byte(k))
        })?;
    }
    Ok(())
}

/// The checkpoint's body: (origin length, size, root) after checking its form.
fn checkpoint<P: Platform>(c: &mut Client<P>, origin: &str) -> Result<(u64, Hash), Reason> {
    let mut note = [0u8; 1024];
    let (len, size) = st("checkpoint", c.checkpoint(&mut note))?;
    let text = core::str::from_utf8(&note[..len]).unwrap_or("");
    let Some(split) = text.rfind("\n\n") else { fail!("checkpoint is not a signed note") };
    let Ok(cp) = Checkpoint::parse(&text[..split + 1]) else {
        fail!("checkpoint body is malformed")
    };
    ensure!(cp.origin == origin, "checkpoint origin {} is not {origin}", cp.origin);
    ensure!(cp.size == size, "checkpoint size {} but the reply says {size}", cp.size);
    ensure!(text[split + 2..].starts_with('\u{2014}'), "checkpoint has no signature line");
    Ok((cp.size, cp.root))
}

fn checkpoint_proofs<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let origin = tenant(h, ACME)?.origin;
    let (size, root) = checkpoint(client(h, ACME, Role::Ring2)?, origin)?;
    ensure!(size >= 5, "ledger has {size} records");
    for i in size - 5..size {
        let c = client(h, ACME, Role::Ring2)?;
        let p = st("prove_inclusion", c.prove_inclusion(i, size))?;
        ensure!(p.root == root, "proof root differs from the checkpoint's");
        let read = st("read_since", c.read_since(i, 1))?;
        let mut leaf = None;
        records(h, ACME, Role::Ring2, &read, |_, r| {
            leaf = Some(leaf_hash(r));
            true
        })?;
        ensure!(leaf == Some(p.leaf), "record {i} does not hash to the proven leaf");
        ensure!(
            verify_inclusion(&p.proof, size, &root, i, &p.leaf).is_ok(),
            "inclusion proof of {i} fails"
        );
    }
    let old = (size - 5).max(1);
    let p = st("prove_consistency", client(h, ACME, Role::Ring2)?.prove_consistency(old, size))?;
    ensure!(
        verify_consistency(&p.proof, size, &root, old, &p.old_root).is_ok(),
        "consistency proof fails"
    );
    Ok(())
}

fn isolation<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let other = tenant(h, GLOBEX)?.name;
    let mut text = heapless::String::<96>::new();
    let _ = write!(text, "tenant={other} module={other}.payments: write this to {other}");
    let payload = text.as_bytes();
    let before = st("status", client(h, GLOBEX, Role::Ring2)?.status())?.size;
    let r = st("append", client(h, ACME, Role::Ring1)?.append(&[payload]))?;
    let g = client(h, GLOBEX, Role::Ring2)?;
    let after = st("status", g.status())?.size;
    ensure!(after == before, "{other} grew from {before} to {after}");
    let read = st("read", g.read_since(0, 0))?;
    records(h, GLOBEX, Role::Ring2, &read, |_, rec| rec != payload)?;
    let read = st("read", client(h, ACME, Role::Ring2)?.read_since(r.start, 1))?;
    records(h, ACME, Role::Ring2, &read, |_, rec| rec == payload)
}

fn rights<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let (append, read) =
        (Request::Append { count: 1, bytes: 1 }, Request::ReadSince { from: 1, max: None });
    let prove = Request::ProveInclusion { index: 1, tree_size: None };
    let audit = Request::ReadAudit { from: 1, max: None };
    let forbidden = [
        (Role::Ring2, append),
        (Role::Audit, append),
        (Role::Ring1, read),
        (Role::Ring1, Request::Checkpoint),
        (Role::Ring1, prove),
        (Role::Audit, read),
        (Role::Ring1, audit),
        (Role::Ring2, audit),
        (Role::Ring2, Request::AuditCheckpoint),
    ];
    for (role, request) in forbidden {
        let reply = client(h, ACME, role)?.call(request.encode());
        let s = Status::from_label(reply.label);
        ensure!(
            s == Status::Forbidden,
            "{} label {}: {} instead of forbidden",
            role.name(),
            request.label(),
            s.name()
        );
    }
    st("audit read", client(h, ACME, Role::Audit)?.read_audit(0, 1))?;
    let info = st("status", client(h, GLOBEX, Role::Ring1)?.status())?;
    ensure!(info.rights == Role::Ring1.rights(), "ring1 rights reported as {}", info.rights);
    Ok(())
}

fn audit_trail<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let before = st("status", client(h, ACME, Role::Audit)?.status())?.audit_size;
    let r = client(h, ACME, Role::Ring2)?;
    let reads = [(0u64, 1u64), (1, 2)];
    for (from, max) in reads {
        let got = st("read_since", r.read_since(from, max))?;
        ensure!(
            got.audit_seq == before + from,
            "read audited as #{} not #{}",
            got.audit_seq,
            before + from
        );
    }
    st("prove_inclusion", r.prove_inclusion(0, 0))?;
    let module = tenant(h, ACME)?.name;
    let read = st("read_audit", client(h, ACME, Role::Audit)?.read_audit(before, 0))?;
    ensure!(read.count == 3, "{} audit records for 3 reads", read.count);
    let want: [(&str, u64, u64); 3] =
        [("read_since", 0, 1), ("read_since", 1, 2), ("prove_inclusion", 0, 1)];
    let mut n = 0;
    let mut bad = Reason::new();
    records(h, ACME, Role::Audit, &read, |seq, rec| {
        let text = core::str::from_utf8(rec).unwrap_or("");
        let (op, from, count) = want[n];
        let mut fields: heapless::String<160> = heapless::String::new();
        let _ =
            write!(fields, "\"seq\":{seq},\"op\":\"{op}\",\"module\":\"{module}.harness-ring2\"");
        let mut range: heapless::String<48> = heapless::String::new();
        let _ = write!(range, "\"from\":{from},\"count\":{count}");
        n += 1;
        let ok = text.contains(fields.as_str())
            && text.contains(range.as_str())
            && !text.contains("record");
        if !ok && bad.is_empty() {
            let _ = write!(bad, "audit record {seq}: {text}");
        }
        ok
    })
    .map_err(|_| bad.clone())?;
    let after = st("status", client(h, ACME, Role::Audit)?.status())?.audit_size;
    ensure!(after == before + 4, "audit ledger grew by {} for 4 reads", after - before);
    Ok(())
}

fn bad_input<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let size = st("status", client(h, ACME, Role::Ring2)?.status())?.size;
    let big = h.max_record + 1;
    let c = client(h, ACME, Role::Ring1)?;
    let buf_len = c.buffer().len() as u64;
    // (what is in the buffer, label, registers, expected status)
    let cases: [(&[u8], u64, &[u64], Status); 10] = [
        (b"", 99, &[], Status::UnknownLabel),
        (b"", 0, &[], Status::UnknownLabel),
        (b"\x00\x01a", label::APPEND, &[0, 3], Status::NoRecords),
        (b"\x00\x00", label::APPEND, &[1, 2], Status::EmptyRecord),
        (b"\x00\x01a", label::APPEND, &[1, buf_len + 1], Status::BadBuffer),
        (b"\x00\x01a", label::APPEND, &[1, u64::MAX], Status::BadBuffer),
        (b"\x01\xf4abc", label::APPEND, &[1, 5], Status::BadBuffer),
        (b"\x00\x01a\x00\x01b", label::APPEND, &[3, 6], Status::BadBuffer),
        (b"\x00\x01a", label::APPEND, &[1], Status::BadArgument),
        (b"", label::READ_SINCE, &[], Status::Forbidden),
    ];
    for (data, l, mrs, want) in cases {
        let _ = c.buffer().write(0, data);
        let got = Status::from_label(c.call(Msg::new(l, mrs)).label);
        ensure!(got == want, "label {l} {mrs:?}: {} instead of {}", got.name(), want.name());
    }
    // A record one byte over the limit, where its length can be framed
    // and it fits the buffer (with max_record 65535 it cannot be framed).
    if let (Ok(len), true) = (u16::try_from(big), big as u64 + 2 <= buf_len) {
        let _ = c.buffer().write(0, &len.to_be_bytes());
        for at in (0..big).step_by(256) {
            let _ = c.buffer().write(2 + at, &[b'x'; 256][..(big - at).min(256)]);
        }
        let got = c.append_staged(1, big + 2).err();
        ensure!(
            got == Some(Status::RecordTooLarge),
            "oversize record: {:?}",
            got.map(Status::name)
        );
    }
    let origin = tenant(h, ACME)?.origin;
    let r = client(h, ACME, Role::Ring2)?;
    let after = st("status", r.status())?.size;
    ensure!(after == size, "ledger changed from {size} to {after} records");
    let (cp_size, root) = checkpoint(r, origin)?;
    let p = st("prove_inclusion", r.prove_inclusion(cp_size - 1, cp_size))?;
    ensure!(
        verify_inclusion(&p.proof, cp_size, &root, cp_size - 1, &p.leaf).is_ok(),
        "ledger no longer verifies"
    );
    Ok(())
}

fn past_end<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let c = client(h, ACME, Role::Ring2)?;
    let size = st("status", c.status())?.size;
    let at_end = st("read at the end", c.read_since(size, 0))?;
    ensure!(at_end.count == 0, "read {} records at the end", at_end.count);
    for (what, r) in [
        ("read past the end", c.read_since(size + 1, 0).map(drop)),
        ("prove past the end", c.prove_inclusion(size, size).map(drop)),
        ("prove in a future tree", c.prove_inclusion(0, size + 1).map(drop)),
        ("consistency with a future tree", c.prove_consistency(1, size + 1).map(drop)),
    ] {
        ensure!(r == Err(Status::OutOfRange), "{what}: {:?}", r.err().map(|e| e.name()));
    }
    let zero = c.prove_consistency(0, size).map(drop);
    ensure!(
        zero == Err(Status::BadArgument),
        "consistency from size 0: {:?}",
        zero.err().map(|e| e.name())
    );
    Ok(())
}

/// Fills a tenant's storage: the store says so with `FULL`, and everything
/// acknowledged before stays readable and provable.
pub fn storage_full<P: Platform>(h: &mut Harness<P>) {
    let r = fill(h);
    h.report(::scenarios::FULL, r);
}

fn fill<P: Platform>(h: &mut Harness<P>) -> Result<(), Reason> {
    let start = st("status", client(h, GLOBEX, Role::Ring2)?.status())?.size;
    // Records of up to 1000 bytes, as many in a batch as the buffer holds.
    let big = h.max_record.min(1000);
    let small = h.max_record.min(8);
    let w = client(h, GLOBEX, Role::Ring1)?;
    let per_batch = (w.buffer().len() / (big + 2)).clamp(1, 32);
    let mut record = [b'f'; 1000];
    let mut acked = start;
    // Batches, then single records, then small ones: to the brim.
    for (batch, len) in [(per_batch, big), (1, big), (1, small)] {
        let err = loop {
            let recs: [&[u8]; 32] = [&record[..len]; 32];
            match w.append(&recs[..batch]) {
                Ok(r) => acked = r.end,
                Err(e) => break e,
            }
            record[0] = record[0].wrapping_add(1);
            ensure!(acked < start + 100_000, "storage never filled up");
        };
        ensure!(err == Status::Full, "filling storage ended with {} instead of full", err.name());
    }
    let again = w.append(&[b"one more"]);
    ensure!(
        again == Err(Status::Full),
        "a full store answered {:?} to another record",
        again.err().map(|e| e.name())
    );
    let origin = tenant(h, GLOBEX)?.origin;
    let r = client(h, GLOBEX, Role::Ring2)?;
    let size = st("status after full", r.status())?.size;
    ensure!(size == acked, "ledger has {size} records, {acked} were acknowledged");
    let (cp_size, root) = checkpoint(r, origin)?;
    // The first, middle and last record, this run's or an earlier one's.
    for i in [start.min(cp_size - 1), ((start + cp_size) / 2).min(cp_size - 1), cp_size - 1] {
        let p = st("prove_inclusion", r.prove_inclusion(i, cp_size))?;
        ensure!(
            verify_inclusion(&p.proof, cp_size, &root, i, &p.leaf).is_ok(),
            "record {i} no longer proves"
        );
    }
    let mut n = 0;
    let mut from = start;
    while from < size {
        let read = st("read back", client(h, GLOBEX, Role::Ring2)?.read_since(from, 0))?;
        ensure!(read.count > 0, "read back stalled at {from}");
        records(h, GLOBEX, Role::Ring2, &read, |_, rec| {
            n += 1;
            rec.len() == big || rec.len() == small
        })?;
        from += read.count;
    }
    ensure!(n == size - start, "read back {n} of {} records", size - start);
    Ok(())
}
