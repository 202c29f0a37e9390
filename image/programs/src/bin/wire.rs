//! `wire.elf`: the client endpoint.
#![no_std]
#![no_main]

sel4_platform::program!(fallible wire::Wire::init);
