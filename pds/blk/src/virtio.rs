//! virtio-blk over virtio-mmio with the `virtio-drivers` crate: the
//! device's registers in an uncached mapping, its virtqueue in a DMA region
//! whose physical address the system description gives, and psdb's data
//! region handed to the device in place (zero copy).
//!
//! Durability is read from the device itself: `virtio-drivers`' `flush()`
//! returns success without doing anything when `VIRTIO_BLK_F_FLUSH` was not
//! negotiated, so the driver reads the feature bits before the crate
//! negotiates and serves nothing from a device that cannot flush.
//!
//! The crate's `Hal` is a set of functions without a receiver, so the
//! regions it translates live in statics set once at start. Buffers outside
//! those regions (request headers and status bytes on the stack) go through
//! bounce slots in the DMA region.
//!
//! Where the transport is in its register page comes from the board file
//! (`[disk] mmio`), which `make image` passes to the build as
//! `SERVICE_FS_BLK_MMIO`: the page may hold several transports (QEMU's
//! AArch64 `virt`) or one followed by nothing mapped (RISC-V `virt`).
#![allow(unsafe_code)]

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use abi::blk::{Request, code, status};
use platform::{Platform, Regions, SharedRegion};
use system::blk as sym;
use virtio_drivers::device::blk::{BlkReq, BlkResp, RespStatus, SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

use crate::{Device, Geometry, Open, Started};

/// `VIRTIO_BLK_F_RO`: the device is read-only.
const F_RO: u64 = 1 << 5;
/// `VIRTIO_BLK_F_FLUSH`: the device has a cache flush command.
const F_FLUSH: u64 = 1 << 9;
/// Bytes of one virtio-mmio transport's registers.
const TRANSPORT: usize = 0x200;
/// Bounce slots for buffers outside the DMA and data regions.
const SLOTS: usize = 16;
const SLOT: usize = 256;

/// A region the HAL translates: virtual base, physical base, length.
struct Window {
    vaddr: AtomicUsize,
    paddr: AtomicU64,
    len: AtomicUsize,
}

impl Window {
    const fn new() -> Window {
        Window { vaddr: AtomicUsize::new(0), paddr: AtomicU64::new(0), len: AtomicUsize::new(0) }
    }

    fn set(&self, vaddr: usize, paddr: u64, len: usize) {
        self.vaddr.store(vaddr, Ordering::Relaxed);
        self.paddr.store(paddr, Ordering::Relaxed);
        self.len.store(len, Ordering::Release);
    }

    /// The physical address of `[vaddr, vaddr + len)`, if it lies inside.
    fn paddr_of(&self, vaddr: usize, len: usize) -> Option<PhysAddr> {
        let (base, n) = (self.vaddr.load(Ordering::Relaxed), self.len.load(Ordering::Acquire));
        let off = vaddr.checked_sub(base)?;
        (off.checked_add(len)? <= n).then(|| self.paddr.load(Ordering::Relaxed) + off as u64)
    }

    /// The virtual address of `paddr`, if it lies inside.
    fn vaddr_of(&self, paddr: PhysAddr) -> Option<usize> {
        let off = paddr.checked_sub(self.paddr.load(Ordering::Relaxed))? as usize;
        (off < self.len.load(Ordering::Acquire)).then(|| self.vaddr.load(Ordering::Relaxed) + off)
    }
}

/// The DMA region (virtqueues, then bounce slots) and psdb's data region.
static DMA: Window = Window::new();
static DATA: Window = Window::new();
/// Bytes of the DMA region handed out to virtqueues.
static DMA_USED: AtomicUsize = AtomicUsize::new(0);
/// Bounce slots in use (a bit each).
static BOUNCE: AtomicU32 = AtomicU32::new(0);

/// Where the bounce slots start in the DMA region.
fn bounce_base() -> usize {
    DMA.len.load(Ordering::Acquire) - SLOTS * SLOT
}

struct SelHal;

// SAFETY: `dma_alloc` hands out disjoint, zeroed, page-aligned ranges of a
// region whose physical address the system description gives; `share`
// returns addresses inside the DMA or data region, or of a bounce slot that
// holds a copy until `unshare` copies it back and frees it.
unsafe impl Hal for SelHal {
    fn dma_alloc(pages: usize, _: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let bytes = pages * PAGE_SIZE;
        let off = DMA_USED.fetch_add(bytes, Ordering::Relaxed);
        if off + bytes > bounce_base() {
            panic!("blk: the DMA region is too small for the virtqueue");
        }
        let vaddr = DMA.vaddr.load(Ordering::Relaxed) + off;
        let paddr = DMA.paddr.load(Ordering::Relaxed) + off as u64;
        // SAFETY: inside the DMA region, handed out once.
        unsafe { core::ptr::write_bytes(vaddr as *mut u8, 0, bytes) };
        (paddr, NonNull::new(vaddr as *mut u8).unwrap_or(NonNull::dangling()))
    }

    unsafe fn dma_dealloc(_: PhysAddr, _: NonNull<u8>, _: usize) -> i32 {
        0 // the queue lives as long as the PD
    }

    unsafe fn mmio_phys_to_virt(_: PhysAddr, _: usize) -> NonNull<u8> {
        panic!("blk: virtio-mmio transports need no physical-to-virtual mapping")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let (ptr, len) = (buffer.as_ptr() as *mut u8 as usize, buffer.len());
        if let Some(p) = DATA.paddr_of(ptr, len).or_else(|| DMA.paddr_of(ptr, len)) {
            return p;
        }
        assert!(len <= SLOT, "blk: a {len}-byte buffer outside the DMA regions");
        let slot = loop {
            let used = BOUNCE.load(Ordering::Acquire);
            let free = (!used).trailing_zeros() as usize;
            assert!(free < SLOTS, "blk: out of bounce slots");
            if BOUNCE
                .compare_exchange(used, used | 1 << free, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break free;
            }
        };
        let at = bounce_base() + slot * SLOT;
        let vaddr = DMA.vaddr.load(Ordering::Relaxed) + at;
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the slot is ours until unshare; `buffer` is valid for reads.
            unsafe { core::ptr::copy_nonoverlapping(ptr as *const u8, vaddr as *mut u8, len) };
        }
        DMA.paddr.load(Ordering::Relaxed) + at as u64
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let Some(vaddr) = DMA.vaddr_of(paddr) else { return };
        let at = vaddr - DMA.vaddr.load(Ordering::Relaxed);
        if at < bounce_base() {
            return; // shared in place
        }
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the slot holds what the device wrote; `buffer` is the
            // caller's, valid for writes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    vaddr as *const u8,
                    buffer.as_ptr() as *mut u8,
                    buffer.len(),
                )
            };
        }
        BOUNCE.fetch_and(!(1 << ((at - bounce_base()) / SLOT)), Ordering::AcqRel);
    }
}

/// A request the device is working on.
struct InFlight {
    token: u16,
    write: bool,
    offset: usize,
    len: usize,
}

/// A virtio-blk device.
pub struct Virtio {
    blk: VirtIOBlk<SelHal, MmioTransport<'static>>,
    geometry: Geometry,
    req: BlkReq,
    resp: BlkResp,
    flight: Option<InFlight>,
}

/// The transport's physical address, as the board file gives it.
const MMIO: Option<&str> = option_env!("SERVICE_FS_BLK_MMIO");

/// A `0x`-prefixed hexadecimal or a decimal number.
fn number(s: &str) -> Option<usize> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The virtio-blk transport the board file names, in the mapped page.
fn probe(regs: &SharedRegion) -> Result<MmioTransport<'static>, &'static str> {
    let mmio = MMIO.and_then(number).ok_or(
        "built without the board's transport address (SERVICE_FS_BLK_MMIO; make image passes it)",
    )?;
    let off = mmio % PAGE_SIZE;
    if off + TRANSPORT > regs.len() {
        return Err("the board's transport is not in the mapped register page");
    }
    // SAFETY: the transport's registers lie in the device mapping
    // (uncached, for the PD's life), wrapped once.
    let header =
        unsafe { NonNull::new_unchecked(regs.base().as_ptr().add(off)) }.cast::<VirtIOHeader>();
    // SAFETY: as above.
    match unsafe { MmioTransport::new(header, TRANSPORT) } {
        Ok(t) if t.device_type() == DeviceType::Block => Ok(t),
        Ok(_) | Err(_) => {
            Err("no virtio-blk device at the board's transport (is the disk attached?)")
        }
    }
}

impl Virtio {
    /// Probes the device and sets up its queue.
    fn set_up(regs: &SharedRegion) -> Result<Virtio, &'static str> {
        let mut transport = probe(regs)?;
        let features = transport.read_device_features();
        let blk = VirtIOBlk::<SelHal, _>::new(transport)
            .map_err(|_| "the virtio-blk device did not initialise")?;
        let geometry = Geometry {
            block_size: SECTOR_SIZE as u32,
            blocks: blk.capacity(),
            durable: features & F_FLUSH != 0,
            read_only: features & F_RO != 0,
        };
        let mut v = Virtio {
            blk,
            geometry,
            req: BlkReq::default(),
            resp: BlkResp::default(),
            flight: None,
        };
        v.blk.enable_interrupts();
        Ok(v)
    }

    fn window(data: &mut SharedRegion, offset: usize, len: usize) -> &mut [u8] {
        // SAFETY: the driver checked `offset + len` against the region;
        // psdb does not touch these bytes until the request is answered.
        unsafe { core::slice::from_raw_parts_mut(data.base().as_ptr().add(offset), len) }
    }
}

fn resp_status(r: &BlkResp) -> u32 {
    if r.status() == RespStatus::OK { status::OK } else { status::IO_ERROR }
}

impl Device for Virtio {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn start(&mut self, req: &Request, data: &mut SharedRegion) -> Started {
        if req.code == code::FLUSH {
            // One request at a time: every earlier write has completed.
            return match self.blk.flush() {
                Ok(()) => Started::Done(status::OK, 0),
                Err(_) => Started::Done(status::IO_ERROR, 0),
            };
        }
        let (offset, len) = (req.offset as usize, req.count as usize * SECTOR_SIZE);
        let buf = Self::window(data, offset, len);
        let write = req.code == code::WRITE;
        // SAFETY: `req`, `resp` and the data window stay untouched until
        // `complete` passes the same ones back.
        let token = unsafe {
            if write {
                self.blk.write_blocks_nb(req.block as usize, &mut self.req, buf, &mut self.resp)
            } else {
                self.blk.read_blocks_nb(req.block as usize, &mut self.req, buf, &mut self.resp)
            }
        };
        match token {
            Ok(token) => {
                self.flight = Some(InFlight { token, write, offset, len });
                Started::Pending
            }
            Err(_) => Started::Done(status::IO_ERROR, 0),
        }
    }

    fn complete(&mut self, data: &mut SharedRegion) -> Option<(u32, u32)> {
        let f = self.flight.as_ref()?;
        if self.blk.peek_used() != Some(f.token) {
            return None;
        }
        let f = self.flight.take()?;
        let buf = Self::window(data, f.offset, f.len);
        // SAFETY: the same buffers `start` submitted with this token.
        let r = unsafe {
            if f.write {
                self.blk.complete_write_blocks(f.token, &self.req, buf, &mut self.resp)
            } else {
                self.blk.complete_read_blocks(f.token, &self.req, buf, &mut self.resp)
            }
        };
        let st = if r.is_ok() { resp_status(&self.resp) } else { status::IO_ERROR };
        let count = if st == status::OK { (f.len / SECTOR_SIZE) as u32 } else { 0 };
        Some((st, count))
    }

    fn interrupt(&mut self) {
        self.blk.ack_interrupt();
    }
}

/// virtio-blk is the seL4 program's disk (`Driver<P, Virtio>`): the
/// transport's registers, the DMA region and the physical addresses of it
/// and of the data region, from the PD's regions.
impl Open for Virtio {
    fn open<P: Platform>(
        _: P,
        regions: &mut dyn Regions,
        data: &SharedRegion,
    ) -> Result<Self, &'static str> {
        let regs = regions.shared(sym::REGS).ok_or("no device register mapping (sfs_blk_regs)")?;
        let dma = regions.shared(sym::DMA).ok_or("no DMA region (sfs_blk_dma)")?;
        let dma_paddr =
            regions.paddr(sym::DMA_PADDR).ok_or("no physical address of the DMA region")?;
        let data_paddr =
            regions.paddr(sym::DATA_PADDR).ok_or("no physical address of the data region")?;
        if dma.len() < 4 * PAGE_SIZE + SLOTS * SLOT {
            return Err("the DMA region is too small");
        }
        DMA.set(dma.base().as_ptr() as usize, dma_paddr, dma.len());
        DATA.set(data.base().as_ptr() as usize, data_paddr, data.len());
        Virtio::set_up(&regs)
    }
}
