//! The io_uring receive path of the UDP listener: one multishot receive
//! request that the kernel serves from a ring of buffers we provide, on a
//! ring set up with `SINGLE_ISSUER | DEFER_TASKRUN`.
//!
//! Why: at one metric per datagram most of the daemon's CPU was the
//! kernel's per-message work in `recvmmsg` around the copy itself (copying
//! each `msghdr` and its iovec in, importing the iovec, writing `msg_len`
//! and the flags back). The multishot request keeps one kernel-side
//! message header for every datagram, and with `DEFER_TASKRUN` the kernel
//! does the receiving inside our `io_uring_enter`, on this thread, after
//! the same adaptive wait as the `recvmmsg` path: one system call then
//! takes every pending datagram into the buffers and posts one completion
//! each.
//!
//! Plain `RECV`, not `RECVMSG`: no sender address, no control message and
//! no per-datagram header are wanted, and a buffer of [`MAX_DATAGRAM`]
//! bytes holds the largest UDP payload (65,507 bytes over IPv4, 65,527
//! over IPv6), so no datagram can be truncated.
//!
//! Anything missing at run time (io_uring disabled by the
//! `kernel.io_uring_disabled` sysctl or a seccomp filter, a kernel older
//! than 6.1 without `DEFER_TASKRUN`, or older than 6.0 without multishot
//! receive) makes [`Receiver::new`] or the first completion fail, and the
//! listener falls back to `recvmmsg`.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use io_uring::{cqueue, opcode, types, IoUring};

use super::udp::{utf8_text, DropsPoll, BUFFER_STRIDE, MAX_DATAGRAM};
use crate::listen::POLL;
use crate::server::Core;

/// The provided-buffer group of the receive request.
const GROUP: u16 = 0;
/// `user_data` of the multishot receive request.
const RECV: u64 = 1;
/// `user_data` of the request cancelling it at stop.
const CANCEL: u64 = 2;
/// How many times the stop path waits [`POLL`] for the cancelled receive's
/// last completion before giving up on it (it normally comes at once).
const CANCEL_WAITS: usize = 10;

/// Why [`Receiver::run`] returned.
pub(crate) enum Ended {
    /// The core's stop flag is set; the socket still needs draining.
    Stopped,
    /// The kernel refused the receive request (multishot receive or
    /// provided buffers unsupported); the caller receives with `recvmmsg`.
    Unsupported(io::Error),
}

/// The ring, its provided buffers, and the state of the one request.
/// `ring` is declared (so dropped) before `bufs`: the kernel lets go of the
/// buffer memory when the ring closes.
pub(crate) struct Receiver {
    ring: IoUring,
    bufs: ProvidedBuffers,
    fd: RawFd,
    /// A receive request is in flight (no final completion seen yet).
    armed: bool,
    /// The request has delivered a datagram at least once: a later
    /// `EINVAL` is an error, not a missing feature.
    delivered: bool,
}

impl Receiver {
    /// Sets up a ring for the socket `fd` with `buffers` receive buffers
    /// (a power of two, at most 32,768) of [`MAX_DATAGRAM`] bytes each.
    /// Must run on the thread that will call [`Receiver::run`]: the ring
    /// accepts requests from its creating thread only.
    pub(crate) fn new(fd: RawFd, buffers: u16) -> io::Result<Receiver> {
        if !buffers.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "provided buffer count must be a power of two",
            ));
        }
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            // One completion per buffer at most between two reaps, plus
            // the final completions of the receive and the cancel.
            .setup_cqsize(u32::from(buffers) * 2)
            .build(8)?;
        let mut bufs = ProvidedBuffers::new(buffers)?;
        // SAFETY: the entry array is a page-aligned mapping of `buffers`
        // entries owned by `bufs`, which outlives the ring (field order of
        // `Receiver`; `ring` is dropped first).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.entries as u64,
                buffers,
                GROUP,
                0,
            )?;
        }
        for bid in 0..buffers {
            bufs.give(bid);
        }
        bufs.publish();
        Ok(Receiver {
            ring,
            bufs,
            fd,
            armed: false,
            delivered: false,
        })
    }

    fn arm(&mut self) -> io::Result<()> {
        let sqe = opcode::RecvMulti::new(types::Fd(self.fd), GROUP)
            .build()
            .user_data(RECV);
        // SAFETY: the request points at no memory of ours but the
        // registered buffer group, which lives as long as the ring.
        unsafe { self.ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        self.armed = true;
        Ok(())
    }

    /// Submits what is queued and waits until `want` completions are
    /// posted or `timeout` passes; a timeout or an interruption is not an
    /// error. With `DEFER_TASKRUN` the datagrams are received here, in
    /// this call, on this thread.
    fn enter(&mut self, want: usize, timeout: Duration) -> io::Result<()> {
        let timeout = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&timeout);
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EAGAIN | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Receives until the core stops, aggregating every datagram.
    ///
    /// With `DEFER_TASKRUN` the kernel receives only inside our
    /// `io_uring_enter`, and it does not wake us for a datagram while our
    /// receive request already has one pending (the request is one unit
    /// of work however many datagrams wait). So an enter that asks for more
    /// completions than there are buffers sleeps its whole timeout, then
    /// receives every waiting datagram: the wait after a drained socket
    /// (`batch_wait`, as in the `recvmmsg` path) and the receiving are one
    /// system call, where the `recvmmsg` path needs a sleep, a receive per
    /// batch, and a context switch. See [`Round`] for the three kinds of
    /// call.
    pub(crate) fn run(&mut self, core: &Core, drops: &AtomicU64, batch_wait: Duration) -> Ended {
        let mut drops_poll = DropsPoll::default();
        let all = usize::from(self.bufs.count) + 2;
        let mut round = Round::Idle;
        loop {
            if core.stop.load(Ordering::Relaxed) {
                self.cancel(core);
                drops_poll.idle(self.fd, drops);
                return Ended::Stopped;
            }
            if !self.armed {
                if let Err(e) = self.arm() {
                    return Ended::Unsupported(e);
                }
            }
            let entered = match round {
                Round::Idle => self.enter(1, POLL),
                Round::Drain => self.enter(all, Duration::ZERO),
                Round::Gather => self.enter(all, batch_wait),
            };
            if let Err(e) = entered {
                self.cancel(core);
                return Ended::Unsupported(e);
            }
            let reaped = self.reap(core);
            if let Some(e) = reaped.unsupported {
                self.cancel(core);
                return Ended::Unsupported(e);
            }
            if reaped.packets > 0 {
                core.count_received(reaped.packets, reaped.metrics);
                drops_poll.after_batch(self.fd, drops);
            } else {
                drops_poll.idle(self.fd, drops);
            }
            round = if reaped.packets == 0 {
                Round::Idle
            } else if !self.armed || round == Round::Idle {
                // Out of buffers (a flood), or woken by the first datagram
                // after a quiet spell (the kernel stops after one unit of
                // work, at most 32 datagrams): more may wait.
                Round::Drain
            } else {
                // The request ran until it met an empty socket.
                Round::Gather
            };
        }
    }

    /// Takes every completion: aggregates the datagrams, hands their
    /// buffers back to the kernel, notes a finished request.
    fn reap(&mut self, core: &Core) -> Reaped {
        let mut out = Reaped::default();
        let Receiver {
            ring,
            bufs,
            armed,
            delivered,
            ..
        } = self;
        for cqe in ring.completion() {
            if cqe.user_data() != RECV {
                continue;
            }
            let flags = cqe.flags();
            let res = cqe.result();
            if !cqueue::more(flags) {
                *armed = false;
            }
            if let Some(bid) = cqueue::buffer_select(flags) {
                let len = usize::try_from(res).unwrap_or(0).min(MAX_DATAGRAM);
                let text = utf8_text(bufs.data(bid, len));
                out.metrics += core.aggregate_packet(&text, &"udp");
                out.packets += 1;
                *delivered = true;
                bufs.give(bid);
            } else if res == 0 {
                // An empty datagram may end the request without taking a
                // buffer; it is still a datagram received.
                out.packets += 1;
            } else if res < 0 {
                match -res {
                    // Every buffer was in use: they are handed back below
                    // and the request re-armed on the next round.
                    libc::ENOBUFS if out.packets > 0 => {}
                    libc::ECANCELED => {}
                    // No buffer was ours to give back: the kernel's ring is
                    // out of step with ours; recvmmsg is the safe way on.
                    libc::ENOBUFS => {
                        out.unsupported =
                            Some(io::Error::other("io_uring provided buffers exhausted"));
                    }
                    e @ (libc::EINVAL | libc::EOPNOTSUPP) if !*delivered => {
                        out.unsupported = Some(io::Error::from_raw_os_error(e));
                    }
                    e => {
                        core.stats.udp_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %io::Error::from_raw_os_error(e), "UDP receive error");
                    }
                }
            }
        }
        bufs.publish();
        out
    }

    /// Cancels the receive request and takes its last completions (and any
    /// datagram completed meanwhile), so that nothing is received into
    /// the buffers once the ring is gone; the socket itself is drained by
    /// the caller.
    fn cancel(&mut self, core: &Core) {
        if !self.armed {
            return;
        }
        let sqe = opcode::AsyncCancel::new(RECV).build().user_data(CANCEL);
        // SAFETY: a cancel request references no memory.
        if unsafe { self.ring.submission().push(&sqe) }.is_err() {
            return;
        }
        for _ in 0..CANCEL_WAITS {
            if self.enter(1, POLL).is_err() {
                return;
            }
            let reaped = self.reap(core);
            if reaped.packets > 0 {
                core.count_received(reaped.packets, reaped.metrics);
            }
            if !self.armed {
                return;
            }
        }
        tracing::warn!("io_uring receive request not cancelled at stop");
    }
}

/// The kinds of `io_uring_enter` of [`Receiver::run`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Nothing came in the last round: wait up to [`POLL`] for the first
    /// datagram (the kernel wakes us for it).
    Idle,
    /// Datagrams may wait: receive all of them, or until the buffers run
    /// out, without waiting.
    Drain,
    /// The socket was just drained: sleep the batch wait, then receive
    /// all that came meanwhile.
    Gather,
}

#[derive(Default)]
struct Reaped {
    packets: u64,
    metrics: u64,
    unsupported: Option<io::Error>,
}

/// The provided-buffer ring: an array of entries shared with the kernel
/// (its own page-aligned mapping, as the kernel requires) and the buffers
/// they point at, buffer `bid` at `bid * BUFFER_STRIDE` of one allocation.
struct ProvidedBuffers {
    entries: *mut types::BufRingEntry,
    map_len: usize,
    /// Owns the buffer memory; only read and handed out through `base`.
    _memory: Vec<u8>,
    base: *mut u8,
    count: u16,
    /// Our producer index; the kernel sees it at [`Self::publish`].
    tail: u16,
}

impl ProvidedBuffers {
    fn new(count: u16) -> io::Result<ProvidedBuffers> {
        let map_len = usize::from(count) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping; no file, no fixed address;
        // the result is checked below.
        let entries = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if entries == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Zeroed pages: untouched buffers cost no resident memory.
        let mut memory = vec![0u8; usize::from(count) * BUFFER_STRIDE];
        let base = memory.as_mut_ptr();
        Ok(ProvidedBuffers {
            entries: entries.cast(),
            map_len,
            _memory: memory,
            base,
            count,
            tail: 0,
        })
    }

    /// Queues buffer `bid` for the kernel (visible after [`Self::publish`]).
    fn give(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: `slot` < `count`, the entries in the mapping; the kernel
        // reads only entries before the published tail, and this one is at
        // or after it until `publish`. The setters leave alone the `resv`
        // field that holds the shared tail in entry 0.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: `bid` < `count`, so the offset is inside `_memory`.
        entry.set_addr(unsafe { self.base.add(usize::from(bid) * BUFFER_STRIDE) } as u64);
        entry.set_len(MAX_DATAGRAM as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the queued buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is a u16 inside entry 0 of the live mapping,
        // aligned for an atomic; the kernel reads it with acquire
        // ordering, so entries written before this release store are seen.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The first `len` bytes of buffer `bid`, as the kernel filled them.
    fn data(&self, bid: u16, len: usize) -> &[u8] {
        let bid = usize::from(bid.min(self.count - 1));
        // SAFETY: the range is inside `_memory` (`len` ≤ MAX_DATAGRAM, the
        // buffer size, ≤ BUFFER_STRIDE); the kernel wrote it before posting the completion
        // we are handling and does not touch the buffer again until it is
        // given back.
        unsafe {
            std::slice::from_raw_parts(self.base.add(bid * BUFFER_STRIDE), len.min(MAX_DATAGRAM))
        }
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; the ring that
        // shared it is closed before (field order of `Receiver`).
        unsafe {
            libc::munmap(self.entries.cast(), self.map_len);
        }
    }
}
