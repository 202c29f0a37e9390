//! Module credentials for `service-fsd`, in a file of their own (never in
//! `tenants.toml`, which is shared with the seL4 build and checked in).
//!
//! A credential names exactly one (tenant, module), as a channel does in
//! the `wire` PD: the daemon takes the caller's identity from it and from
//! nothing in a request. Bearer tokens are stored only as SHA-256 hashes
//! (`fsctl token add` prints a new token once); client certificates are
//! named by the SHA-256 fingerprint of their DER encoding.
//!
//! ```toml
//! [[token]]
//! tenant = "acme"
//! module = "identity"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//!
//! [[certificate]]
//! tenant = "acme"
//! module = "reports"
//! sha256 = "…"
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every token starts with, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "sfs_";
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// Why the credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the file.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, io::Error),
    /// The file does not parse or says something invalid.
    #[error("{path}: {msg}", path = .0.display(), msg = .1)]
    Invalid(PathBuf, String),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] store_posix::IoError),
}

/// Where a credential comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Authorization: Bearer <token>`.
    Token,
    /// A TLS client certificate.
    Certificate,
}

/// One credential: its hash (of the token, or of the certificate's DER)
/// and the module it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The tenant.
    pub tenant: String,
    /// The module, in `tenants.toml`.
    pub module: String,
    /// SHA-256 of the token or certificate, lowercase hex.
    pub sha256: String,
}

/// The credentials file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Bearer tokens.
    #[serde(default)]
    pub token: Vec<Entry>,
    /// Client certificates.
    #[serde(default)]
    pub certificate: Vec<Entry>,
}

/// Who a credential says the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The tenant.
    pub tenant: String,
    /// The module.
    pub module: String,
    /// How it was presented, for audit records: `token:<8 hex>` or
    /// `cert:<8 hex>` (the start of the hash: names the credential
    /// without revealing it).
    pub credential: String,
}

/// The credentials, indexed for lookup.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_hash: HashMap<(Kind, [u8; 32]), Holder>,
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A new random token, and the hash to store.
pub fn new_token() -> io::Result<(String, [u8; 32])> {
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw).map_err(io::Error::other)?;
    let token = format!("{TOKEN_PREFIX}{}", Base64UrlUnpadded::encode_string(&raw));
    let hash = sha256(token.as_bytes());
    Ok((token, hash))
}

impl File {
    /// Reads `path`; a missing file is an empty one. Refuses a file others
    /// may read or write (hashes are not secrets, but who may add a
    /// credential is), a symbolic link, and anything malformed.
    pub fn load(path: &Path) -> Result<File, Error> {
        let io = |e| Error::Io(path.into(), e);
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(io(e)),
        };
        if meta.file_type().is_symlink() {
            return Err(Error::Invalid(path.into(), "a symbolic link, never followed".into()));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(Error::Invalid(
                path.into(),
                "writable by others: only its owner may add credentials (chmod 600)".into(),
            ));
        }
        let text = fs::read_to_string(path).map_err(io)?;
        let file: File =
            toml::from_str(&text).map_err(|e| Error::Invalid(path.into(), e.to_string()))?;
        file.check().map_err(|msg| Error::Invalid(path.into(), msg))?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (kind, e) in self.entries() {
            let hash = parse_hex(&e.sha256).ok_or_else(|| {
                format!("{}.{}: sha256 must be 64 lowercase hex digits", e.tenant, e.module)
            })?;
            if !seen.insert((kind, hash)) {
                return Err(format!(
                    "{}.{}: the same credential is listed twice",
                    e.tenant, e.module
                ));
            }
        }
        Ok(())
    }

    fn entries(&self) -> impl Iterator<Item = (Kind, &Entry)> {
        let tokens = self.token.iter().map(|e| (Kind::Token, e));
        tokens.chain(self.certificate.iter().map(|e| (Kind::Certificate, e)))
    }

    /// Writes the file to `path` atomically and durably, readable by its owner only.
    pub fn store(&self, path: &Path) -> Result<(), Error> {
        let mut text = String::from(
            "# service-fs module credentials (`fsctl token add`): SHA-256 hashes only.\n\n",
        );
        text += &toml::to_string(self).map_err(|e| Error::Invalid(path.into(), e.to_string()))?;
        store_posix::write_durably(path, text.as_bytes())?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Io(path.into(), e))
    }

    /// The credentials for lookup.
    pub fn index(&self) -> Credentials {
        let mut by_hash = HashMap::new();
        for (kind, e) in self.entries() {
            let Some(hash) = parse_hex(&e.sha256) else { continue };
            let tag = if kind == Kind::Token { "token" } else { "cert" };
            let credential = format!("{tag}:{}", &e.sha256[..8]);
            let holder = Holder { tenant: e.tenant.clone(), module: e.module.clone(), credential };
            by_hash.insert((kind, hash), holder);
        }
        Credentials { by_hash }
    }
}

impl Credentials {
    /// Who holds bearer token `token`.
    pub fn token(&self, token: &str) -> Option<&Holder> {
        self.by_hash.get(&(Kind::Token, sha256(token.as_bytes())))
    }

    /// Who holds the client certificate with DER encoding `der`.
    pub fn certificate(&self, der: &[u8]) -> Option<&Holder> {
        self.by_hash.get(&(Kind::Certificate, sha256(der)))
    }

    /// How many credentials there are.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// Adds a new token for `tenant`.`module` to the file at `path` (created
/// if missing) and returns it: the only time it is ever shown.
pub fn add_token(path: &Path, tenant: &str, module: &str) -> Result<String, Error> {
    let mut file = File::load(path)?;
    let (token, hash) = new_token().map_err(|e| Error::Io(path.into(), e))?;
    file.token.push(Entry { tenant: tenant.into(), module: module.into(), sha256: hex(&hash) });
    file.store(path)?;
    Ok(token)
}

/// Adds client certificate `der` for `tenant`.`module`; returns its fingerprint.
pub fn add_certificate(
    path: &Path,
    tenant: &str,
    module: &str,
    der: &[u8],
) -> Result<String, Error> {
    let mut file = File::load(path)?;
    let fp = hex(&sha256(der));
    file.certificate.push(Entry {
        tenant: tenant.into(),
        module: module.into(),
        sha256: fp.clone(),
    });
    file.check().map_err(|msg| Error::Invalid(path.into(), msg))?;
    file.store(path)?;
    Ok(fp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_map_to_one_module() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        let a = add_token(&path, "acme", "identity").unwrap();
        let b = add_token(&path, "globex", "payments").unwrap();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40 && a != b);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&a[TOKEN_PREFIX.len()..]), "the token itself is never stored");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let creds = File::load(&path).unwrap().index();
        let h = creds.token(&a).unwrap();
        assert_eq!((h.tenant.as_str(), h.module.as_str()), ("acme", "identity"));
        assert!(h.credential.starts_with("token:") && h.credential.len() == 14);
        assert_eq!(creds.token(&b).unwrap().tenant, "globex");
        assert!(creds.token("sfs_wrong").is_none());
        assert!(creds.certificate(a.as_bytes()).is_none(), "a token is not a certificate");
    }

    #[test]
    fn bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        assert!(File::load(&path).unwrap().index().is_empty(), "missing: none");
        for bad in [
            "[[token]]\ntenant = \"a\"\nmodule = \"m\"\nsha256 = \"xyz\"\n",
            "[[token]]\ntenant = \"a\"\nmodule = \"m\"\n",
            "[[tokens]]\n",
            "[[token]]\ntenant = \"a\"\nmodule = \"m\"\nsha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n[[token]]\ntenant = \"b\"\nmodule = \"m\"\nsha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
        ] {
            fs::write(&path, bad).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(File::load(&path).is_err(), "{bad}");
        }
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(File::load(&path).unwrap_err().to_string().contains("writable by others"));
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(File::load(&link).unwrap_err().to_string().contains("symbolic link"));
    }
}
