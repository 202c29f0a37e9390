//! "Never a fork" (issue 10): random sequences of appends, audited reads,
//! checkpoints, crashes, an insider's tampering and operator actions, run
//! against the real `fsctl` binary over a real directory, must never make
//! the ledger sign two checkpoints that disagree.
//!
//! Every checkpoint the ledger ever signed is kept: after each command the
//! stored `log/checkpoint` and `audit/checkpoint` (and what `fsctl
//! checkpoint` printed) are recorded if they verify with the tenant's key.
//! The test knows each log's genuine leaves (read from the entry bundles the
//! moment a larger checkpoint appears, and required to hash to its signed
//! root); every recorded checkpoint must have the root of that prefix
//! (same size ⇒ same root, smaller ⇒ a prefix), checked with this project's
//! `tlog` after every command, and at the end of each case with consistency
//! proofs from every recorded size to the largest, verified by our `tlog`
//! and by Go's `tlog` (the oracle, over a copy of the tree taken when the
//! largest checkpoint it could check was signed). Also: every record whose
//! index `append` printed is read back with the same bytes; a command that
//! fails signs nothing new in the log it refused; no command writes through
//! a symbolic link to a file outside the ledger; no command panics.
//!
//! Why the binary and not the engine: the insider's tampering (symbolic
//! links, intents, temporary names, whole-directory backups) and the
//! operator's `fsctl restore` act on files and on what `fsctl` does with
//! them, and a crash is a real SIGKILL (strace's fault injection, as in
//! `crash.rs`) at a write point of the real process.
//!
//! Known limit, by design: a rollback that leaves no trace in the
//! directory (a whole tenant directory put back from an older backup, or
//! an older checkpoint with the newer objects deleted, or with a forged
//! intent from its size) cannot be told from an older genuine state. Only a
//! checkpoint kept elsewhere catches it. `never_a_fork` runs without one
//! and plays that witness: before each write command it checks the stored
//! checkpoints against the newest it kept, and when a directory is such an
//! undetectable rollback it counts it and repairs it as an operator would
//! (`fsctl restore` with the newest checkpoint, or else the newest copy of
//! the tenant).
//!
//! `never_a_fork_with_a_witness` leaves that to the product: each case
//! starts a real witness (`fs_witness::spawn`, trusting both keys `fsctl
//! key` prints) and adds it with `fsctl witness add` right after `init`; the
//! test plays no witness; backups are taken and put back more often, and
//! commands are also killed at their connections to the witness.
//! What the witness cosigned last is read from its state directory (it
//! keeps a checkpoint before it answers, so a command killed in between
//! leaves the witness ahead of the cosignatures in the directory). With the
//! witness configured (its line intact in `<tenant>/witnesses`), it asserts:
//!
//! - a command that opens the tenant (all but `restore`) run while a
//!   stored checkpoint is older than what the witness cosigned last fails
//!   (exit 1, unless killed) and signs nothing: no new tree, and both
//!   checkpoints unchanged but for renewed cosignature lines; when the
//!   directory showed no trace of the rollback, it is then repaired as
//!   above (`restore`, else the replica);
//! - every checkpoint a command signs is at least as large as, and extends,
//!   every checkpoint the witness cosigned before (it was cosigned as the
//!   command began);
//! - all checkpoints the witness cosigned (a valid cosignature by its key
//!   on a stored checkpoint, or its own state) lie on one history: same
//!   size, same root; smaller, a prefix (proofs from each to the largest,
//!   ours and Go's, at the end); every acknowledged record is in it;
//! - at the end: `verify --witness` passes when plain `verify` does and
//!   both stored checkpoints are the newest cosigned ones, with their
//!   cosignature, and passes only on cosigned checkpoints; `verify
//!   --trusted` with the newest cosigned checkpoints fails on a traceless
//!   rollback to below them, and passes when plain `verify` does and the
//!   stored checkpoints extend them.
//!
//! The gap, by design and counted, not failed: a checkpoint only counts
//! once cosigned. One signed by a command killed before the witness kept
//! it is unknown to the witness; a traceless rollback to below it is
//! accepted, and a different tree of that size or larger may be signed
//! next. The test then gives up the line of leaves it kept for that one
//! (`gap_forks`; such checkpoints, never cosigned, are `orphans` at the
//! end) and requires the new tree to hold every cosigned checkpoint; a
//! line given up may be taken up again if one of its checkpoints gets
//! cosigned (put back, and still extending what the witness knew). With
//! the witness configuration tampered with (a bit flipped in
//! `<tenant>/witnesses`), commands are not watched and what they sign
//! need not extend what was cosigned (`unwitnessed_forks`): it never
//! counts, and cosigned checkpoints must still agree.
//!
//! `PROPTEST_CASES` sets the number of cases of each (default
//! [`DEFAULT_CASES`] and [`DEFAULT_WITNESSED_CASES`]).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use note::Verifier;
use proptest::prelude::*;
use tlog::{Hash, NodeReader};
use witness::Witness;

const DEFAULT_CASES: u32 = 48;
/// Cases of the witnessed test unless `PROPTEST_CASES` says otherwise.
const DEFAULT_WITNESSED_CASES: u32 = 24;

/// The system calls that change files or make them durable (as `crash.rs`).
const WRITE_POINTS: &[&str] = &["openat", "write", "fsync", "linkat", "unlink", "rename", "mkdir"];
/// Where a command is killed: a write point, or (witnessed) its `n`-th
/// connection to the witness, the first of which has the current
/// checkpoints cosigned and the next one a checkpoint just signed.
const KILL_POINTS: &[&str] =
    &["openat", "write", "fsync", "linkat", "unlink", "rename", "mkdir", "connect"];

/// The fixed temporary names the tool writes through `create + truncate`.
const TEMP_NAMES: &[&str] = &[
    ".log.intent.tmp",
    ".audit.intent.tmp",
    "log/.checkpoint.tmp",
    "audit/.checkpoint.tmp",
    "log/.checkpoint.restore.tmp",
    "audit/.checkpoint.restore.tmp",
];

/// Which of a tenant's two logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Log,
    Audit,
}

impl Which {
    fn dir(self) -> &'static str {
        match self {
            Which::Log => "log",
            Which::Audit => "audit",
        }
    }
    fn i(self) -> usize {
        self as usize
    }
}

/// A command that can be killed.
#[derive(Clone, Copy, Debug)]
enum Cmd {
    Append { records: u16 },
    Read,
    Checkpoint,
    Restore(Which),
}

/// One step of a case.
#[derive(Clone, Debug)]
enum Op {
    /// `fsctl append` of records of these sizes (one batch, one commit).
    Append(Vec<u16>),
    /// `fsctl read [--audit] --from F`: audited, checked against what was acknowledged.
    Read { audit: bool, from: u8 },
    /// `fsctl checkpoint`.
    Checkpoint,
    /// The command killed at the `n`-th call of a write system call.
    Crash { cmd: Cmd, syscall: usize, n: u8 },
    /// The last command again, exactly.
    Rerun,
    /// Tampering: the checkpoint replaced by an older one the ledger signed.
    Rollback(Which, usize),
    /// Tampering: everything in `log/` or `audit/` removed.
    Wipe(Which),
    /// Tampering: one file removed.
    Delete(Which, usize),
    /// Tampering: one bit flipped in one file of the tenant (key and intents included).
    Flip { pick: usize, at: usize, bit: u8 },
    /// Tampering: a file or directory moved elsewhere, a symbolic link to it in its place.
    Symlink(Which, usize),
    /// Tampering: a temporary name the tool writes made a link to a file outside.
    TempSymlink(usize),
    /// Tampering: a commit intent written, from the size of some checkpoint the ledger signed.
    ForgeIntent(Which, usize),
    /// Operator: `fsctl restore` with the newest checkpoint kept.
    RestoreNewest(Which),
    /// Operator: a copy of the tenant directory taken.
    TakeBackup,
    /// Operator (or insider): the tenant directory replaced by an earlier copy.
    RestoreBackup(usize),
    /// Operator: the tenant directory replaced by the copy taken at its newest checkpoints.
    Repair,
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![Just(Which::Log), Just(Which::Audit)]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        3 => (1u16..300).prop_map(|records| Cmd::Append { records }),
        1 => Just(Cmd::Read),
        1 => Just(Cmd::Checkpoint),
        1 => which().prop_map(Cmd::Restore),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let sizes = prop_oneof![
        6 => proptest::collection::vec(1u16..60, 1..4),
        2 => proptest::collection::vec(1u16..2000, 1..40),
        1 => proptest::collection::vec(1u16..16, 200..300),
    ];
    prop_oneof![
        10 => sizes.prop_map(Op::Append),
        4 => (any::<bool>(), any::<u8>()).prop_map(|(audit, from)| Op::Read { audit, from }),
        1 => Just(Op::Checkpoint),
        5 => (cmd(), 0..WRITE_POINTS.len(), 1u8..16)
            .prop_map(|(cmd, syscall, n)| Op::Crash { cmd, syscall, n }),
        1 => Just(Op::Rerun),
        3 => (which(), any::<usize>()).prop_map(|(w, p)| Op::Rollback(w, p)),
        1 => which().prop_map(Op::Wipe),
        2 => (which(), any::<usize>()).prop_map(|(w, p)| Op::Delete(w, p)),
        2 => (any::<usize>(), any::<usize>(), 0u8..8)
            .prop_map(|(pick, at, bit)| Op::Flip { pick, at, bit }),
        1 => (which(), any::<usize>()).prop_map(|(w, p)| Op::Symlink(w, p)),
        1 => (0..TEMP_NAMES.len()).prop_map(Op::TempSymlink),
        2 => (which(), any::<usize>()).prop_map(|(w, p)| Op::ForgeIntent(w, p)),
        3 => which().prop_map(Op::RestoreNewest),
        1 => Just(Op::TakeBackup),
        1 => any::<usize>().prop_map(Op::RestoreBackup),
        3 => Just(Op::Repair),
    ]
}

/// The same steps, with backups taken and put back more often (a whole
/// tenant directory put back is the rollback only a witness stops), and
/// kills at connections to the witness (a checkpoint signed, never cosigned).
fn witnessed_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => op(),
        1 => Just(Op::TakeBackup),
        1 => any::<usize>().prop_map(Op::RestoreBackup),
        1 => (cmd(), 1u8..4).prop_map(|(cmd, n)| Op::Crash {
            cmd,
            syscall: WRITE_POINTS.len(),
            n
        }),
    ]
}

/// Complete-subtree hashes of a list of leaves, for our `tlog` code.
struct Leaves<'a>(&'a [Hash]);

impl NodeReader for Leaves<'_> {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        let width = 1u64 << level;
        let (lo, hi) = (index * width, (index + 1) * width);
        if hi as usize > self.0.len() {
            return Err(());
        }
        if level == 0 {
            return Ok(self.0[lo as usize]);
        }
        let l = self.node(level - 1, 2 * index)?;
        let r = self.node(level - 1, 2 * index + 1)?;
        Ok(tlog::node_hash(&l, &r))
    }
}

fn root_of(leaves: &[Hash]) -> Hash {
    tlog::tree::tree_hash(leaves.len() as u64, &mut Leaves(leaves)).unwrap()
}

/// Whether the tree of `size` leaves with `root` is a prefix of `line`.
fn fits(line: &[Hash], size: u64, root: &Hash) -> bool {
    size as usize <= line.len() && root_of(&line[..size as usize]) == *root
}

/// What the test knows of one log.
#[derive(Default)]
struct Chain {
    /// Every distinct checkpoint the ledger signed: note → (size, root).
    notes: BTreeMap<Vec<u8>, (u64, Hash)>,
    /// The genuine leaf hashes, as many as the largest checkpoint's size.
    leaves: Vec<Hash>,
    /// The largest checkpoint.
    newest: Vec<u8>,
    /// A copy of the log's directory that verified, and its size.
    capture: Option<(PathBuf, u64, Hash)>,
    /// With a witness: the checkpoints it cosigned (size → root, and one
    /// note of it), which must all lie on `leaves`.
    cosigned: BTreeMap<u64, (Hash, Vec<u8>)>,
    /// With a witness: the leaves of lines given up, when a tree was signed
    /// that does not extend an earlier checkpoint nobody cosigned (the gap).
    others: Vec<Vec<Hash>>,
}

/// Results gathered over all cases, for the summary.
#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    cases: u64,
    ops: u64,
    commands: u64,
    refused: u64,
    killed: u64,
    witness_caught: u64,
    witness_restored: u64,
    witness_repaired: u64,
    frozen: u64,
    log_checkpoints: u64,
    audit_checkpoints: u64,
    largest: u64,
    go_proofs: u64,
    /// Witnessed: commands run while a stored checkpoint was older than
    /// what the witness cosigned (all must fail and sign nothing).
    behind: u64,
    /// … of which the directory showed no trace of it, and the witness
    /// refused ("rolled back or forked").
    stopped: u64,
    /// Witnessed: commands run on a traceless rollback to below a checkpoint
    /// the ledger signed but the witness never cosigned (the gap: allowed).
    unwitnessed: u64,
    /// Witnessed: a tree signed that does not extend such a checkpoint (the
    /// gap shown: a checkpoint that never counted given up).
    gap_forks: u64,
    /// Witnessed: checkpoints signed but given up at the end (never cosigned).
    orphans: u64,
    /// Witnessed: commands run with the witness configuration tampered with.
    unconfigured: u64,
    /// Witnessed: a tree signed, with the witness unconfigured, that does
    /// not extend what the witness cosigned (it never counts).
    unwitnessed_forks: u64,
    /// Witnessed, at the end: `verify --witness` passed.
    witness_verified: u64,
    /// Witnessed, at the end: `verify --trusted` caught a traceless rollback.
    trusted_caught: u64,
    /// Witnessed: a rollback the witness stopped that restore and the
    /// replica could not repair (commands go on failing).
    unrepaired: u64,
}

impl Stats {
    const ZERO: Stats = Stats {
        cases: 0,
        ops: 0,
        commands: 0,
        refused: 0,
        killed: 0,
        witness_caught: 0,
        witness_restored: 0,
        witness_repaired: 0,
        frozen: 0,
        log_checkpoints: 0,
        audit_checkpoints: 0,
        largest: 0,
        go_proofs: 0,
        behind: 0,
        stopped: 0,
        unwitnessed: 0,
        gap_forks: 0,
        orphans: 0,
        unconfigured: 0,
        unwitnessed_forks: 0,
        witness_verified: 0,
        trusted_caught: 0,
        unrepaired: 0,
    };
}

static TOTAL: std::sync::Mutex<Stats> = std::sync::Mutex::new(Stats::ZERO);
static TOTAL_WITNESSED: std::sync::Mutex<Stats> = std::sync::Mutex::new(Stats::ZERO);

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.cases += o.cases;
        self.ops += o.ops;
        self.commands += o.commands;
        self.refused += o.refused;
        self.killed += o.killed;
        self.witness_caught += o.witness_caught;
        self.witness_restored += o.witness_restored;
        self.witness_repaired += o.witness_repaired;
        self.frozen += o.frozen;
        self.log_checkpoints += o.log_checkpoints;
        self.audit_checkpoints += o.audit_checkpoints;
        self.largest = self.largest.max(o.largest);
        self.go_proofs += o.go_proofs;
        self.behind += o.behind;
        self.stopped += o.stopped;
        self.unwitnessed += o.unwitnessed;
        self.gap_forks += o.gap_forks;
        self.orphans += o.orphans;
        self.unconfigured += o.unconfigured;
        self.unwitnessed_forks += o.unwitnessed_forks;
        self.witness_verified += o.witness_verified;
        self.trusted_caught += o.trusted_caught;
        self.unrepaired += o.unrepaired;
    }
}

/// The tenant's witness, served in-process.
struct Wit {
    /// Serves until dropped (before the directory it keeps its state in).
    _server: fs_witness::Running,
    key: note::CosignatureVerifier,
    /// Its state directory (read, never written, by the test).
    state: PathBuf,
    /// The line `fsctl witness add` wrote to `<tenant>/witnesses`.
    line: String,
    /// Whether it was configured (that line intact) before the current command.
    configured: bool,
}

/// What [`World::before_command`] found.
#[derive(Default)]
struct Before {
    behind: [bool; 2],
    traceless: [bool; 2],
    signed: [Option<Vec<u8>>; 2],
    count: u64,
}

struct World {
    /// With a witness: the second test.
    wit: Option<Wit>,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    tenant: PathBuf,
    /// Files and directories moved aside, backups, captures.
    aside: PathBuf,
    keys: [Verifier; 2],
    key_strings: [String; 2],
    chains: [Chain; 2],
    /// Every acknowledged record by index.
    acked: BTreeMap<u64, Vec<u8>>,
    /// Records made so far (each record's bytes are unique).
    made: u64,
    backups: Vec<PathBuf>,
    /// A copy of the tenant taken when both its checkpoints were the newest.
    replica: Option<PathBuf>,
    /// A file outside the ledger that symbolic links point to.
    victim: PathBuf,
    last: Option<(Vec<String>, Vec<u8>)>,
    /// The witness could not repair an undetectable rollback: writes stop.
    frozen: bool,
    seq: u64,
    /// How many checkpoints (distinct trees) were seen signed.
    signed: u64,
    /// The last command run: its exit status, whether it was killed, its error.
    outcome: Option<(Option<i32>, bool, String)>,
    stats: Stats,
}

const VICTIM: &[u8] = b"not the ledger's: never written by fsctl\n";

fn cp_a(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let st = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// Every path under `dir` (files, directories and links, not following
/// links), sorted, relative to `dir`.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

fn pick<T: Clone>(v: &[T], p: usize) -> Option<T> {
    (!v.is_empty()).then(|| v[p % v.len()].clone())
}

fn record_bytes(n: u64, size: u16) -> Vec<u8> {
    let mut r = format!("r{n}:").into_bytes();
    while r.len() < size as usize {
        r.push(b'a' + (r.len() % 26) as u8);
    }
    r.truncate(size.max(1) as usize);
    if r.len() < format!("r{n}:").len() {
        // Too short to be unique by its number: make it unique anyway.
        r = format!("r{n}:").into_bytes();
    }
    r
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

impl World {
    fn new(witnessed: bool) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ledgers");
        std::fs::create_dir(&root).unwrap();
        let aside = tmp.path().join("aside");
        std::fs::create_dir(&aside).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, VICTIM).unwrap();
        let key = ok(&root, &["init", "acme"], b"").trim().to_string();
        let v = Verifier::parse(&key).unwrap();
        let audit = v.renamed("service-fs/acme/audit").unwrap();
        let key_strings = [key, audit.to_string()];
        // The witness: trusting both keys `fsctl key` prints, then added.
        let wit = witnessed.then(|| {
            let state = tmp.path().join("witness-state");
            let key = Witness::create(&state, "witness.test/never-a-fork").unwrap();
            for extra in [&[][..], &["--audit"][..]] {
                let k = ok(&root, &[&["key", "acme"][..], extra].concat(), b"");
                Witness::trust(&state, k.trim()).unwrap();
            }
            let server = fs_witness::spawn(Witness::open(&state).unwrap()).unwrap();
            ok(&root, &["witness", "add", "acme", &key.to_string(), &server.url], b"");
            let line = format!("{key} {}", server.url);
            Wit { _server: server, key, state, line, configured: true }
        });
        let mut w = World {
            wit,
            tenant: root.join("acme"),
            root,
            aside,
            keys: [v, audit],
            key_strings,
            chains: Default::default(),
            acked: BTreeMap::new(),
            made: 0,
            backups: Vec::new(),
            replica: None,
            victim,
            last: None,
            frozen: false,
            seq: 0,
            signed: 0,
            outcome: None,
            stats: Stats::default(),
            _tmp: tmp,
        };
        w.observe(&[]);
        w
    }

    fn fresh(&mut self, what: &str) -> PathBuf {
        self.seq += 1;
        self.aside.join(format!("{what}-{}", self.seq))
    }

    fn checkpoint_path(&self, w: Which) -> PathBuf {
        self.tenant.join(w.dir()).join("checkpoint")
    }

    fn stored(&self, w: Which) -> Option<Vec<u8>> {
        std::fs::read(self.checkpoint_path(w)).ok()
    }

    /// The size and root of `note` if the ledger signed it for log `w`.
    fn genuine(&self, w: Which, note: &[u8]) -> Option<(u64, Hash)> {
        let opened = note::open(note, &[&self.keys[w.i()]]).ok()?;
        let cp = note::Checkpoint::parse(opened.text).ok()?;
        (cp.origin == self.keys[w.i()].name()).then_some((cp.size, cp.root))
    }

    /// Witnessed: the checkpoint of log `w` the witness cosigned last, from
    /// its state directory (`state/<hash of the origin>`, one file per
    /// log, replaced by a rename), which the test only reads.
    fn latest(&self, w: Which) -> Option<Vec<u8>> {
        let wit = self.wit.as_ref()?;
        let dir = std::fs::read_dir(wit.state.join("state")).ok()?;
        dir.flatten()
            .filter(|e| e.path().extension().is_none())
            .filter_map(|e| std::fs::read(e.path()).ok())
            .find(|n| self.genuine(w, n).is_some())
    }

    /// Witnessed: the size of what the witness cosigned last for log `w`.
    fn latest_size(&self, w: Which) -> u64 {
        self.latest(w).and_then(|n| self.genuine(w, &n)).map_or(0, |(s, _)| s)
    }

    /// A stored checkpoint without the witness's cosignature lines (which
    /// every command opening the tenant renews): what the ledger signed.
    fn signed_part(&self, note: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let Some(wit) = &self.wit else { return note };
        let theirs = format!("\u{2014} {} ", wit.key.name());
        note.map(|n| {
            n.split_inclusive(|&b| b == b'\n')
                .filter(|l| !l.starts_with(theirs.as_bytes()))
                .flatten()
                .copied()
                .collect()
        })
    }

    /// Records the stored checkpoints (and `printed`) if the ledger signed
    /// them, checking each new one against the leaves known so far.
    fn observe(&mut self, printed: &[u8]) {
        for w in [Which::Log, Which::Audit] {
            let mut notes: Vec<Vec<u8>> = self.stored(w).into_iter().collect();
            if w == Which::Log && !printed.is_empty() {
                notes.push(printed.to_vec());
            }
            // What the witness cosigned last: it keeps that checkpoint
            // before it answers, so it may not have reached the directory.
            notes.extend(self.latest(w));
            for n in notes {
                if let Some((size, root)) = self.genuine(w, &n) {
                    self.record(w, n, size, root);
                }
            }
        }
        let victim = std::fs::read(&self.victim).unwrap_or_default();
        assert_eq!(
            victim, VICTIM,
            "fsctl wrote through a symbolic link to a file outside the ledger"
        );
    }

    fn record(&mut self, w: Which, note: Vec<u8>, size: u64, root: Hash) {
        let cosigned = self
            .wit
            .as_ref()
            .is_some_and(|x| note::cosigned_at(&note, &x.key).is_ok_and(|t| t.is_some()));
        if cosigned {
            self.count(w, &note, size, root);
        }
        if self.chains[w.i()].notes.contains_key(&note) {
            return;
        }
        if self.chains[w.i()].notes.values().any(|&(s, r)| (s, r) == (size, root)) {
            // The same checkpoint again (with other cosignatures): checked
            // when it was first seen.
            self.chains[w.i()].notes.insert(note, (size, root));
            return;
        }
        self.signed += 1;
        if self.wit.is_some() {
            self.newly_signed(w, &note, size);
        }
        let known = self.chains[w.i()].leaves.len() as u64;
        if size > known {
            let new = self.read_leaves(w, known, size).unwrap_or_else(|e| {
                panic!("{}: leaves {known}..{size} of a checkpoint just signed: {e}", w.dir())
            });
            let mut all = self.chains[w.i()].leaves.clone();
            all.extend(new);
            if root_of(&all) != root && self.wit.is_some() {
                self.diverge(w, note, size, root);
                return;
            }
            assert_eq!(
                root_of(&all),
                root,
                "FORK in {}: the checkpoint of size {size} does not extend the {known} leaves known:\n{}",
                w.dir(),
                String::from_utf8_lossy(&note)
            );
            let chain = &mut self.chains[w.i()];
            chain.leaves = all;
            chain.newest = note.clone();
            // A copy for Go, if the directory verifies at exactly this checkpoint.
            let dir = self.tenant.join(w.dir());
            if std::fs::read(dir.join("checkpoint")).ok().as_deref() == Some(&note[..])
                && verify::verify(&verify::Dir(dir.clone()), &self.keys[w.i()])
                    .is_ok_and(|r| r.size == size && r.beyond.is_empty())
            {
                let to = self.aside.join(format!("capture-{}", w.dir()));
                cp_a(&dir, &to);
                self.chains[w.i()].capture = Some((to, size, root));
            }
        } else {
            let leaves = &self.chains[w.i()].leaves[..size as usize];
            if root_of(leaves) != root && self.wit.is_some() {
                self.diverge(w, note, size, root);
                return;
            }
            assert_eq!(
                root_of(leaves),
                root,
                "FORK in {}: two checkpoints of size {size} with different roots:\n{}",
                w.dir(),
                String::from_utf8_lossy(&note)
            );
            if self.chains[w.i()].newest.is_empty() {
                self.chains[w.i()].newest = note.clone();
            }
        }
        self.chains[w.i()].notes.insert(note, (size, root));
    }

    /// Witnessed: a checkpoint the witness cosigned. All of them must be
    /// on one line, with the same root at the same size.
    fn count(&mut self, w: Which, note: &[u8], size: u64, root: Hash) {
        let chain = &mut self.chains[w.i()];
        if let Some((r, _)) = chain.cosigned.get(&size) {
            assert_eq!(
                *r,
                root,
                "FORK AMONG COSIGNED checkpoints of {}: two of size {size}:\n{}",
                w.dir(),
                String::from_utf8_lossy(note)
            );
            return;
        }
        chain.cosigned.insert(size, (root, note.to_vec()));
        // Learned now, if it is the first time this tree is seen.
        if !chain.notes.values().any(|&p| p == (size, root)) {
            return;
        }
        if fits(&chain.leaves, size, &root) {
            return;
        }
        // A tree of a line given up is cosigned after all (a checkpoint put
        // back that extends what the witness knew): that line is taken up.
        let others = &self.chains[w.i()].others;
        let line = others.iter().position(|b| self.holds_all_cosigned(w, b));
        let Some(i) = line else {
            panic!(
                "FORK AMONG COSIGNED checkpoints of {}: no history holds them all:\n{}",
                w.dir(),
                String::from_utf8_lossy(note)
            )
        };
        let b = self.chains[w.i()].others.remove(i);
        self.switch(w, b);
    }

    fn holds_all_cosigned(&self, w: Which, line: &[Hash]) -> bool {
        self.chains[w.i()].cosigned.iter().all(|(&s, (r, _))| fits(line, s, r))
    }

    /// Witnessed: a checkpoint not seen before, signed by the command just
    /// run. With the witness configured, it was cosigned as it began: what
    /// it signed is no smaller than anything cosigned before it.
    fn newly_signed(&self, w: Which, note: &[u8], size: u64) {
        let wit = self.wit.as_ref().unwrap();
        let largest = self.chains[w.i()].cosigned.keys().next_back().copied().unwrap_or(0);
        if wit.configured {
            assert!(
                size >= largest,
                "FORK in {}: signed at size {size} with the witness configured, after it cosigned size {largest}:\n{}",
                w.dir(),
                String::from_utf8_lossy(note)
            );
        }
    }

    /// Witnessed: a tree of `size` leaves with `root` was signed that is not
    /// on the line of leaves kept: allowed only if it holds every checkpoint
    /// the witness cosigned (the line given up never counted), or if the
    /// witness was not configured for that command (it never counts).
    fn diverge(&mut self, w: Which, note: Vec<u8>, size: u64, root: Hash) {
        let new = self.read_leaves(w, 0, size).unwrap_or_else(|e| {
            panic!("{}: leaves 0..{size} of a checkpoint just signed: {e}", w.dir())
        });
        assert_eq!(root_of(&new), root, "{}: the leaves of a checkpoint just signed", w.dir());
        let configured = self.wit.as_ref().unwrap().configured;
        if self.holds_all_cosigned(w, &new) {
            self.stats.gap_forks += 1;
            self.chains[w.i()].notes.insert(note, (size, root));
            self.switch(w, new);
            return;
        } else {
            assert!(
                !configured,
                "FORK in {}: signed with the witness configured, size {size} does not extend what it cosigned ({:?}):\n{}",
                w.dir(),
                self.chains[w.i()].cosigned.keys().collect::<Vec<_>>(),
                String::from_utf8_lossy(&note)
            );
            self.stats.unwitnessed_forks += 1;
            self.chains[w.i()].others.push(new);
        }
        self.chains[w.i()].notes.insert(note, (size, root));
    }

    /// Witnessed: `line` becomes the line of leaves kept; the old one is
    /// kept aside; the newest checkpoint and Go's copy follow.
    fn switch(&mut self, w: Which, line: Vec<Hash>) {
        let chain = &mut self.chains[w.i()];
        let old = std::mem::replace(&mut chain.leaves, line);
        chain.others.push(old);
        let line = &chain.leaves;
        chain.others.retain(|b| !(b.len() <= line.len() && line[..b.len()] == b[..]));
        let newest = chain
            .notes
            .iter()
            .filter(|(_, (s, _))| *s == line.len() as u64)
            .find(|(_, (s, r))| fits(line, *s, r))
            .map(|(n, _)| n.clone());
        chain.newest = newest.unwrap_or_default();
        if chain.capture.as_ref().is_some_and(|(_, s, r)| !fits(line, *s, r)) {
            chain.capture = None;
        }
    }

    /// The leaf hashes `from..to` from log `w`'s entry bundles.
    fn read_leaves(&self, w: Which, from: u64, to: u64) -> Result<Vec<Hash>, String> {
        let dir = self.tenant.join(w.dir());
        let mut out = Vec::new();
        for n in from / 256..to.div_ceil(256) {
            let width = (to - n * 256).min(256) as u16;
            let t = tlog::Tile::entries(n, width);
            let path = dir.join(t.path().as_str());
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            for (i, e) in tlog::bundle::entries(&data).enumerate() {
                let e = e.map_err(|e| format!("{}: {e:?}", path.display()))?;
                let index = n * 256 + i as u64;
                if (from..to).contains(&index) {
                    out.push(tlog::leaf_hash(e));
                }
            }
        }
        if out.len() as u64 != to - from {
            return Err(format!("{} leaves, not {}", out.len(), to - from));
        }
        Ok(out)
    }

    /// Runs fsctl; a command that is not killed must succeed or fail with
    /// exit status 1 (never a panic).
    fn run(&mut self, args: &[&str], stdin: &[u8], kill: Option<(usize, u8)>) -> (Output, bool) {
        self.stats.commands += 1;
        self.last = Some((args.iter().map(|s| s.to_string()).collect(), stdin.to_vec()));
        let Some((syscall, n)) = kill else {
            let out = fsctl(&self.root, args, stdin);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "fsctl {args:?}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            self.outcome = Some((out.status.code(), false, err));
            return (out, false);
        };
        let syscall = KILL_POINTS[syscall];
        let log = self.aside.join("strace.log");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-o"]).arg(&log).args(["-e", &format!("trace={syscall}")]);
        cmd.args(["-e", &format!("inject={syscall}:signal=KILL:when={n}")]);
        let out = run_with_input(cmd.arg(FSCTL), &self.root, args, stdin);
        let killed =
            std::fs::read_to_string(&log).unwrap_or_default().contains("+++ killed by SIGKILL");
        assert!(
            killed || matches!(out.status.code(), Some(0 | 1)),
            "fsctl {args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        self.stats.killed += u64::from(killed);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        self.outcome = Some((out.status.code(), killed, err));
        (out, killed)
    }

    /// The witness: before a write command, a directory that is an older
    /// genuine state with no trace of a rollback (the known limit) is
    /// caught with the newest checkpoint kept and repaired.
    fn witness(&mut self) {
        for w in [Which::Log, Which::Audit] {
            if !self.undetectable(w) {
                continue;
            }
            self.stats.witness_caught += 1;
            // `restore` needs the newer objects: there after a forged intent.
            let newest = self.chains[w.i()].newest.clone();
            let file = self.fresh("newest");
            std::fs::write(&file, &newest).unwrap();
            let mut args = vec!["restore", "acme", "--checkpoint", file.to_str().unwrap()];
            if w == Which::Audit {
                args.push("--audit");
            }
            let (out, _) = self.run(&args, b"", None);
            self.observe(&[]);
            if out.status.success() && !self.undetectable(w) {
                self.stats.witness_restored += 1;
                continue;
            }
            match self.replica.clone() {
                Some(r) => {
                    cp_a(&r, &self.tenant);
                    self.stats.witness_repaired += 1;
                }
                None => {
                    self.frozen = true;
                    self.stats.frozen += 1;
                }
            }
        }
    }

    /// Whether log `w` is an older state the ledger signed, with nothing
    /// in the directory to show it was rolled back: no object beyond its
    /// checkpoint, or an intent from its size that explains them.
    fn undetectable(&self, w: Which) -> bool {
        self.traceless(w).is_some_and(|size| size < self.chains[w.i()].leaves.len() as u64)
    }

    /// The size of log `w`'s stored checkpoint if the ledger signed it and
    /// nothing in the directory shows a larger tree: no object beyond it,
    /// or an intent from its size that explains them.
    fn traceless(&self, w: Which) -> Option<u64> {
        let stored = self.stored(w)?;
        let known = self.chains[w.i()].notes.get(&stored).copied();
        // Witnessed, a checkpoint with other cosignature lines is the same one.
        let (size, _) = known.or_else(|| self.wit.as_ref().and(self.genuine(w, &stored)))?;
        let dir = self.tenant.join(w.dir());
        // As the store reads it: the record it rewrites in place, or the
        // text a forged one (ForgeIntent) has.
        if store_posix::read_intent(&dir).is_ok_and(|from| from == Some(size)) {
            return Some(size);
        }
        let beyond = tree(&dir).iter().any(|p| {
            p.to_str().and_then(tlog::Tile::parse).is_some_and(|t| !t.within(size))
                && !dir.join(p).is_dir()
        });
        (!beyond).then_some(size)
    }

    /// Whether log `w`'s stored checkpoint is the newest kept (up to cosignatures).
    fn at_newest(&self, w: Which) -> bool {
        let stored = self.stored(w).and_then(|n| self.genuine(w, &n));
        stored.is_some() && stored == self.genuine(w, &self.chains[w.i()].newest)
    }

    /// After a command: a copy of the tenant when both checkpoints are the newest.
    fn after(&mut self) {
        let current = [Which::Log, Which::Audit].iter().all(|&w| self.at_newest(w));
        if current {
            let to = self.aside.join("replica");
            cp_a(&self.tenant, &to);
            self.replica = Some(to);
        }
    }

    fn append(&mut self, sizes: &[u16], kill: Option<(usize, u8)>) {
        let mut input = Vec::new();
        let mut records = Vec::new();
        for &s in sizes {
            let r = record_bytes(self.made, s);
            self.made += 1;
            input.extend_from_slice(&r);
            input.push(b'\n');
            records.push(r);
        }
        let before = [self.stored(Which::Log), self.stored(Which::Audit)];
        let (out, killed) = self.run(&["append", "acme"], &input, kill);
        self.acknowledge(&out, &records);
        self.check_refusal(&out, killed, before, &[Which::Log, Which::Audit]);
    }

    fn acknowledge(&mut self, out: &Output, records: &[Vec<u8>]) {
        let said = String::from_utf8_lossy(&out.stdout);
        let Some((first, last)) = said.trim().split_once(' ') else { return };
        let (first, last): (u64, u64) = (first.parse().unwrap(), last.parse().unwrap());
        assert_eq!(last - first + 1, records.len() as u64, "append printed {said}");
        for (i, r) in (first..=last).zip(records) {
            if let Some(old) = self.acked.insert(i, r.clone()) {
                assert_eq!(&old, r, "FORK: index {i} acknowledged for two different records");
            }
        }
    }

    /// A command that failed (not killed) signed nothing new in `logs`.
    fn check_refusal(
        &mut self,
        out: &Output,
        killed: bool,
        before: [Option<Vec<u8>>; 2],
        logs: &[Which],
    ) {
        self.observe(&[]);
        if killed || out.status.success() {
            return;
        }
        self.stats.refused += 1;
        for &w in logs {
            assert_eq!(
                self.signed_part(self.stored(w)),
                self.signed_part(before[w.i()].clone()),
                "a refused command replaced the {} checkpoint: {}",
                w.dir(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn read(&mut self, audit: bool, from: u8, kill: Option<(usize, u8)>) {
        let size = self.chains[usize::from(audit)].leaves.len() as u64;
        let from = (u64::from(from) % (size + 2)).to_string();
        let mut args = vec!["read", "acme", "--from", &from, "--format", "hex"];
        if audit {
            args.push("--audit");
        }
        let before = [self.stored(Which::Log), self.stored(Which::Audit)];
        let (out, killed) = self.run(&args, b"", kill);
        if out.status.success() && !audit {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let (i, h) = line.split_once(' ').unwrap();
                let i: u64 = i.parse().unwrap();
                if let Some(r) = self.acked.get(&i) {
                    assert_eq!(&hex(h), r, "record {i} read back changed");
                }
            }
        }
        // A refused read commits nothing to the record log; it may have
        // audited itself before failing to serve (a damaged record).
        self.check_refusal(&out, killed, before, &[Which::Log]);
    }

    fn checkpoint(&mut self, kill: Option<(usize, u8)>) {
        let before = [self.stored(Which::Log), self.stored(Which::Audit)];
        let (out, killed) = self.run(&["checkpoint", "acme"], b"", kill);
        if out.status.success() {
            self.observe(&out.stdout.clone());
        }
        self.check_refusal(&out, killed, before, &[Which::Log, Which::Audit]);
    }

    fn restore(&mut self, w: Which, kill: Option<(usize, u8)>) {
        let newest = self.chains[w.i()].newest.clone();
        let file = self.fresh("newest");
        std::fs::write(&file, &newest).unwrap();
        let mut args = vec!["restore", "acme", "--checkpoint", file.to_str().unwrap()];
        if w == Which::Audit {
            args.push("--audit");
        }
        let (_out, _killed) = self.run(&args, b"", kill);
        self.observe(&[]);
    }

    fn step(&mut self, op: &Op) {
        self.stats.ops += 1;
        let writes = matches!(
            op,
            Op::Append(_)
                | Op::Read { .. }
                | Op::Checkpoint
                | Op::Crash { .. }
                | Op::Rerun
                | Op::RestoreNewest(_)
        );
        // Witnessed, a command that opens the tenant (all but restore) is
        // watched: the real witness must stop it on a rollback.
        let opens = self.wit.is_some()
            && match op {
                Op::Append(_) | Op::Read { .. } | Op::Checkpoint => true,
                Op::Crash { cmd, .. } => !matches!(cmd, Cmd::Restore(_)),
                Op::Rerun => self.last.as_ref().is_some_and(|(a, _)| a[0] != "restore"),
                _ => false,
            };
        if writes && self.wit.is_none() {
            self.witness();
            if self.frozen {
                return;
            }
        }
        if writes && let Some(wit) = self.wit.as_mut() {
            let text = std::fs::read_to_string(self.tenant.join("witnesses")).unwrap_or_default();
            wit.configured = text.lines().any(|l| l == wit.line);
            self.stats.unconfigured += u64::from(!wit.configured);
        }
        let before = opens.then(|| self.before_command());
        self.outcome = None;
        let log_files = |w: &World, which: Which| -> Vec<PathBuf> {
            let dir = w.tenant.join(which.dir());
            tree(&dir).into_iter().map(|p| dir.join(p)).filter(|p| p.is_file()).collect()
        };
        match op {
            Op::Append(sizes) => self.append(sizes, None),
            Op::Read { audit, from } => self.read(*audit, *from, None),
            Op::Checkpoint => self.checkpoint(None),
            Op::Crash { cmd, syscall, n } => {
                let kill = Some((*syscall, *n));
                match *cmd {
                    Cmd::Append { records } => {
                        let sizes: Vec<u16> = (0..records).map(|i| 1 + i % 40).collect();
                        self.append(&sizes, kill);
                    }
                    Cmd::Read => self.read(false, 0, kill),
                    Cmd::Checkpoint => self.checkpoint(kill),
                    Cmd::Restore(w) => self.restore(w, kill),
                }
            }
            Op::Rerun => {
                if let Some((args, stdin)) = self.last.clone() {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let before = [self.stored(Which::Log), self.stored(Which::Audit)];
                    let (out, killed) = self.run(&args, &stdin, None);
                    if args[0] == "append" {
                        // Records made again: the same bytes may not be
                        // acknowledged twice under one index, which acknowledge checks.
                        let records: Vec<Vec<u8>> = stdin
                            .split(|&b| b == b'\n')
                            .filter(|r| !r.is_empty())
                            .map(<[u8]>::to_vec)
                            .collect();
                        self.acknowledge(&out, &records);
                        self.check_refusal(&out, killed, before, &[Which::Log, Which::Audit]);
                    } else {
                        self.observe(&[]);
                    }
                }
            }
            Op::Rollback(w, p) => {
                let older: Vec<Vec<u8>> = self.chains[w.i()].notes.keys().cloned().collect();
                if let Some(note) = pick(&older, *p) {
                    std::fs::write(self.checkpoint_path(*w), note).unwrap();
                }
            }
            Op::Wipe(w) => {
                let dir = self.tenant.join(w.dir());
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let p = e.path();
                    if e.file_type().unwrap().is_dir() {
                        std::fs::remove_dir_all(&p).unwrap();
                    } else {
                        std::fs::remove_file(&p).unwrap();
                    }
                }
            }
            Op::Delete(w, p) => {
                if let Some(f) = pick(&log_files(self, *w), *p) {
                    std::fs::remove_file(f).unwrap();
                }
            }
            Op::Flip { pick: p, at, bit } => {
                let files: Vec<PathBuf> = tree(&self.tenant)
                    .into_iter()
                    .map(|p| self.tenant.join(p))
                    .filter(|p| {
                        std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
                            && p.file_name().is_some_and(|n| n != "lock")
                    })
                    .collect();
                if let Some(f) = pick(&files, *p) {
                    let mut data = std::fs::read(&f).unwrap();
                    if !data.is_empty() {
                        let at = at % data.len();
                        data[at] ^= 1 << bit;
                        std::fs::write(&f, data).unwrap();
                    }
                }
            }
            Op::Symlink(w, p) => {
                let dir = self.tenant.join(w.dir());
                let all: Vec<PathBuf> = tree(&dir).into_iter().map(|p| dir.join(p)).collect();
                if let Some(f) = pick(&all, *p) {
                    let to = self.fresh("moved");
                    std::fs::rename(&f, &to).unwrap();
                    std::os::unix::fs::symlink(&to, &f).unwrap();
                }
            }
            Op::TempSymlink(i) => {
                let at = self.tenant.join(TEMP_NAMES[*i]);
                if at.parent().is_some_and(Path::is_dir) && std::fs::symlink_metadata(&at).is_err()
                {
                    std::os::unix::fs::symlink(&self.victim, &at).unwrap();
                }
            }
            Op::ForgeIntent(w, p) => {
                let sizes: Vec<u64> = self.chains[w.i()].notes.values().map(|v| v.0).collect();
                if let Some(size) = pick(&sizes, *p) {
                    let text = format!("service-fs commit intent\nfrom {size}\n");
                    let _ = std::fs::write(self.tenant.join(format!("{}.intent", w.dir())), text);
                }
            }
            Op::RestoreNewest(w) => self.restore(*w, None),
            Op::TakeBackup => {
                let to = self.fresh("backup");
                cp_a(&self.tenant, &to);
                self.backups.push(to);
            }
            Op::RestoreBackup(p) => {
                if let Some(b) = pick(&self.backups, *p) {
                    cp_a(&b, &self.tenant);
                }
            }
            Op::Repair => {
                if let Some(r) = self.replica.clone() {
                    cp_a(&r, &self.tenant);
                }
            }
        }
        if let Some(before) = before {
            self.after_command(before);
        }
        if writes {
            self.after();
        }
    }

    /// Witnessed, before a command: for each log, whether its stored
    /// checkpoint is older than what the witness cosigned last, whether
    /// the directory shows no trace of a larger tree, and what is signed.
    fn before_command(&mut self) -> Before {
        let mut b = Before::default();
        for w in [Which::Log, Which::Audit] {
            let stored = self.stored(w);
            let size = stored.as_ref().and_then(|n| self.genuine(w, n)).map(|(s, _)| s);
            let latest = self.latest_size(w);
            let traceless = self.traceless(w).is_some();
            b.behind[w.i()] = size.is_some_and(|s| s < latest);
            b.traceless[w.i()] = traceless;
            if traceless && !b.behind[w.i()] && self.undetectable(w) {
                // Below a checkpoint signed but never cosigned: the witness
                // cannot know of it (the gap).
                self.stats.unwitnessed += 1;
            }
            b.signed[w.i()] = self.signed_part(stored);
        }
        b.count = self.signed;
        b
    }

    /// Witnessed, after a command: on a rollback to below what the witness
    /// cosigned, it failed and signed nothing; one that left no trace is
    /// then repaired as an operator would.
    fn after_command(&mut self, b: Before) {
        let configured = self.wit.as_ref().unwrap().configured;
        if !configured || !(b.behind[0] || b.behind[1]) {
            return;
        }
        self.stats.behind += 1;
        let (code, killed, err) = self.outcome.clone().expect("a command was run");
        for w in [Which::Log, Which::Audit] {
            assert_eq!(
                self.signed_part(self.stored(w)),
                b.signed[w.i()],
                "the {} checkpoint changed on a command run on a rollback the witness knows of: {err}",
                w.dir()
            );
        }
        assert_eq!(self.signed, b.count, "a checkpoint was signed on a rollback: {err}");
        assert!(killed || code == Some(1), "a command succeeded on a rollback: {code:?}");
        let traceless: Vec<Which> = [Which::Log, Which::Audit]
            .into_iter()
            .filter(|w| b.behind[w.i()] && b.traceless[w.i()])
            .collect();
        if traceless.is_empty() {
            return;
        }
        self.stats.stopped += u64::from(err.contains("rolled back or forked"));
        // The operator's repair: restore with the newest checkpoint, or
        // put back the replica.
        for w in traceless {
            let behind = |x: &World| {
                x.stored(w).and_then(|n| x.genuine(w, &n)).is_none_or(|(s, _)| s < x.latest_size(w))
            };
            self.stats.witness_caught += 1;
            self.restore(w, None);
            if !behind(self) {
                self.stats.witness_restored += 1;
                continue;
            }
            if let Some(r) = self.replica.clone() {
                cp_a(&r, &self.tenant);
                self.stats.witness_repaired += 1;
            }
            if behind(self) {
                self.stats.unrepaired += 1;
            }
        }
    }

    /// The end of a case: consistency proofs from every checkpoint kept to
    /// the largest, with our `tlog` and Go's; and, if the ledger verifies,
    /// every acknowledged record in it.
    fn finish(&mut self) {
        for w in [Which::Log, Which::Audit] {
            let chain = &self.chains[w.i()];
            let size = chain.leaves.len() as u64;
            let root = root_of(&chain.leaves);
            let mut go_lines = String::new();
            let mut orphans: Vec<(u64, Hash)> = Vec::new();
            for &(old, old_root) in chain.notes.values() {
                if self.wit.is_some() && !fits(&chain.leaves, old, &old_root) {
                    // Signed, never cosigned, and given up (the gap).
                    assert!(
                        chain.cosigned.get(&old).is_none_or(|(r, _)| *r != old_root),
                        "a cosigned checkpoint off the line"
                    );
                    if !orphans.contains(&(old, old_root)) {
                        orphans.push((old, old_root));
                    }
                    continue;
                }
                if old == 0 {
                    assert_eq!(old_root, tlog::EMPTY_ROOT, "a size-0 checkpoint with a root");
                    continue;
                }
                let mut leaves = Leaves(&chain.leaves);
                let proof = tlog::proof::prove_consistency(size, old, &mut leaves).unwrap();
                tlog::proof::verify_consistency(&proof, size, &root, old, &old_root)
                    .unwrap_or_else(|e| panic!("FORK in {}: {old} to {size}: {e:?}", w.dir()));
                if let Some((_, csize, _)) = &chain.capture {
                    let csize = *csize;
                    if old <= csize {
                        let leaves = &chain.leaves[..csize as usize];
                        let p = tlog::proof::prove_consistency(csize, old, &mut Leaves(leaves))
                            .unwrap();
                        go_lines += &serde_json::json!({
                            "type": "consistency",
                            "old_size": old,
                            "tree_size": csize,
                            "old_root": old_root.to_string(),
                            "root_hash": root_of(leaves).to_string(),
                            "proof": p.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        })
                        .to_string();
                        go_lines.push('\n');
                    }
                }
            }
            if let Some((dir, csize, _)) = &chain.capture {
                let proofs = self.aside.join(format!("proofs-{}.jsonl", w.dir()));
                std::fs::write(&proofs, &go_lines).unwrap();
                let s = oracle::check(dir, &self.key_strings[w.i()], &proofs)
                    .unwrap_or_else(|e| panic!("Go: {}: {e}", w.dir()));
                assert_eq!(s.size, *csize);
                self.stats.go_proofs += s.proofs;
            }
            // Go's note package opens the largest checkpoint too.
            let newest = self.aside.join(format!("newest-{}.note", w.dir()));
            std::fs::write(&newest, &chain.newest).unwrap();
            let opened = oracle::open(&self.key_strings[w.i()], &newest)
                .unwrap_or_else(|e| panic!("Go: {}: {e}", w.dir()));
            assert_eq!(opened.size, size);
            self.stats.orphans += orphans.len() as u64;
            let n = chain.notes.len() as u64;
            match w {
                Which::Log => self.stats.log_checkpoints += n,
                Which::Audit => self.stats.audit_checkpoints += n,
            }
            self.stats.largest = self.stats.largest.max(size);
        }
        if self.frozen {
            return;
        }
        let verified =
            fsctl(&self.root, &["verify", "acme", "--key", &self.key_strings[0]], b"").status;
        if self.wit.is_some() {
            self.finish_witnessed(verified.success());
        }
        if verified.success() {
            if self.wit.is_none() {
                self.witness();
            }
            if self.frozen {
                return;
            }
            // The ledger files verify; a damaged signing key may still stop the read.
            let out = fsctl(&self.root, &["read", "acme", "--from", "0", "--format", "hex"], b"");
            assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
            if !out.status.success() {
                return;
            }
            let mut got = BTreeSet::new();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let (i, h) = line.split_once(' ').unwrap();
                let i: u64 = i.parse().unwrap();
                got.insert(i);
                if let Some(r) = self.acked.get(&i) {
                    assert_eq!(&hex(h), r, "record {i} read back changed");
                }
            }
            let at_newest = self.stored(Which::Log).as_deref() == Some(&self.chains[0].newest[..]);
            if at_newest {
                let lost: Vec<&u64> = self.acked.keys().filter(|i| !got.contains(i)).collect();
                assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
            }
        }
    }
}

impl World {
    /// Witnessed, the end of a case: acknowledged records are in the
    /// cosigned history; `verify --witness` passes on the newest cosigned
    /// checkpoints; `verify --trusted` with them catches a traceless rollback.
    fn finish_witnessed(&mut self, verified: bool) {
        let wkey = self.wit.as_ref().unwrap().key.clone();
        let newest: Vec<(u64, Hash, Vec<u8>)> = [Which::Log, Which::Audit]
            .iter()
            .map(|&w| {
                let (s, (r, n)) = self.chains[w.i()].cosigned.last_key_value().unwrap();
                (*s, *r, n.clone())
            })
            .collect();
        let line = &self.chains[0].leaves;
        for (&i, r) in &self.acked {
            assert!(i < newest[0].0, "record {i} acknowledged, not in a cosigned checkpoint");
            assert_eq!(
                line[i as usize],
                tlog::leaf_hash(r),
                "record {i} acknowledged, then changed"
            );
        }
        let stored: Vec<Option<Vec<u8>>> =
            [Which::Log, Which::Audit].iter().map(|&w| self.stored(w)).collect();
        let at_cosigned = [Which::Log, Which::Audit].iter().all(|&w| {
            let n = stored[w.i()].as_deref().unwrap_or_default();
            note::cosigned_at(n, &wkey).is_ok_and(|t| t.is_some())
                && self
                    .genuine(w, n)
                    .is_some_and(|(s, r)| (s, r) == (newest[w.i()].0, newest[w.i()].1))
        });
        let key = self.key_strings[0].clone();
        let wk = wkey.to_string();
        let with_witness =
            fsctl(&self.root, &["verify", "acme", "--key", &key, "--witness", &wk], b"");
        if verified && at_cosigned {
            assert!(
                with_witness.status.success(),
                "verify --witness fails on the newest cosigned checkpoints: {}",
                String::from_utf8_lossy(&with_witness.stderr)
            );
            self.stats.witness_verified += 1;
        }
        if with_witness.status.success() {
            for (w, n) in stored.iter().enumerate() {
                let n = n.as_deref().unwrap_or_default();
                assert!(
                    note::cosigned_at(n, &wkey).is_ok_and(|t| t.is_some()),
                    "verify --witness passed on a checkpoint not cosigned ({w})"
                );
            }
        }
        let files: Vec<PathBuf> = [Which::Log, Which::Audit]
            .iter()
            .map(|&w| {
                let f = self.aside.join(format!("cosigned-{}.note", w.dir()));
                std::fs::write(&f, &newest[w.i()].2).unwrap();
                f
            })
            .collect();
        let mut args = vec!["verify", "acme", "--key", &key];
        for f in &files {
            args.extend(["--trusted", f.to_str().unwrap()]);
        }
        let trusted = fsctl(&self.root, &args, b"");
        let rolled = [Which::Log, Which::Audit]
            .iter()
            .any(|&w| self.traceless(w).is_some_and(|s| s < newest[w.i()].0));
        if rolled {
            assert!(!trusted.status.success(), "verify --trusted passed a traceless rollback");
            self.stats.trusted_caught += 1;
        }
        let ahead = [Which::Log, Which::Audit].iter().all(|&w| {
            let n = stored[w.i()].as_deref().unwrap_or_default();
            self.genuine(w, n).is_some_and(|(s, r)| {
                s >= newest[w.i()].0 && fits(&self.chains[w.i()].leaves, s, &r)
            })
        });
        if verified && ahead {
            assert!(
                trusted.status.success(),
                "verify --trusted fails on a ledger that extends the newest cosigned checkpoints: {}",
                String::from_utf8_lossy(&trusted.stderr)
            );
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        max_shrink_time: 600_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_a_fork(ops in proptest::collection::vec(op(), 1..28)) {
        let mut w = World::new(false);
        for op in &ops {
            w.step(op);
        }
        w.finish();
        w.stats.cases = 1;
        let mut total = TOTAL.lock().unwrap();
        total.add(&w.stats);
        eprintln!("so far: {:?}", *total);
    }
}

fn witnessed_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_WITNESSED_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: witnessed_cases(),
        max_shrink_iters: 2048,
        max_shrink_time: 600_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_a_fork_with_a_witness(ops in proptest::collection::vec(witnessed_op(), 1..28)) {
        let mut w = World::new(true);
        for op in &ops {
            w.step(op);
        }
        w.finish();
        w.stats.cases = 1;
        let mut total = TOTAL_WITNESSED.lock().unwrap();
        total.add(&w.stats);
        eprintln!("so far, witnessed: {:?}", *total);
    }
}
