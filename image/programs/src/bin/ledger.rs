//! `ledger.elf`: a tenant's ledger (one PD per tenant).
#![no_std]
#![no_main]

use sel4_platform::Sel4;

sel4_platform::program!(ledger_pd::LedgerPd<Sel4>);
