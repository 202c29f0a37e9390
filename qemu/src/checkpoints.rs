//! Verifying the checkpoints a system printed, outside it: each with the
//! tenant's verifier key, derived from the seed provisioned for the image
//! (`build/keys/<tenant>.seed`), by our note code (what `fsctl
//! verify-note` runs) and by Go's `note.Open` (the oracle).

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use ledger::engine::audit_signer;
use note::{Checkpoint, Signer, Verifier};

use sysgen::{Described, Tenant};

use crate::console::Printed;

/// A checkpoint that verified.
#[derive(Debug)]
pub struct Verified {
    /// The tenant.
    pub tenant: String,
    /// `records` or `audit`.
    pub kind: String,
    /// Tree size.
    pub size: u64,
    /// The verifier key it was checked with.
    pub key: String,
    /// Where the note was written.
    pub file: PathBuf,
}

/// The verifier key of `tenant`'s `kind` log, from its seed in `keys`.
pub fn verifier(keys: &Path, tenant: &Tenant, kind: &str) -> Result<Verifier> {
    let path = keys.join(format!("{}.seed", tenant.name));
    let seed: [u8; 32] = std::fs::read(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .try_into()
        .map_err(|_| anyhow!("{}: a seed is 32 bytes", path.display()))?;
    let signer =
        Signer::from_seed(&tenant.origin, seed).map_err(|e| anyhow!("{}: {e}", tenant.origin))?;
    let signer = match kind {
        "records" => signer,
        // The name the engine signs its audit log with.
        "audit" => audit_signer::<Infallible>(&signer).map_err(|e| anyhow!("{e}"))?,
        _ => bail!("no {kind:?} log"),
    };
    Ok(signer.verifier())
}

/// Verifies one printed checkpoint and writes it, with its verifier key,
/// to `out/<tenant>.<kind>.note` and `.vkey`.
pub fn verify(p: &Printed, tenant: &Tenant, keys: &Path, out: &Path) -> Result<Verified> {
    let what = format!("{}'s {} checkpoint", p.tenant, p.kind);
    let key = verifier(keys, tenant, &p.kind)?;
    let opened = note::open(&p.note, &[&key]).map_err(|e| anyhow!("{what}: {e}"))?;
    let cp = Checkpoint::parse(opened.text).map_err(|e| anyhow!("{what}: {e}"))?;
    ensure!(cp.origin == key.name(), "{what}: origin {:?} is not {:?}", cp.origin, key.name());
    std::fs::create_dir_all(out)?;
    let file = out.join(format!("{}.{}.note", p.tenant, p.kind));
    std::fs::write(&file, &p.note)?;
    std::fs::write(out.join(format!("{}.{}.vkey", p.tenant, p.kind)), format!("{key}\n"))?;
    let go = oracle::open(&key.to_string(), &file).map_err(|e| anyhow!("{what}: Go: {e}"))?;
    ensure!(
        (go.origin.as_str(), go.size, go.root.as_str())
            == (cp.origin, cp.size, &*cp.root.to_string()),
        "{what}: Go read {go:?}, we read {} {} {}",
        cp.origin,
        cp.size,
        cp.root
    );
    Ok(Verified {
        tenant: p.tenant.clone(),
        kind: p.kind.clone(),
        size: cp.size,
        key: key.to_string(),
        file,
    })
}

/// Verifies every printed checkpoint, of the tenants `system` has; also
/// requires one of each kind for every tenant in `required` (those the
/// harness covers), and that each ledger opened with its provisioned key
/// (as it printed). Returns what verified, or every failure.
pub fn verify_all(
    printed: &[Printed],
    ledger_keys: &[(String, String)],
    system: &Described,
    required: &[String],
    keys: &Path,
    out: &Path,
) -> (Vec<Verified>, Vec<String>) {
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for name in required {
        for kind in ["records", "audit"] {
            if !printed.iter().any(|p| p.tenant == *name && p.kind == kind) {
                failures.push(format!("no {kind} checkpoint printed for {name}"));
            }
        }
    }
    for t in &system.tenants {
        if let Some((_, printed_key)) = ledger_keys.iter().rfind(|(pd, _)| *pd == t.ledger_pd) {
            match verifier(keys, t, "records") {
                Ok(k) if k.to_string() == *printed_key => {}
                Ok(k) => failures.push(format!(
                    "{} opened with key {printed_key}, but {} provisions {k}",
                    t.ledger_pd,
                    keys.display()
                )),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
    }
    for p in printed {
        let Some(t) = system.tenant(&p.tenant) else {
            failures.push(format!(
                "a checkpoint printed for {}, which the system does not have",
                p.tenant
            ));
            continue;
        };
        match verify(p, t, keys, out) {
            Ok(v) => ok.push(v),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    (ok, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(signer: &Signer, text: &str) -> Vec<u8> {
        let mut out = vec![0u8; 1024];
        let n = note::sign(text, &[signer], &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn printed_checkpoints_verify_with_the_provisioned_keys_and_forgeries_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let root = "wZuhdPOA8ZFIX52aPxGP8zTmGiy/r4qD+fpK5CTTLjQ=";
        let mut printed = Vec::new();
        let mut ledger_keys = Vec::new();
        let system = Described {
            tenants: ["acme", "globex"]
                .iter()
                .map(|t| Tenant {
                    name: t.to_string(),
                    origin: format!("service-fs/{t}"),
                    ledger_pd: format!("ledger_{t}"),
                })
                .collect(),
            ..Described::default()
        };
        let required: Vec<String> = system.tenants.iter().map(|t| t.name.clone()).collect();
        for (i, t) in system.tenants.iter().enumerate() {
            let seed = [i as u8 + 1; 32];
            std::fs::write(keys.join(format!("{}.seed", t.name)), seed).unwrap();
            for (kind, name) in
                [("records", t.origin.to_string()), ("audit", format!("{}/audit", t.origin))]
            {
                let s = Signer::from_seed(&name, seed).unwrap();
                let note = signed(&s, &format!("{name}\n5\n{root}\n"));
                printed.push(Printed { tenant: t.name.clone(), kind: kind.into(), note });
                if kind == "records" {
                    ledger_keys.push((t.ledger_pd.to_string(), s.verifier().to_string()));
                }
            }
        }
        let out = tmp.path().join("out");
        let (ok, failures) = verify_all(&printed, &ledger_keys, &system, &required, &keys, &out);
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(ok.len(), 4);
        assert!(ok.iter().all(|v| v.size == 5 && v.file.exists()));

        // A note altered after signing, and one signed by another key.
        let mut forged = printed.clone();
        forged[0].note = String::from_utf8(forged[0].note.clone())
            .unwrap()
            .replacen("\n5\n", "\n6\n", 1)
            .into_bytes();
        let origin = &system.tenants[0].origin;
        let stranger = Signer::from_seed(origin, [99; 32]).unwrap();
        forged[1].note = signed(&stranger, &format!("{origin}/audit\n5\n{root}\n"));
        let (ok, failures) = verify_all(&forged, &ledger_keys, &system, &required, &keys, &out);
        assert_eq!(ok.len(), 2);
        assert_eq!(failures.len(), 2, "{failures:?}");

        // A missing checkpoint, and a ledger that opened with another key.
        let mut wrong_keys = ledger_keys.clone();
        wrong_keys[0].1 = stranger.verifier().to_string();
        let (_, failures) = verify_all(&printed[1..], &wrong_keys, &system, &required, &keys, &out);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("no records checkpoint printed for"), "{failures:?}");
        assert!(failures[1].contains("provisions"), "{failures:?}");

        // A tenant the harness does not cover need not print any.
        let only_acme = [required[0].clone()];
        let acme: Vec<Printed> = printed.iter().filter(|p| p.tenant == "acme").cloned().collect();
        let (ok, failures) = verify_all(&acme, &ledger_keys, &system, &only_acme, &keys, &out);
        assert!(failures.is_empty() && ok.len() == 2, "{failures:?}");
    }
}
