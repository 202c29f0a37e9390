//! `harness.elf`: the end-to-end scenarios.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(harness::Harness<Sel4>);
