//! `faulty.elf`: the harness's misbehaving child.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(faulty::Faulty<Sel4>);
