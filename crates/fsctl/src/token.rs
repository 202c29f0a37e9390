//! `fsctl token`: module credentials for `service-fsd`, in their own file
//! (docs/http.md). A token is printed once, when it is made; only its
//! SHA-256 hash is stored. A client certificate is registered by the
//! SHA-256 fingerprint of its DER encoding.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Checks `tenant`.`module` is in `tenants.toml`; returns its role.
fn role_of(tenants: &Path, tenant: &str, module: &str) -> Result<String> {
    let cfg = sysgen::load_tenants(tenants)?;
    let Some(t) = cfg.tenant.iter().find(|t| t.name == tenant) else {
        bail!("{}: no tenant {tenant:?}", tenants.display());
    };
    let Some(m) = t.modules.iter().find(|m| m.name == module) else {
        let names: Vec<&str> = t.modules.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "{}: tenant {tenant} has no module {module:?} (it has {})",
            tenants.display(),
            names.join(", ")
        );
    };
    Ok(m.role.clone())
}

/// Makes a token for `tenant`.`module` and prints it.
pub fn add(credentials: &Path, tenants: &Path, tenant: &str, module: &str) -> Result<()> {
    let role = role_of(tenants, tenant, module)?;
    crate::reportable("added")?;
    let token = credentials::add_token(credentials, tenant, module)?;
    eprintln!(
        "fsctl: added a token for {tenant}.{module} ({role}) to {}; it is shown only now (reload the daemon: SIGHUP)",
        credentials.display()
    );
    crate::say(token)
        .context("added a token, but could not print it: remove it with `fsctl token remove`")
}

/// Registers the (first) certificate in the PEM file `pem` as a credential
/// of `tenant`.`module`, and prints its fingerprint.
pub fn add_cert(
    credentials: &Path,
    tenants: &Path,
    tenant: &str,
    module: &str,
    pem: &Path,
) -> Result<()> {
    let role = role_of(tenants, tenant, module)?;
    let der = CertificateDer::pem_file_iter(pem)
        .with_context(|| format!("reading {}", pem.display()))?
        .next()
        .ok_or_else(|| anyhow!("{}: no PEM certificate in it", pem.display()))?
        .with_context(|| format!("reading a certificate from {}", pem.display()))?;
    crate::reportable("added")?;
    let fingerprint = credentials::add_certificate(credentials, tenant, module, &der)?;
    eprintln!(
        "fsctl: added the client certificate {} for {tenant}.{module} ({role}) to {} (reload the daemon: SIGHUP)",
        pem.display(),
        credentials.display()
    );
    crate::say(fingerprint).context("added the certificate, but could not print its fingerprint")
}

/// Lists credentials: module and the start of each hash.
pub fn list(credentials: &Path) -> Result<()> {
    let file = credentials::File::load(credentials)?;
    for (kind, e) in
        file.token.iter().map(|e| ("token", e)).chain(file.certificate.iter().map(|e| ("cert", e)))
    {
        crate::say(format_args!("{}.{}\t{kind}:{}", e.tenant, e.module, &e.sha256[..8]))?;
    }
    Ok(())
}

/// Removes the credentials whose hash starts with `prefix` (as `list` shows it).
pub fn remove(credentials: &Path, prefix: &str) -> Result<()> {
    let prefix = prefix.trim_start_matches("token:").trim_start_matches("cert:");
    if prefix.len() < 8 {
        bail!("give at least the 8 hex digits `fsctl token list` shows");
    }
    let mut file = credentials::File::load(credentials)?;
    let before = file.token.len() + file.certificate.len();
    file.token.retain(|e| !e.sha256.starts_with(prefix));
    file.certificate.retain(|e| !e.sha256.starts_with(prefix));
    let removed = before - file.token.len() - file.certificate.len();
    match removed {
        0 => bail!("no credential starts with {prefix}"),
        1 => {}
        n => bail!("{n} credentials start with {prefix}: give more of the hash"),
    }
    file.store(credentials)?;
    eprintln!("fsctl: removed it from {} (reload the daemon: SIGHUP)", credentials.display());
    Ok(())
}
