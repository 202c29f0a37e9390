//! The service-fs ABI between protection domains. `docs/abi.md` is the
//! specification (enough to write a client in C); this crate is its Rust form.
//!
//! Every call is a Microkit protected procedure call: a label, up to
//! [`MAX_MRS`] message registers, and bulk data in a memory region shared by
//! exactly the two PDs of the channel. The reply's label is a status code.
//!
//! Each protocol has one owner here: a typed request per label and a typed
//! reply, each with one `encode` to a [`Msg`] and one `decode` from it that
//! refuses, with a [`DecodeError`], an unknown label, missing registers or
//! a value out of its range. No PD reads a message register by number.
//!
//! - [`client`]: client PDs → `wire` (the only door).
//! - [`ledger`]: `wire` → `ledger_<tenant>` (the caller's identity, from wire).
//! - [`psdb`]: `ledger_<tenant>` → `psdb` (the tile store).
//! - [`blk`]: `psdb` ↔ the block driver (queues, not calls).
#![no_std]

pub mod blk;
pub mod client;
pub mod ledger;
pub mod psdb;
pub mod records;

/// The ABI version `STATUS` reports.
pub const VERSION: u64 = 1;

pub use platform::{MAX_MRS, Msg};

/// Why a message is not the request or reply it claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The label names no request of the protocol.
    UnknownLabel(u64),
    /// The message carries fewer registers than its label needs.
    MissingRegisters {
        /// Registers the label needs.
        needed: usize,
        /// Registers the message carries.
        got: usize,
    },
    /// Register `register` holds a value outside its domain.
    OutOfRange {
        /// Which register.
        register: usize,
        /// Its value.
        value: u64,
    },
}

/// The first `N` registers of `msg`, or why it has fewer.
pub(crate) fn registers<const N: usize>(msg: &Msg) -> Result<[u64; N], DecodeError> {
    if msg.count < N {
        return Err(DecodeError::MissingRegisters { needed: N, got: msg.count });
    }
    Ok(core::array::from_fn(|i| msg.mrs[i]))
}

/// Register `register`'s `value` as a `usize`, or out of range.
pub(crate) fn to_usize(register: usize, value: u64) -> Result<usize, DecodeError> {
    usize::try_from(value).map_err(|_| DecodeError::OutOfRange { register, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_taken_only_when_sent() {
        let m = Msg::new(1, &[4, 5]);
        assert_eq!(registers::<2>(&m), Ok([4, 5]));
        assert_eq!(registers::<0>(&m), Ok([]));
        assert_eq!(registers::<3>(&m), Err(DecodeError::MissingRegisters { needed: 3, got: 2 }));
    }
}
