//! `fsctl disk`: a service-fs disk image (psdb's disk on seL4), read-only.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use disk::file::FileDevice;
use disk::image::{OpenImage, Part, PartSource, export_part, with_image};
use note::Verifier;
use tenant::{AUDIT_DIR, LOG_DIR, valid_tenant};

/// A namespace's tenant and which of its ledgers it is (`log` or `audit`).
fn split(name: &str) -> Option<(&str, &'static str)> {
    let (tenant, which) = name.rsplit_once('/')?;
    let which = match which {
        "log" => LOG_DIR,
        "audit" => AUDIT_DIR,
        _ => return None,
    };
    valid_tenant(tenant).then_some((tenant, which))
}

fn open<R>(img: &Path, f: impl FnOnce(&OpenImage<'_, FileDevice>) -> Result<R>) -> Result<R> {
    let dev = FileDevice::open_read_only(img).with_context(|| format!("{}", img.display()))?;
    with_image(dev, f).map_err(|e| anyhow::anyhow!("{}: {e}", img.display()))?
}

/// What a namespace holds, in a few words.
fn state(p: &Part) -> String {
    let o = &p.opened;
    if let Err(e) = &p.ns {
        return format!("unreadable: {e}");
    }
    let mut s = if o.fresh {
        "never initialised".to_string()
    } else if o.no_checkpoint {
        "holds data but no readable checkpoint".to_string()
    } else {
        format!(
            "checkpoint size {} (generation {}, {} objects)",
            o.tree_size, o.generation, o.records
        )
    };
    if o.discarded > 0 {
        s += &format!("; a torn tail of {} bytes after the checkpoint", o.discarded);
    }
    if let Some(at) = o.first_damage {
        s += &format!(
            "; DAMAGED: {} bad and {} unreadable records, first at {at:#x}",
            o.corrupt, o.lost
        );
    }
    s
}

/// `fsctl disk ls IMG`.
pub fn ls(img: &Path) -> Result<()> {
    open(img, |image| {
        let sb = &image.superblock;
        crate::say(format_args!(
            "{}: service-fs disk, format {}, {}-byte blocks, {} namespaces, {} KiB",
            img.display(),
            sb.version.get(),
            sb.block_size.get(),
            sb.namespaces.get(),
            sb.disk_bytes.get() >> 10
        ))?;
        for p in &image.parts {
            let p = p.borrow();
            let (start, size) = (p.entry.start.get(), p.entry.size.get());
            let used = p.ns.as_ref().map_or(0, |ns| ns.used());
            crate::say(format_args!(
                "{:<24} at {start:#010x}, {:>8} KiB, {:>8} KiB used ({:.0}%)  {}",
                p.name(),
                size >> 10,
                used >> 10,
                100.0 * used as f64 / size as f64,
                state(&p)
            ))?;
        }
        Ok(())
    })
}

/// `fsctl disk export IMG DIR`: `DIR/<tenant>/log` and `DIR/<tenant>/audit`,
/// each a tlog-tiles tree; every tenant is written beside its final place
/// and moved there once whole.
pub fn export(img: &Path, dir: &Path) -> Result<()> {
    open(img, |image| {
        let tenants = tenants(image)?;
        fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        for (tenant, parts) in &tenants {
            let target = dir.join(tenant);
            if target.symlink_metadata().is_ok() {
                bail!("{} already exists: export into an empty directory", target.display());
            }
            let staging = dir.join(format!(".{tenant}.export-{}", std::process::id()));
            let written = export_tenant(image, parts, &staging);
            if let Err(e) = written {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
            fs::rename(&staging, &target).with_context(|| format!("{}", target.display()))?;
            crate::say(format_args!("{tenant}: {}", target.display()))?;
        }
        Ok(())
    })
}

fn export_tenant(
    image: &OpenImage<'_, FileDevice>,
    parts: &[(usize, &'static str)],
    staging: &Path,
) -> Result<()> {
    fs::create_dir(staging).with_context(|| format!("{}", staging.display()))?;
    for &(i, which) in parts {
        let part = &image.parts[i];
        if let Some(why) = unusable(&part.borrow()) {
            bail!("{}: {why}", part.borrow().name());
        }
        export_part(&image.dev, part, &staging.join(which))
            .with_context(|| format!("exporting {}", part.borrow().name()))?;
    }
    Ok(())
}

/// Why a namespace's ledger cannot be exported or verified as it is.
fn unusable(p: &Part) -> Option<String> {
    if let Err(e) = &p.ns {
        return Some(format!("unreadable: {e}"));
    }
    let o = &p.opened;
    if o.no_checkpoint {
        return Some("holds data but no readable checkpoint".into());
    }
    if o.fresh {
        return Some("never initialised: no ledger to export".into());
    }
    o.first_damage.map(|at| {
        format!(
            "{} records failed their checksum and {} could not be read, the first at disk offset {at:#x}",
            o.corrupt, o.lost
        )
    })
}

/// The image's tenants, each with its namespaces (table index, `log`/`audit`).
fn tenants(
    image: &OpenImage<'_, FileDevice>,
) -> Result<BTreeMap<String, Vec<(usize, &'static str)>>> {
    let mut out: BTreeMap<String, Vec<(usize, &'static str)>> = BTreeMap::new();
    for (i, p) in image.parts.iter().enumerate() {
        let p = p.borrow();
        let Some((tenant, which)) = split(p.name()) else {
            bail!("namespace {:?}: not <tenant>/log or <tenant>/audit", p.name());
        };
        out.entry(tenant.to_string()).or_default().push((i, which));
    }
    Ok(out)
}

/// `fsctl disk verify IMG --key TENANT=VKEY...`: what `fsctl verify`
/// checks, for each tenant given, straight from the image.
pub fn verify(img: &Path, keys: &[String]) -> Result<()> {
    let mut wanted = BTreeMap::new();
    for k in keys {
        let Some((tenant, key)) = k.split_once('=') else {
            bail!("--key {k:?}: give TENANT=VERIFIER_KEY");
        };
        let key =
            Verifier::parse(key.trim()).map_err(|e| anyhow::anyhow!("--key {tenant}: {e}"))?;
        if wanted.insert(tenant.to_string(), key).is_some() {
            bail!("--key {tenant}: given twice");
        }
    }
    if wanted.is_empty() {
        bail!("give --key TENANT=VERIFIER_KEY for each tenant to verify");
    }
    open(img, |image| {
        let tenants = tenants(image)?;
        for (tenant, key) in &wanted {
            let Some(parts) = tenants.get(tenant) else {
                bail!(
                    "the image has no tenant {tenant:?} (it has {})",
                    tenants.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            };
            for &(i, which) in parts {
                verify_part(image, i, which, key)?;
            }
        }
        let unverified: Vec<&String> =
            tenants.keys().filter(|t| !wanted.contains_key(*t)).collect();
        if !unverified.is_empty() {
            eprintln!(
                "fsctl: not verified (no key given): {}",
                unverified.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    })
}

fn verify_part(
    image: &OpenImage<'_, FileDevice>,
    i: usize,
    which: &str,
    key: &Verifier,
) -> Result<()> {
    let part = &image.parts[i];
    let name = part.borrow().name().to_string();
    if let Some(why) = unusable(&part.borrow()) {
        bail!("verification failed: {name}: {why}");
    }
    let key = if which == AUDIT_DIR {
        key.renamed(&format!("{}{}", key.name(), ledger::engine::AUDIT_SUFFIX))
            .map_err(|e| anyhow::anyhow!("verifier key: {e}"))?
    } else {
        key.clone()
    };
    let src = PartSource { dev: &image.dev, part };
    let report = verify::verify(&src, &key)
        .map_err(|d| anyhow::anyhow!("verification failed: {name}/{d}"))?;
    for w in &report.warnings {
        eprintln!("fsctl: warning: {name}/{w}");
    }
    for b in &report.beyond {
        eprintln!("fsctl: warning: {name}/{b}: beyond the checkpoint (uncommitted)");
    }
    crate::say(format_args!("ok {name} {}", crate::summary(&report)))?;
    Ok(())
}
