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

use abi::client::{Reply, ReplyError, Request, Status, required_right};
use abi::ledger::{DATA_OFFSET, LedgerStatus, write_caller};
use abi::records::{FramingError, parse};
use platform::{Channel, Console, Msg, Pd, Platform, Program, Regions, SharedRegion};
use system::{ConfigError, Kind, WireClient};

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
        let request = match admit(&msg, rights) {
            Ok(r) => r,
            Err(s) => return s.reply(),
        };
        let Some(ledger) = ledgers.get_mut(usize::from(identity.ledger)) else {
            return Status::Internal.reply();
        };
        // The request's data, checked on a private copy.
        let data = match request {
            Request::Append { count, bytes } => {
                match check_append(buf, scratch, count, bytes, *max_record) {
                    Ok(d) => d,
                    Err(s) => return s.reply(),
                }
            }
            _ => &[][..],
        };
        *requests += 1;
        let mut credential = heapless::String::<16>::new();
        let _ = write!(credential, "channel:{}", channel.id());
        if !write_caller_to(&mut ledger.buf, identity.module, &credential, *requests)
            || ledger.buf.write(DATA_OFFSET, data).is_none()
        {
            return Status::Internal.reply();
        }
        let answer = p.ppcall(ledger.channel, request.encode());
        let reply = match reply_of(&request, &answer, rights, *max_record as u64) {
            Ok(r) => r,
            // A refusal is passed on as it is, even a status without a name.
            Err(ReplyError::Refused(status)) => return Msg::new(status, &[]),
            Err(ReplyError::Malformed(_)) => return Status::Internal.reply(),
        };
        let len = match reply.data_bytes() {
            Some(n) if n <= buf.len() => n,
            _ => return Status::Internal.reply(),
        };
        if len > 0 && ledger.buf.copy_to(DATA_OFFSET, buf, 0, len).is_none() {
            return Status::Internal.reply();
        }
        reply.encode()
    }
}

/// The client's reply from the ledger's `answer` to `request`: as it is,
/// but for `STATUS`, which wire completes with the caller's rights and the
/// largest record.
fn reply_of(
    request: &Request,
    answer: &Msg,
    rights: u64,
    max_record: u64,
) -> Result<Reply, ReplyError> {
    match request {
        Request::Status => {
            Ok(Reply::Status(LedgerStatus::decode(answer)?.for_client(rights, max_record)))
        }
        _ => Reply::decode(request, answer),
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

/// The request `msg` makes, if a caller holding `rights` may make it: the
/// label is known (else `UNKNOWN_LABEL`), its right held (else `FORBIDDEN`),
/// its registers given (else `BAD_ARGUMENT`), in that order.
pub fn admit(msg: &Msg, rights: u64) -> Result<Request, Status> {
    let right = required_right(msg.label).ok_or(Status::UnknownLabel)?;
    if rights & right != right {
        return Err(Status::Forbidden);
    }
    Ok(Request::decode(msg)?)
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
    count: u64,
    bytes: u64,
    max_record: usize,
) -> Result<&'s [u8], Status> {
    if count == 0 {
        return Err(Status::NoRecords);
    }
    let len = usize::try_from(bytes).map_err(|_| Status::BadBuffer)?;
    let data = scratch.get_mut(..len).ok_or(Status::BadBuffer)?;
    buf.read(0, data).ok_or(Status::BadBuffer)?;
    check_records(data, count, max_record)?;
    Ok(data)
}

impl<P: Platform> Pd for Wire<P> {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        match self.clients.iter().position(|c| c.channel == ch) {
            Some(i) => self.serve(i, msg),
            // Only client channels may call wire.
            None => Status::Forbidden.reply(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::client::{label, rights};

    #[test]
    fn requests_are_admitted_by_label_rights_and_registers() {
        let append = Request::Append { count: 1, bytes: 3 };
        assert_eq!(admit(&append.encode(), rights::APPEND), Ok(append));
        assert_eq!(admit(&append.encode(), rights::READ), Err(Status::Forbidden));
        let short = Msg::new(label::APPEND, &[1]);
        assert_eq!(admit(&short, rights::APPEND), Err(Status::BadArgument));
        assert_eq!(admit(&Msg::new(label::READ_SINCE, &[]), 0), Err(Status::Forbidden));
        assert_eq!(admit(&Msg::new(label::STATUS, &[]), 0), Ok(Request::Status));
        assert_eq!(admit(&Msg::new(999, &[0; 8]), u64::MAX), Err(Status::UnknownLabel));
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
