//! `fsctl anchors`: a tenant's anchor sub-ledger (the receipts
//! `fs-anchor-emitter` keeps), checked offline.

use anchor::RekorKey;
use anchor::tiles::DirTiles;
use anyhow::{Result, anyhow};
use note::{CosignatureVerifier, Verifier};
use tenant::Root;

use crate::say;

/// The tenant's verifier key: as given, or from its signing key in the root.
fn tenant_key(root: &Root, tenant: &str, key: Option<&str>) -> Result<Verifier> {
    match key {
        Some(k) => Verifier::parse(k.trim()).map_err(|e| anyhow!("invalid verifier key: {e}")),
        None => Ok(root.verifier(tenant)?),
    }
}

/// `fsctl anchors verify TENANT --rekor-key KEY…`.
pub fn verify(
    root: &Root,
    tenant: &str,
    key: Option<&str>,
    rekor: &[String],
    witnesses: &[String],
    tsa_cert: Option<&std::path::Path>,
) -> Result<()> {
    let key = tenant_key(root, tenant, key)?;
    let tsa = match tsa_cert {
        Some(f) => {
            let pem =
                std::fs::read_to_string(f).map_err(|e| anyhow!("reading {}: {e}", f.display()))?;
            Some(
                rekor::tsa::Authority::from_pem_chain(&pem)
                    .map_err(|e| anyhow!("{}: {e}", f.display()))?,
            )
        }
        None => None,
    };
    let rekor = rekor.iter().map(|k| RekorKey::parse(k)).collect::<Result<Vec<_>>>()?;
    let witnesses = witnesses
        .iter()
        .map(|w| {
            CosignatureVerifier::parse(w.trim())
                .map_err(|e| anyhow!("invalid witness key {w}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let anchors = root.anchors_dir(tenant);
    if std::fs::symlink_metadata(&anchors).is_err() {
        return Err(anyhow!(
            "{}: {tenant} has no anchor ledger (run fs-anchor-emitter)",
            anchors.display()
        ));
    }
    let current = DirTiles(root.log_dir(tenant));
    let r = anchor::chain::verify(&anchors, &key, &rekor, &witnesses, tsa.as_ref(), &current)
        .map_err(|e| anyhow!("verification failed: {e:#}"))?;
    let span = match (&r.first, &r.last) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "none yet".into(),
    };
    say(format!(
        "{tenant}: {} anchor receipt{} ({span}) verified: each checkpoint signed by {}, extending the one before, \
         and included in Rekor under its signed checkpoint{}; the ledger now (size {}) extends the last anchored (size {})",
        r.receipts,
        if r.receipts == 1 { "" } else { "s" },
        key.name(),
        times(&r),
        r.current_size,
        r.anchored_size,
    ))?;
    Ok(())
}

/// What the check said of times.
fn times(r: &anchor::chain::Report) -> String {
    let mut s = String::new();
    if r.witness_times > 0 {
        s += &format!("; {} witness times checked", r.witness_times);
    }
    if r.timestamps > 0 {
        s += &format!("; {} RFC 3161 timestamps checked", r.timestamps);
    }
    s
}

/// `fsctl anchors list TENANT`: one line per receipt, after verifying the
/// anchor ledger's files (not Rekor's answers: `verify` does that).
pub fn list(root: &Root, tenant: &str, key: Option<&str>) -> Result<()> {
    let key = tenant_key(root, tenant, key)?;
    let receipts = anchor::chain::read_receipts(&root.anchors_dir(tenant), &key)?;
    for (i, r) in receipts.iter().enumerate() {
        let mut line = format!(
            "{i} {} size {} root {} rekor {} {} entry {}",
            r.month, r.size, r.root, r.rekor.api, r.rekor.log, r.rekor.log_index
        );
        for w in &r.time.witnesses {
            line += &format!(" witnessed {} by {}", w.time, w.key.split('+').next().unwrap_or(""));
        }
        if let Some(t) = r.time.rekor_integrated_time {
            line += &format!(" integrated {t}");
        }
        if let Some(t) = &r.time.rfc3161 {
            line += &format!(" timestamped {} by {}", t.time, t.url);
        }
        say(line)?;
    }
    Ok(())
}
