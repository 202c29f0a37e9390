//! `faulty.elf`: the harness's misbehaving child.
#![no_std]
#![no_main]

sel4_platform::program!(faulty::Faulty::init);
