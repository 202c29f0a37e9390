//! `bench.elf`: appends through the PD chain, timed.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(harness::bench::Bench<Sel4>);
