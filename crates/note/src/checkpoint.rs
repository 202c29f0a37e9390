//! C2SP tlog-checkpoint note bodies.

use core::fmt;

use tlog::Hash;

/// The longest checkpoint text this crate writes or reads.
pub const MAX_CHECKPOINT_TEXT: usize = 1024;

/// The body of a log checkpoint:
///
/// ```text
/// <origin>
/// <tree size, decimal>
/// <root hash, base64>
/// [extension lines]
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    /// The log identity, e.g. `service-fs/acme`.
    pub origin: &'a str,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash of the first `size` entries.
    pub root: Hash,
    /// Opaque extension lines, each ending in a newline (usually empty).
    pub extensions: &'a str,
}

/// Why a checkpoint body could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointError {
    /// Fewer than three lines, or not newline-terminated.
    Truncated,
    /// The origin line is empty.
    EmptyOrigin,
    /// The size is not a decimal without leading zeros.
    BadSize,
    /// The root hash is not base64 of 32 bytes.
    BadRoot,
    /// An extension line is empty.
    EmptyExtension,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointError::Truncated => "checkpoint has fewer than three lines",
            CheckpointError::EmptyOrigin => "checkpoint origin is empty",
            CheckpointError::BadSize => "checkpoint tree size is not a canonical decimal",
            CheckpointError::BadRoot => "checkpoint root hash is not base64 of 32 bytes",
            CheckpointError::EmptyExtension => "checkpoint has an empty extension line",
        })
    }
}

impl<'a> Checkpoint<'a> {
    /// Parses a checkpoint note text (as returned by [`crate::open`]).
    pub fn parse(text: &'a str) -> Result<Checkpoint<'a>, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Truncated)?;
        let mut lines = body.splitn(4, '\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Truncated);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size.parse().ok().filter(|_| canonical).ok_or(CheckpointError::BadSize)?;
        let root = Hash::from_base64(root).ok_or(CheckpointError::BadRoot)?;
        // Extensions keep their trailing newline: the rest of `text`.
        let extensions = match lines.next() {
            None => "",
            Some(ext) => {
                if ext.split('\n').any(str::is_empty) {
                    return Err(CheckpointError::EmptyExtension);
                }
                &text[text.len() - ext.len() - 1..]
            }
        };
        Ok(Checkpoint { origin, size, root, extensions })
    }

    /// Reads just the tree size of a signed checkpoint note, without verifying
    /// it. For stores that order checkpoints; never trust the size otherwise.
    pub fn peek_size(note: &[u8]) -> Option<u64> {
        let text = core::str::from_utf8(note).ok()?;
        let (_, rest) = text.split_once('\n')?;
        let (size, _) = rest.split_once('\n')?;
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) {
            return None;
        }
        size.parse().ok()
    }
}

impl fmt::Display for Checkpoint<'_> {
    /// The note text, ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}\n{}\n{}", self.origin, self.size, self.root, self.extensions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    const SPEC: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn spec_example() {
        let c = Checkpoint::parse(SPEC).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(c.extensions, "");
        assert_eq!(c.to_string(), SPEC);
        let signed = std::format!("{SPEC}\n\u{2014} x abc\n");
        assert_eq!(Checkpoint::peek_size(signed.as_bytes()), Some(20852163));
    }

    #[test]
    fn extensions_round_trip() {
        let text = std::format!("{SPEC}ext one\next two\n");
        let c = Checkpoint::parse(&text).unwrap();
        assert_eq!(c.extensions, "ext one\next two\n");
        assert_eq!(c.to_string(), text);
    }

    #[test]
    fn rejects_bad_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            ("o\n1\n", CheckpointError::Truncated),
            (&*std::format!("o\n1\n{root}"), CheckpointError::Truncated),
            (&*std::format!("\n1\n{root}\n"), CheckpointError::EmptyOrigin),
            (&*std::format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (&*std::format!("o\n-1\n{root}\n"), CheckpointError::BadSize),
            (&*std::format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (&*std::format!("o\n\n{root}\n"), CheckpointError::BadSize),
            (&*std::format!("o\n99999999999999999999\n{root}\n"), CheckpointError::BadSize),
            ("o\n1\nAAAA\n", CheckpointError::BadRoot),
            (&*std::format!("o\n1\n{root}\n\n"), CheckpointError::EmptyExtension),
            (&*std::format!("o\n1\n{root}\na\n\nb\n"), CheckpointError::EmptyExtension),
        ];
        for (text, err) in cases {
            assert_eq!(Checkpoint::parse(text), Err(err), "{text:?}");
        }
        assert_eq!(Checkpoint::peek_size(b"o\n01\n"), None);
        assert_eq!(Checkpoint::peek_size(b"o\n0\n"), Some(0));
    }
}
