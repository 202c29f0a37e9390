//! The PD side of the simulator: what runs in each protection domain's
//! process. The simulator's kernel starts the process with its end of a
//! socket on standard input and sends the [`proto::Setup`] (name, program,
//! mappings and their memory); [`run`] maps the regions, starts the PD's
//! logic and serves the events the kernel delivers, with the
//! [`SimPlatform`] in place of seL4's.
//!
//! The simulator runs its own programs this way, and so does a program of
//! an integrator's built for the host (`programs/` in the repository):
//! `fn main() { sim_pd::main::<my_pd::Program<sim_pd::SimPlatform>>() }`,
//! for any PD type that implements [`platform::Program`].

mod pd;
pub mod proto;

pub use pd::{BoxedPd, Connected, SimPlatform, SimRegions, connect, main, run, serve, start};
