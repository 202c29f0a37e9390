//! Microkit system descriptions (`system.xml`, Microkit 2.x).
//!
//! [`parse`] reads one into a [`System`], keeping each element's position;
//! [`System::validate`] applies the rules the Microkit tool applies (and a
//! few it does not check but a system must not break), reporting
//! `file:line:col: reason`; [`System::to_xml`] writes one back, always the
//! same way for the same model.

mod model;
mod parse;
mod validate;
mod write;

pub use model::{
    Channel, End, Irq, MAX_PDS, Map, MemoryRegion, PAGE_SIZES, PD_MAX_ID, PD_MAX_PRIORITY, Perms,
    Pos, ProtectionDomain, SetVar, System,
};
pub use parse::parse;

/// An error in a system description, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct SdfError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

impl SdfError {
    pub(crate) fn at(file: &str, pos: Pos, message: impl Into<String>) -> SdfError {
        SdfError { file: file.into(), line: pos.line, col: pos.col, message: message.into() }
    }
}
