//! libmicrokit for the host: a C program written against Microkit 2.3.0's
//! `microkit.h` API, compiled with this crate's own `include/microkit.h`
//! and linked with `libmicrokit_host.a`, runs unchanged as a protection
//! domain in the service-fs simulator.
//!
//! The library provides the C program's `main`: it connects to the
//! simulator's kernel ([`sim_pd::connect`]), sets `microkit_name`, the
//! channel masks and the program's `setvar_vaddr`/`setvar_size` variables
//! (found by name in the executable's own symbol table), runs the
//! program's `init`, then hands every event to its `notified`, `protected`
//! and `fault` ([`sim_pd::serve`]). The functions of `microkit.h` are
//! implemented out of line in [`abi`], speaking the simulator's protocol
//! through [`sim_pd::SimPlatform`].

pub mod abi;
mod console;
mod run;
mod symbols;

use std::ffi::{c_char, c_int};

/// The C program's `main`: runs it as the PD the simulator's kernel sets
/// up; never returns (the kernel ends the process). Not exported from this
/// crate's own test build, whose harness has the `main`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    run::start()
}
