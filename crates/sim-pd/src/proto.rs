//! Frames between the kernel and PD processes (over a SOCK_SEQPACKET pair).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use platform::{MAX_MRS, Msg};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};
use zerocopy::byteorder::little_endian::U64;
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Bytes of a frame.
pub const FRAME: usize = 16 + 8 + 8 * MAX_MRS;

/// What a frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Kernel → PD: notifications arrived (label: the channel set).
    Notified = 2,
    /// Kernel → PD: a protected call on `ch`.
    Protected = 3,
    /// Kernel → PD: the reply to its call.
    Reply = 4,
    /// Kernel → PD: child `ch` faulted.
    Fault = 5,
    /// PD → kernel: finished `init`, a notification or a fault.
    Done = 10,
    /// PD → kernel: the reply to a protected call.
    Return = 11,
    /// PD → kernel: notify `ch`.
    Notify = 12,
    /// PD → kernel: protected call on `ch`.
    Call = 13,
    /// PD → kernel: console output (the bytes follow the kind byte).
    Print = 14,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        use Kind::*;
        [Notified, Protected, Reply, Fault, Done, Return, Notify, Call]
            .into_iter()
            .find(|k| *k as u8 == b)
    }
}

/// One frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What it says.
    pub kind: Kind,
    /// The channel (or child) concerned.
    pub ch: u8,
    /// The message.
    pub msg: Msg,
}

impl Frame {
    /// A frame.
    pub fn new(kind: Kind, ch: u8, msg: Msg) -> Frame {
        Frame { kind, ch, msg }
    }

    fn encode(&self) -> [u8; FRAME] {
        let mut raw = Raw::new_zeroed();
        raw.kind = self.kind as u8;
        raw.ch = self.ch;
        raw.label = self.msg.label.into();
        raw.count = (self.msg.count as u64).into();
        raw.mrs = self.msg.mrs.map(U64::new);
        let mut b = [0u8; FRAME];
        b.copy_from_slice(raw.as_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Frame> {
        let raw = Raw::ref_from_bytes(b).ok()?;
        let count = usize::try_from(raw.count.get()).unwrap_or(MAX_MRS).min(MAX_MRS);
        let mrs = raw.mrs.map(U64::get);
        let msg = Msg::new(raw.label.get(), &mrs[..count]);
        Some(Frame { kind: Kind::from_u8(raw.kind)?, ch: raw.ch, msg })
    }
}

/// A frame's bytes: kind, channel, six reserved, then little-endian words.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct Raw {
    kind: u8,
    ch: u8,
    reserved: [u8; 6],
    label: U64,
    count: U64,
    mrs: [U64; MAX_MRS],
}

const _: () = assert!(size_of::<Raw>() == FRAME);

/// Sends a frame.
pub fn send(fd: BorrowedFd<'_>, f: &Frame) -> io::Result<()> {
    rustix::net::send(fd, &f.encode(), SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Most console bytes in one message.
pub const MAX_PRINT: usize = 16 * 1024;

/// A message from a PD.
pub enum Incoming {
    /// A frame.
    Frame(Frame),
    /// Console output.
    Print(Vec<u8>),
}

/// Receives a frame; `None` when the other side is gone or sent garbage.
pub fn recv(fd: BorrowedFd<'_>) -> io::Result<Option<Frame>> {
    let mut b = [0u8; FRAME + 1];
    let (_, len) = rustix::net::recv(fd, &mut b[..], RecvFlags::empty())?;
    Ok(if len == 0 { None } else { Frame::decode(&b[..len]) })
}

/// Receives a frame or console output; `None` when the other side is gone
/// or sent garbage.
pub fn recv_any(fd: BorrowedFd<'_>) -> io::Result<Option<Incoming>> {
    let mut b = vec![0u8; MAX_PRINT + 2];
    let (_, len) = rustix::net::recv(fd, &mut b[..], RecvFlags::empty())?;
    Ok(match b.first() {
        _ if len == 0 => None,
        Some(&k) if k == Kind::Print as u8 => Some(Incoming::Print(b[1..len].to_vec())),
        _ => Frame::decode(&b[..len]).map(Incoming::Frame),
    })
}

/// Sends console output, in pieces of at most [`MAX_PRINT`] bytes.
pub fn send_print(fd: BorrowedFd<'_>, text: &[u8]) -> io::Result<()> {
    for piece in text.chunks(MAX_PRINT) {
        let mut m = Vec::with_capacity(piece.len() + 1);
        m.push(Kind::Print as u8);
        m.extend_from_slice(piece);
        rustix::net::send(fd, &m, SendFlags::NOSIGNAL)?;
    }
    Ok(())
}

/// How a PD process is set up.
#[derive(Debug, Serialize, Deserialize)]
pub struct Setup {
    /// The PD's name.
    pub name: String,
    /// Its program image.
    pub image: String,
    /// Its mappings, in the order of the descriptors sent with this.
    pub maps: Vec<MapSetup>,
    /// Its channel ends that may call (bit per channel id: libmicrokit's
    /// `microkit_pps`).
    pub pps: u64,
    /// Its channel ends that may notify (`microkit_notifications`).
    pub notifications: u64,
}

/// One mapping.
#[derive(Debug, Serialize, Deserialize)]
pub struct MapSetup {
    /// The symbol the PD finds it by (`setvar_vaddr`, else the region's name).
    pub symbol: String,
    /// The symbol its size goes in (`setvar_size`), if any.
    pub size_symbol: Option<String>,
    /// Bytes.
    pub size: usize,
    /// Mapped writable.
    pub writable: bool,
    /// Mapped into this PD only.
    pub private: bool,
}

/// Sends the setup and the regions' descriptors.
pub fn send_setup(fd: BorrowedFd<'_>, setup: &Setup, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let json = serde_json::to_vec(setup).map_err(io::Error::other)?;
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many regions to pass"));
    }
    rustix::net::sendmsg(fd, &[io::IoSlice::new(&json)], &mut control, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Receives the setup and its descriptors.
pub fn recv_setup(fd: impl AsFd) -> io::Result<(Setup, Vec<OwnedFd>)> {
    let mut data = vec![0u8; 1 << 20];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(250))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        fd,
        &mut [io::IoSliceMut::new(&mut data)],
        &mut control,
        RecvFlags::empty(),
    )?;
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(iter) = msg {
            fds.extend(iter);
        }
    }
    let setup = serde_json::from_slice(&data[..got.bytes]).map_err(io::Error::other)?;
    Ok((setup, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = Frame::new(Kind::Call, 7, Msg::new(42, &[1, 2, u64::MAX]));
        assert_eq!(Frame::decode(&f.encode()), Some(f));
        assert_eq!(Frame::decode(&[0u8; 5]), None);
        let mut bad = f.encode();
        bad[0] = 99;
        assert_eq!(Frame::decode(&bad), None);
    }
}
