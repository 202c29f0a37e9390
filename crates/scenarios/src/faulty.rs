//! What the faulty PD does when notified, as byte 0 of its probe region
//! says. With [`AT_ONCE`] set it misbehaves at once, in `init`. Whatever it
//! does, only it must stop, and its parent (if any) must hear of it.

/// Misbehave by writing to a read-only mapping (the probe region).
pub const WRITE_READ_ONLY: u8 = 1;
/// Misbehave by calling channel 0 without `pp`.
pub const UNGRANTED_CALL: u8 = 2;
/// Misbehave by panicking.
pub const PANIC: u8 = 3;
/// Misbehave by notifying channel 0 without `notify`.
pub const UNGRANTED_NOTIFY: u8 = 4;
/// Misbehave in `init` rather than when notified.
pub const AT_ONCE: u8 = 0x80;
