//! `blk.elf`: the block driver psdb's disk sits behind.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(blk::Driver<Sel4, blk::virtio::Virtio>);
