//! `wire.elf`: the client endpoint.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(wire::Wire<Sel4>);
