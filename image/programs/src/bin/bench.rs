//! `bench.elf`: appends through the PD chain, timed.
#![no_std]
#![no_main]

sel4_platform::program!(harness::bench::Bench::init);
