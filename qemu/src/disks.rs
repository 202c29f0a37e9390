//! The disk image QEMU attaches: made at the size the system needs, and
//! checked after a run the way an auditor would, with `fsctl` and Go.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use sysgen::Described;

use crate::checkpoints::verifier;
use crate::console::Printed;

/// Creates `path` blank at `bytes`, the size the system needs, if it is
/// missing; whether it did. An existing image is kept as it is.
pub fn ensure(path: &Path, bytes: u64) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f =
        std::fs::File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(bytes)?;
    Ok(true)
}

/// Replaces `path` with a blank disk of `bytes`.
pub fn fresh(path: &Path, bytes: u64) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    ensure(path, bytes).map(drop)
}

fn fsctl(fsctl: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(fsctl)
        .args(args)
        .output()
        .with_context(|| format!("running {}", fsctl.display()))?;
    if !out.status.success() {
        bail!("fsctl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Exports `image` with `fsctl disk export` into `out/export`, verifies
/// every tenant's ledgers there with `fsctl verify` and Go's `tlog` and
/// `note`, and the image itself with `fsctl disk verify`. Returns one line
/// per check that passed, or the failures.
pub fn verify_disk(
    fsctl_bin: &Path,
    image: &Path,
    system: &Described,
    keys: &Path,
    out: &Path,
) -> Result<Vec<String>> {
    let export: PathBuf = out.join("export");
    if export.exists() {
        std::fs::remove_dir_all(&export)?;
    }
    let img = image.to_string_lossy();
    fsctl(fsctl_bin, &["disk", "export", &img, &export.to_string_lossy()])?;
    let mut done = Vec::new();
    let mut disk_keys = Vec::new();
    for t in &system.tenants {
        let key = verifier(keys, t, "records")?.to_string();
        let dir = export.to_string_lossy();
        let ours = fsctl(fsctl_bin, &["--dir", &dir, "verify", &t.name, "--key", &key])?;
        done.extend(ours.lines().map(|l| format!("fsctl verify (exported): {l}")));
        for (which, kind) in [("log", "records"), ("audit", "audit")] {
            let k = verifier(keys, t, kind)?.to_string();
            let empty = out.join("no-proofs.jsonl");
            std::fs::write(&empty, "")?;
            let go = oracle::check(&export.join(&t.name).join(which), &k, &empty)
                .map_err(|e| anyhow::anyhow!("Go tlog/note on {}/{which}: {e}", t.name))?;
            done.push(format!(
                "Go tlog/note (exported): {}/{which} size {} verified",
                t.name, go.size
            ));
        }
        disk_keys.push(format!("{}={key}", t.name));
    }
    let mut args = vec!["disk", "verify", &img];
    for k in &disk_keys {
        args.extend(["--key", k]);
    }
    let ours = fsctl(fsctl_bin, &args)?;
    done.extend(ours.lines().map(|l| format!("fsctl disk verify: {l}")));
    Ok(done)
}

/// The root of the first `size` records of namespace `name` on `image`.
pub fn root_at(image: &Path, name: &str, size: u64) -> Result<tlog::Hash> {
    let dev = disk::file::FileDevice::open_read_only(image)
        .with_context(|| format!("{}", image.display()))?;
    disk::image::with_image(dev, |img| -> Result<tlog::Hash> {
        let part = img.part(name).with_context(|| format!("no namespace {name}"))?;
        let mut tree = tlog::Builder::new();
        let mut k = 0;
        while tree.size() < size {
            let w = (size - k * 256).min(256) as u16;
            let t = tlog::Tile::entries(k, w);
            let bytes = disk::image::read_object(&img.dev, &mut part.borrow_mut(), &t)
                .map_err(anyhow::Error::msg)?
                .with_context(|| format!("{name}: {} missing", t.path()))?;
            for e in tlog::bundle::entries(&bytes) {
                let e = e.map_err(|_| anyhow::anyhow!("{name}: {} malformed", t.path()))?;
                tree.push(tlog::leaf_hash(e)).map_err(|_| anyhow::anyhow!("tree full"))?;
            }
            k += 1;
        }
        Ok(tree.root())
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?
}

/// Whether a later boot kept everything an earlier one acknowledged: for
/// each checkpoint `acknowledged` (printed at the end of the earlier boot),
/// the later boot `recovered` the same one, or a larger tree whose first
/// records, read from `image`, hash to the acknowledged root (other PDs may
/// have appended after the earlier checkpoint was printed). Returns a line
/// per checkpoint, and whether all were kept.
pub fn kept(image: &Path, acknowledged: &[Printed], recovered: &[Printed]) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = !acknowledged.is_empty();
    for p in acknowledged {
        let what = format!("{} {}", p.tenant, p.kind);
        let found = recovered.iter().find(|r| r.tenant == p.tenant && r.kind == p.kind);
        let size = |n: &[u8]| note::Checkpoint::peek_size(n).unwrap_or(0);
        let verdict = match found {
            None => Err("nothing was recovered".to_string()),
            Some(r) if r.note == p.note => {
                Ok(format!("the acknowledged checkpoint, size {}", size(&p.note)))
            }
            Some(r) if size(&r.note) < size(&p.note) => Err(format!(
                "size {} is smaller than the acknowledged {}",
                size(&r.note),
                size(&p.note)
            )),
            Some(r) => {
                let name =
                    format!("{}/{}", p.tenant, if p.kind == "audit" { "audit" } else { "log" });
                let acked_root = std::str::from_utf8(&p.note)
                    .ok()
                    .and_then(|t| {
                        t.rfind("\n\n").and_then(|i| note::Checkpoint::parse(&t[..i + 1]).ok())
                    })
                    .map(|cp| cp.root);
                match (root_at(image, &name, size(&p.note)), acked_root) {
                    (Ok(root), Some(want)) if root == want => Ok(format!(
                        "size {}, whose first {} records are the acknowledged ones",
                        size(&r.note),
                        size(&p.note)
                    )),
                    (Ok(_), _) => Err(format!(
                        "its first {} records are not the acknowledged tree",
                        size(&p.note)
                    )),
                    (Err(e), _) => Err(format!("{e:#}")),
                }
            }
        };
        match verdict {
            Ok(l) => lines.push(format!("after the reboot {what}: {l}")),
            Err(e) => {
                ok = false;
                lines.push(format!("FAILURE: after the reboot {what}: {e}"));
            }
        }
    }
    (lines, ok)
}
