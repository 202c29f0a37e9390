//! The debug console: bytes from `microkit_dbg_*` and this library's own
//! messages, sent to the kernel a line at a time.
//!
//! Lines, not characters: the kernel prints only whole lines anyway, and a
//! message per `microkit_dbg_putc` would cost a system call per byte. Order
//! is kept because every byte goes through this one buffer, and a line
//! leaves before the PD's next frame (call, notification, reply) can.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use platform::Platform;
use sim_pd::SimPlatform;

/// A line longer than this is sent in pieces (the kernel joins them).
const MAX_LINE: usize = 4096;

/// Bytes not yet sent: a partial line, or everything before the kernel
/// connection exists (a C constructor may print before `main`).
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Whether the kernel connection is up, so lines can be sent.
static CONNECTED: AtomicBool = AtomicBool::new(false);

/// Writes bytes to the console.
pub fn write(bytes: &[u8]) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    pending.extend_from_slice(bytes);
    if !CONNECTED.load(Ordering::Relaxed) {
        return;
    }
    let ready = match pending.iter().rposition(|&b| b == b'\n') {
        Some(last) => last + 1,
        None if pending.len() >= MAX_LINE => pending.len(),
        None => return,
    };
    let text: Vec<u8> = pending.drain(..ready).collect();
    SimPlatform.print(&String::from_utf8_lossy(&text));
}

/// Writes a line to the console.
pub fn line(text: &str) {
    write(format!("{text}\n").as_bytes());
}

/// The kernel connection is up: sends what was written before it.
pub fn connected() {
    CONNECTED.store(true, Ordering::Relaxed);
    write(&[]);
}

/// Sends a partial line, ended, before the process stops (the kernel would
/// drop it).
pub fn finish() {
    let partial = !PENDING.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
    if partial && CONNECTED.load(Ordering::Relaxed) {
        write(b"\n");
    }
}
