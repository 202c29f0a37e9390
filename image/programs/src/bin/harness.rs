//! `harness.elf`: the end-to-end scenarios.
#![no_std]
#![no_main]

sel4_platform::program!(fallible harness::Harness::init);
