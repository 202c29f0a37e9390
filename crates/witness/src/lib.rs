//! A transparency-log witness after [C2SP tlog-witness]: it cosigns
//! ([C2SP tlog-cosignature] v1) a log's checkpoint only when a consistency
//! proof shows that it extends the last checkpoint it cosigned for that
//! log, so that a log which shows two histories, or rolls one back, is
//! caught by anyone who checks for its cosignature.
//!
//! - [`protocol`]: the `add-checkpoint` request and response bodies, for
//!   the witness (`fs-witness`) and for the logs asking it (`fsctl`).
//! - [`Witness`]: the witness's key, the logs it knows and its state, one
//!   file per log, replaced atomically and durably before it answers.
//! - `client` (feature `client`): the logs' side, a POSIX tenant's
//!   witnesses and asking them to cosign (`fsctl`, `service-fsd`).
//!
//! Plain Rust with files: the HTTP server is `fs-witness`; a witness PD on
//! seL4 would keep the same logic over a psdb namespace.
//!
//! [C2SP tlog-witness]: https://c2sp.org/tlog-witness
//! [C2SP tlog-cosignature]: https://c2sp.org/tlog-cosignature

#[cfg(feature = "client")]
pub mod client;
pub mod protocol;
mod state;

pub use state::{Refusal, Witness, WitnessError};
