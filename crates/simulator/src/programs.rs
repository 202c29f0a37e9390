//! The programs a system description may name, by image file name: the
//! simulator runs the PD crates' logic where seL4 would load an ELF. The
//! list is `sysgen::programs!`, the one the seL4 image's programs are
//! generated from; here every PD type runs on [`SimPlatform`], and the
//! block driver serves a host file ([`FileDisk`]).

use platform::Regions;

use sim_pd::{BoxedPd, SimPlatform};

use crate::disk::FileDisk;

type Start = fn(SimPlatform, &mut dyn Regions) -> Result<BoxedPd, String>;

macro_rules! table {
    ($($image:literal => $pd:ty, $about:literal;)*) => {
        /// Every program, by the file name of its image.
        pub const PROGRAMS: &[(&str, Start)] = &[$(($image, sim_pd::start::<$pd>)),*];
    };
}

sysgen::programs!(table, SimPlatform, FileDisk);

/// The file name of an image path.
pub fn name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

/// Starts the program `image`.
pub fn start(image: &str, p: SimPlatform, r: &mut dyn Regions) -> Result<BoxedPd, String> {
    match PROGRAMS.iter().find(|(n, _)| *n == name(image)) {
        Some((_, start)) => start(p, r),
        None => Err(format!("no program {:?} in the simulator", name(image))),
    }
}
