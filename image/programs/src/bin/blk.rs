//! `blk.elf`: the virtio-blk driver psdb's disk sits behind.
#![no_std]
#![no_main]

sel4_platform::program!(fallible blk::virtio::init);
