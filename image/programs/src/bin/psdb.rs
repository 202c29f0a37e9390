//! `psdb.elf`: the tile store.
#![no_std]
#![no_main]

sel4_platform::program!(fallible psdb::Psdb::init);
