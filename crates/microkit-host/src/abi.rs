//! What `include/microkit.h` declares: the variables libmicrokit sets for
//! the program and the functions it calls, out of line and speaking the
//! simulator's protocol. Names are C's, hence lower-case statics.
#![allow(non_upper_case_globals)]

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

use platform::{Channel, MAX_MRS, Msg, Platform};
use sim_pd::SimPlatform;

use crate::console;

/// `MICROKIT_PD_NAME_LENGTH`: bytes of `microkit_name`, its NUL included.
pub const PD_NAME_LENGTH: usize = 64;
/// `MICROKIT_MAX_CHANNEL_ID`.
pub const MAX_CHANNEL_ID: c_uint = 61;
/// `seL4_MsgMaxLength`: message registers a PD may set and get.
pub const MSG_MAX_LENGTH: usize = 120;

/// How the process ends when libmicrokit would crash the PD (a missing
/// entry point, an operation the simulator cannot do); the kernel reports
/// the PD stopped with this status.
pub const CRASHED: i32 = 2;

// The C program's view of these is plain `char`/`seL4_Word` (same size and
// alignment as the atomics); atomics let this library set them without
// `static mut`. The program runs on one thread, so nothing races.

/// `microkit_name`: the PD's name, NUL-terminated (at most 63 bytes).
#[unsafe(no_mangle)]
pub static microkit_name: [AtomicU8; PD_NAME_LENGTH] = [const { AtomicU8::new(0) }; PD_NAME_LENGTH];
/// `microkit_irqs`: channels with an interrupt, a bit each (none here).
#[unsafe(no_mangle)]
pub static microkit_irqs: AtomicU64 = AtomicU64::new(0);
/// `microkit_notifications`: channels this PD may notify, a bit each.
#[unsafe(no_mangle)]
pub static microkit_notifications: AtomicU64 = AtomicU64::new(0);
/// `microkit_pps`: channels this PD may call, a bit each.
#[unsafe(no_mangle)]
pub static microkit_pps: AtomicU64 = AtomicU64::new(0);
/// `microkit_ioports`: x86 I/O ports this PD holds (none here).
#[unsafe(no_mangle)]
pub static microkit_ioports: AtomicU64 = AtomicU64::new(0);

/// The message registers (seL4's are in the IPC buffer).
static MRS: [AtomicU64; MSG_MAX_LENGTH] = [const { AtomicU64::new(0) }; MSG_MAX_LENGTH];

/// No deferred signal.
const NO_CHANNEL: u8 = u8::MAX;
/// The channel `microkit_deferred_notify` chose, sent when the entry point
/// returns (libmicrokit keeps one, sent with its next receive).
static DEFERRED: AtomicU8 = AtomicU8::new(NO_CHANNEL);

/// `microkit_msginfo`: a message's label and how many registers it uses.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgInfo {
    /// The label.
    pub label: u64,
    /// Message registers used.
    pub count: u64,
}

/// Sets `microkit_name`, truncated to fit with its NUL.
pub fn set_name(name: &str) {
    let bytes = &name.as_bytes()[..name.len().min(PD_NAME_LENGTH - 1)];
    for (i, cell) in microkit_name.iter().enumerate() {
        cell.store(bytes.get(i).copied().unwrap_or(0), Relaxed);
    }
}

/// `microkit_name`, as the console shows it.
pub fn pd_name() -> String {
    let bytes: Vec<u8> =
        microkit_name.iter().map(|c| c.load(Relaxed)).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Ends the process as libmicrokit's crash would end the PD.
pub fn crash() -> ! {
    console::finish();
    std::process::exit(CRASHED)
}

/// A call or fault reached a PD without the handler: libmicrokit's weak
/// default says so and crashes the PD.
pub fn missing(entry: &str) -> ! {
    console::line(&format!("{} is missing the '{entry}' entry point", pd_name()));
    crash()
}

/// `ch` if `mask` (one of the channel masks) grants it; else libmicrokit's
/// complaint about the call `what`.
fn granted(ch: c_uint, mask: &AtomicU64, what: &str) -> Option<Channel> {
    if ch <= MAX_CHANNEL_ID && mask.load(Relaxed) >> ch & 1 == 1 {
        return Channel::new(ch as u8);
    }
    console::line(&format!("{} {what}: invalid channel given '{ch}'", pd_name()));
    None
}

/// The message of `info` with the registers it uses, for the kernel; only
/// [`MAX_MRS`] of them fit in the simulator's frames.
pub fn outgoing(info: MsgInfo, what: &str) -> Msg {
    let count = usize::try_from(info.count).unwrap_or(usize::MAX);
    if count > MAX_MRS {
        console::line(&format!(
            "{} {what}: {count} message registers, but the simulator carries {MAX_MRS}: the rest are dropped",
            pd_name()
        ));
    }
    let mrs: [u64; MAX_MRS] = std::array::from_fn(|i| MRS[i].load(Relaxed));
    Msg::new(info.label, &mrs[..count.min(MAX_MRS)])
}

/// Puts a received message's registers in the message registers (those
/// beyond its count keep their values, as in seL4's IPC buffer).
pub fn incoming(msg: &Msg) -> MsgInfo {
    for (mr, value) in MRS.iter().zip(&msg.mrs[..msg.count]) {
        mr.store(*value, Relaxed);
    }
    MsgInfo { label: msg.label, count: msg.count as u64 }
}

/// Sends the deferred signal, if the entry point that just returned chose one.
pub fn send_deferred() {
    if let Some(ch) = Channel::new(DEFERRED.swap(NO_CHANNEL, Relaxed)) {
        SimPlatform.notify(ch);
    }
}

/// `microkit_notify`: signals the PD at the other end of `ch`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_notify(ch: c_uint) {
    if let Some(ch) = granted(ch, &microkit_notifications, "microkit_notify") {
        SimPlatform.notify(ch);
    }
}

/// `microkit_irq_ack`: the simulator has no interrupts, so no channel is
/// valid.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_irq_ack(ch: c_uint) {
    if let Some(ch) = granted(ch, &microkit_irqs, "microkit_irq_ack") {
        SimPlatform.irq_ack(ch);
    }
}

/// `microkit_ppcall`: a protected procedure call on `ch`; the reply's
/// registers land in the message registers.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_ppcall(ch: c_uint, msginfo: MsgInfo) -> MsgInfo {
    match granted(ch, &microkit_pps, "microkit_ppcall") {
        Some(ch) => incoming(&SimPlatform.ppcall(ch, outgoing(msginfo, "microkit_ppcall"))),
        None => microkit_msginfo_new(0, 0),
    }
}

/// `microkit_msginfo_new`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_msginfo_new(label: u64, count: u16) -> MsgInfo {
    MsgInfo { label, count: count.into() }
}

/// `microkit_msginfo_get_label`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_msginfo_get_label(msginfo: MsgInfo) -> u64 {
    msginfo.label
}

/// `microkit_msginfo_get_count`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_msginfo_get_count(msginfo: MsgInfo) -> u64 {
    msginfo.count
}

/// `microkit_mr_set`: sets message register `mr`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_mr_set(mr: u8, value: u64) {
    match MRS.get(usize::from(mr)) {
        Some(cell) => cell.store(value, Relaxed),
        None => beyond("microkit_mr_set", mr),
    }
}

/// `microkit_mr_get`: message register `mr`.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_mr_get(mr: u8) -> u64 {
    match MRS.get(usize::from(mr)) {
        Some(cell) => cell.load(Relaxed),
        None => {
            beyond("microkit_mr_get", mr);
            0
        }
    }
}

/// seL4 would reach past the IPC buffer's registers: say so instead.
fn beyond(what: &str, mr: u8) {
    console::line(&format!(
        "{} {what}: message register {mr} is beyond seL4_MsgMaxLength ({MSG_MAX_LENGTH})",
        pd_name()
    ));
}

/// `microkit_dbg_putc`: one byte to the console.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_dbg_putc(c: c_int) {
    console::write(&[c as u8]);
}

/// `microkit_dbg_puts`: a NUL-terminated string to the console (nothing
/// for a null pointer).
///
/// # Safety
///
/// `s` is null or points to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn microkit_dbg_puts(s: *const c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: not null, and NUL-terminated by the caller's contract.
    let text = unsafe { CStr::from_ptr(s) };
    console::write(text.to_bytes());
}

/// `microkit_dbg_put8`: a byte in decimal.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_dbg_put8(x: u8) {
    console::write(x.to_string().as_bytes());
}

/// `microkit_dbg_put32`: a 32-bit number in decimal.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_dbg_put32(x: u32) {
    console::write(x.to_string().as_bytes());
}

/// `microkit_deferred_notify`: signals `ch` once the current entry point
/// returns, replacing any signal deferred before.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_deferred_notify(ch: c_uint) {
    if let Some(ch) = granted(ch, &microkit_notifications, "microkit_deferred_notify") {
        DEFERRED.store(ch.id(), Relaxed);
    }
}

/// `microkit_deferred_irq_ack`: the simulator has no interrupts, so no
/// channel is valid.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_deferred_irq_ack(ch: c_uint) {
    if let Some(ch) = granted(ch, &microkit_irqs, "microkit_deferred_irq_ack") {
        SimPlatform.irq_ack(ch);
    }
}

/// The simulator cannot act on a child PD: says so and stops this one.
fn no_children(what: &str, child: c_uint) -> ! {
    console::line(&format!(
        "{} {what}: the simulator cannot stop, restart or resume a child PD (child {child})",
        pd_name()
    ));
    crash()
}

/// `microkit_pd_restart`: not in the simulator; stops this PD.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_pd_restart(child: c_uint, _entry_point: u64) {
    no_children("microkit_pd_restart", child)
}

/// `microkit_pd_stop`: not in the simulator; stops this PD.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_pd_stop(child: c_uint) {
    no_children("microkit_pd_stop", child)
}

/// `microkit_pd_resume`: not in the simulator; stops this PD.
#[unsafe(no_mangle)]
pub extern "C" fn microkit_pd_resume(child: c_uint) {
    no_children("microkit_pd_resume", child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_truncated_and_terminated() {
        set_name(&"p".repeat(100));
        assert_eq!(pd_name(), "p".repeat(63));
        assert_eq!(microkit_name[63].load(Relaxed), 0);
        set_name("client");
        assert_eq!(pd_name(), "client");
        assert_eq!(microkit_name[6].load(Relaxed), 0);
    }

    #[test]
    fn registers_cross_as_messages() {
        for (i, v) in [7, 8, 9, 10, 11].into_iter().enumerate() {
            microkit_mr_set(i as u8, v);
        }
        let msg = outgoing(microkit_msginfo_new(42, 4), "test");
        assert_eq!(msg, Msg::new(42, &[7, 8, 9, 10]));
        let info = incoming(&Msg::new(5, &[1, 2]));
        assert_eq!((microkit_msginfo_get_label(info), microkit_msginfo_get_count(info)), (5, 2));
        // Only the reply's registers change.
        assert_eq!([0, 1, 2, 3].map(|i| microkit_mr_get(i)), [1, 2, 9, 10]);
        microkit_mr_set(119, 3);
        assert_eq!(microkit_mr_get(119), 3);
    }
}
