//! `ledger.elf`: a tenant's ledger (one PD per tenant).
#![no_std]
#![no_main]

sel4_platform::program!(fallible ledger_pd::LedgerPd::init);
