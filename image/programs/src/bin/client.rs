//! `client.elf`: an example client module.
#![no_std]
#![no_main]

sel4_platform::program!(client_pd::ClientPd::init);
