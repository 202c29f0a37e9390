//! `client.elf`: an example client module.
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(client_pd::ClientPd<Sel4>);
