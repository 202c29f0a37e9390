//! `psdb.elf`: the tile store.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(psdb::Psdb<Sel4>);
