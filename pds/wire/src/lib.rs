//! The wire protection domain (L3), the only PD clients may call.
//!
//! The calling channel is the identity: the PD's configuration (from
//! `make system`) maps it to a tenant, a module and a role; nothing in a
//! request names them. Every
//! request is checked (label, rights, registers, buffer contents) on a
//! private copy, so the client cannot change it after the check, and then
//! forwarded to that tenant's ledger with the identity in front. Errors are
//! status codes, never a panic.
#![no_std]

use core::fmt::Write;

use abi::client::{Status, label, required_right};
use abi::ledger::{DATA_OFFSET, write_caller};
use abi::records::{FramingError, parse};
use platform::{Channel, Console, Msg, Pd, Platform, Program, Regions, SharedRegion};
use system::{ConfigError, Kind, WireClient};
use tlog::HASH_SIZE;

/// A client channel.
struct Client {
    channel: Channel,
    identity: WireClient<'static>,
    buf: SharedRegion,
}

/// A channel to a tenant's ledger.
struct Ledger {
    channel: Channel,
    buf: SharedRegion,
}

/// The wire PD.
pub struct Wire<P> {
    p: P,
    clients: heapless::Vec<Client, 62>,
    ledgers: heapless::Vec<Ledger, 62>,
    scratch: &'static mut [u8],
    requests: u64,
    max_record: usize,
}

/// Why wire could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// A region the system description should map is missing or too small.
    MissingRegion(&'static str),
    /// Its configuration is missing, damaged or not a wire's.
    Config(ConfigError),
    /// Its configuration names a channel beyond Microkit's.
    BadChannel(u8),
}

fn fail(s: Status) -> Msg {
    Msg::new(s as u64, &[])
}

/// Registers each request needs.
fn registers(label: u64) -> usize {
    match label {
        label::APPEND | label::READ_SINCE | label::READ_AUDIT => 2,
        label::PROVE_INCLUSION | label::PROVE_CONSISTENCY => 2,
        _ => 0,
    }
}

impl<P: Platform> Program<P> for Wire<P> {
    type Error = InitError;

    /// Starts wire with the channels and buffers its configuration gives.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, InitError> {
        let config = system::load(regions, p.pd_name()).map_err(InitError::Config)?;
        let Kind::Wire(w) = config.kind else {
            return Err(InitError::Config(ConfigError::WrongKind));
        };
        let scratch = regions
            .private(system::MEM_SYMBOL)
            .ok_or(InitError::MissingRegion(system::MEM_SYMBOL))?;
        let mut clients = heapless::Vec::new();
        for identity in w.clients {
            let (channel, buf) = channel_buffer(regions, identity.channel)?;
            let _ = clients.push(Client { channel, identity, buf });
        }
        let mut ledgers = heapless::Vec::new();
        for l in &w.ledgers {
            let (channel, buf) = channel_buffer(regions, l.channel)?;
            let _ = ledgers.push(Ledger { channel, buf });
        }
        let _ = writeln!(
            Console(p),
            "{}: {} module identities, {} tenants",
            p.pd_name(),
            clients.len(),
            ledgers.len()
        );
        let max_record = w.max_record as usize;
        Ok(Wire { p, clients, ledgers, scratch, requests: 0, max_record })
    }
}

impl<P: Platform> Wire<P> {
    fn serve(&mut self, client: usize, msg: Msg) -> Msg {
        let Wire { p, clients, ledgers, scratch, requests, max_record } = self;
        let Client { identity, buf, channel } = &mut clients[client];
        let rights = identity.role.rights();
        if let Err(s) = admit(msg.label, rights, msg.count) {
            return fail(s);
        }
        let Some(ledger) = ledgers.get_mut(usize::from(identity.ledger)) else {
            return fail(Status::Internal);
        };
        // The request's data, checked on a private copy.
        let data = match msg.label {
            label::APPEND => match check_append(buf, scratch, &msg, *max_record) {
                Ok(d) => d,
                Err(s) => return fail(s),
            },
            _ => &[][..],
        };
        *requests += 1;
        let mut credential = heapless::String::<16>::new();
        let _ = write!(credential, "channel:{}", channel.id());
        if !write_caller_to(&mut ledger.buf, identity.module, &credential, *requests)
            || ledger.buf.write(DATA_OFFSET, data).is_none()
        {
            return fail(Status::Internal);
        }
        let mut reply = p.ppcall(ledger.channel, Msg::new(msg.label, &msg.mrs[..msg.count]));
        if Status::from_label(reply.label) != Status::Ok {
            return Msg::new(reply.label, &[]);
        }
        let len = match reply_bytes(msg.label, &reply) {
            Some(n) if n <= buf.len() => n,
            _ => return fail(Status::Internal),
        };
        if len > 0 && ledger.buf.copy_to(DATA_OFFSET, buf, 0, len).is_none() {
            return fail(Status::Internal);
        }
        if msg.label == label::STATUS {
            reply.mrs[2] = rights;
            reply.mrs[4] = *max_record as u64;
            reply.count = reply.count.max(5);
        }
        reply
    }
}

/// Channel `ch` and the buffer shared over it.
fn channel_buffer(regions: &mut dyn Regions, ch: u8) -> Result<(Channel, SharedRegion), InitError> {
    let symbol = system::buffer_symbol(ch).ok_or(InitError::BadChannel(ch))?;
    let channel = Channel::new(ch).ok_or(InitError::BadChannel(ch))?;
    let buf = regions.shared(symbol).ok_or(InitError::MissingRegion(symbol))?;
    Ok((channel, buf))
}

fn write_caller_to(buf: &mut SharedRegion, module: &str, credential: &str, request: u64) -> bool {
    let mut header = [0u8; DATA_OFFSET];
    write_caller(&mut header, module, credential, request) && buf.write(0, &header).is_some()
}

/// Whether a caller holding `rights` may make a request with `label` and
/// `count` registers: the label is known, its right held, its registers given.
pub fn admit(label: u64, rights: u64, count: usize) -> Result<(), Status> {
    let right = required_right(label).ok_or(Status::UnknownLabel)?;
    if rights & right != right {
        return Err(Status::Forbidden);
    }
    if count < registers(label) {
        return Err(Status::BadArgument);
    }
    Ok(())
}

/// Checks an append's records, as copied out of the client's buffer:
/// `data` holds exactly `count` (at least one) non-empty records, each at
/// most `max_record` bytes.
pub fn check_records(data: &[u8], count: u64, max_record: usize) -> Result<(), Status> {
    parse(data, count, data.len() as u64, max_record).map(drop).map_err(|e| match e {
        FramingError::NoRecords => Status::NoRecords,
        FramingError::Empty => Status::EmptyRecord,
        FramingError::TooLarge => Status::RecordTooLarge,
        _ => Status::BadBuffer,
    })
}

/// Copies an append's records out of the client's buffer and checks them.
fn check_append<'s>(
    buf: &SharedRegion,
    scratch: &'s mut [u8],
    msg: &Msg,
    max_record: usize,
) -> Result<&'s [u8], Status> {
    let (count, bytes) = (msg.mr(0), msg.mr(1));
    if count == 0 {
        return Err(Status::NoRecords);
    }
    let len = usize::try_from(bytes).map_err(|_| Status::BadBuffer)?;
    let data = scratch.get_mut(..len).ok_or(Status::BadBuffer)?;
    buf.read(0, data).ok_or(Status::BadBuffer)?;
    check_records(data, count, max_record)?;
    Ok(data)
}

/// Bytes of reply data the ledger left after the header.
fn reply_bytes(label: u64, reply: &Msg) -> Option<usize> {
    let n = match label {
        label::READ_SINCE | label::READ_AUDIT => reply.mr(1),
        label::CHECKPOINT | label::AUDIT_CHECKPOINT => reply.mr(0),
        label::PROVE_INCLUSION | label::PROVE_CONSISTENCY => {
            reply.mr(0).checked_add(2)?.checked_mul(HASH_SIZE as u64)?
        }
        _ => 0,
    };
    usize::try_from(n).ok()
}

impl<P: Platform> Pd for Wire<P> {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        match self.clients.iter().position(|c| c.channel == ch) {
            Some(i) => self.serve(i, msg),
            // Only client channels may call wire.
            None => fail(Status::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::client::rights;

    #[test]
    fn requests_are_admitted_by_label_rights_and_registers() {
        assert_eq!(admit(label::APPEND, rights::APPEND, 2), Ok(()));
        assert_eq!(admit(label::APPEND, rights::READ, 2), Err(Status::Forbidden));
        assert_eq!(admit(label::APPEND, rights::APPEND, 1), Err(Status::BadArgument));
        assert_eq!(admit(label::STATUS, 0, 0), Ok(()));
        assert_eq!(admit(999, u64::MAX, 8), Err(Status::UnknownLabel));
    }

    #[test]
    fn records_are_checked() {
        let two = b"\x00\x02ab\x00\x01c";
        assert_eq!(check_records(two, 2, 2), Ok(()));
        assert_eq!(check_records(two, 2, 1), Err(Status::RecordTooLarge));
        assert_eq!(check_records(two, 0, 2), Err(Status::NoRecords));
        assert_eq!(check_records(two, 3, 2), Err(Status::BadBuffer));
        assert_eq!(check_records(&two[..6], 2, 2), Err(Status::BadBuffer));
        assert_eq!(check_records(b"\x00\x00", 1, 2), Err(Status::EmptyRecord));
    }
}
