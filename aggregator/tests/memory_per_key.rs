//! Memory held per distinct key after a flush, and per flooded timer key
//! in exact and hdr mode, measured with a counting global allocator (bytes
//! live on the heap, not RSS, so allocator caching does not blur the
//! figure). Run with `--nocapture` to see the numbers; the bounds keep a
//! regression from going unnoticed. The tests share the process-wide
//! counter, so they take turns (`SERIAL`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};

use aggregator::{Engine, RawConfig};
use storage::{Ingest, IngestError, IngestReport, MetricPoint};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: delegates every call to the system allocator unchanged and only
// adds bookkeeping of the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Drop_;

impl Ingest for Drop_ {
    fn ingest(&self, points: Vec<MetricPoint>) -> Result<IngestReport, IngestError> {
        Ok(IngestReport {
            accepted: points.len(),
            ..IngestReport::default()
        })
    }
}

/// An engine with `shards` shards and `timer_mode`, flushing nowhere.
fn engine_without_listeners(shards: usize, timer_mode: &str) -> Engine {
    let raw = RawConfig {
        udp: String::new(),
        tcp: String::new(),
        admin: String::new(),
        shards,
        timer_mode: timer_mode.into(),
        ..RawConfig::default()
    };
    Engine::new(raw.validate().unwrap(), Arc::new(Drop_))
}

fn feed(engine: &Engine, n: usize, line: impl Fn(usize) -> String) {
    let lines: Vec<String> = (0..n).map(line).collect();
    for chunk in lines.chunks(20) {
        engine.handle_packet(&chunk.join("\n"));
    }
}

#[test]
fn memory_per_key_after_a_flush() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    const N: usize = 200_000;
    let engine = engine_without_listeners(16, "exact");
    engine.flush(1);
    let base = LIVE.load(Ordering::Relaxed);
    feed(&engine, N, |i| {
        format!("app.service{}.requests.k{i}:1|c", i % 100)
    });
    engine.flush(2);
    let counters = LIVE.load(Ordering::Relaxed);
    feed(&engine, N, |i| {
        format!("app.service{}.latency.k{i}:{}|ms", i % 100, i % 250)
    });
    engine.flush(3);
    let timers = LIVE.load(Ordering::Relaxed);
    // Same names again: an interval's values while the keys exist.
    feed(&engine, N, |i| {
        format!("app.service{}.latency.k{i}:{}|ms", i % 100, i % 250)
    });
    let timers_open = LIVE.load(Ordering::Relaxed);
    let per_counter = (counters - base) as f64 / N as f64;
    let per_timer = (timers - counters) as f64 / N as f64;
    let per_timer_value = (timers_open - timers) as f64 / N as f64;
    println!(
        "memory after a flush: {per_counter:.0} B per counter key, {per_timer:.0} B per timer key \
         (names ~32 B); +{per_timer_value:.0} B per timer key holding one value in an open interval"
    );
    assert!(per_counter < 256.0, "{per_counter} B per counter key");
    assert!(per_timer < 320.0, "{per_timer} B per timer key");
}

/// Keys of up to 15 bytes are held inside the map's slot: no heap copy of
/// the name (with a heap copy, 11-byte names cost about 11 B more per key).
#[test]
fn short_keys_are_held_without_a_heap_copy() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    const N: usize = 200_000;
    let engine = engine_without_listeners(16, "exact");
    engine.flush(1);
    let base = LIVE.load(Ordering::Relaxed);
    // "bench.c0" .. "bench.c199999": 8 to 13 bytes.
    feed(&engine, N, |i| format!("bench.c{i}:1|c"));
    engine.flush(2);
    let per_key = (LIVE.load(Ordering::Relaxed) - base) as f64 / N as f64;
    println!("memory after a flush: {per_key:.0} B per counter key of 8 to 13 bytes");
    assert!(per_key < 36.0, "{per_key} B per short counter key");
}

/// Sends `n` values to one timer key, 20 lines a packet.
fn flood(engine: &Engine, n: usize) {
    let mut packet = String::new();
    for i in 0..n {
        packet.push_str(&format!("api.latency:{}|ms\n", (i % 5000) as f64 * 0.731));
        if i % 20 == 19 {
            engine.handle_packet(&packet);
            packet.clear();
        }
    }
    engine.handle_packet(&packet);
}

/// Bytes held by one timer key receiving `total` values in one interval,
/// measured after `first` values and after all of them.
fn timer_key_bytes(timer_mode: &str, first: usize, total: usize) -> (isize, isize) {
    let engine = engine_without_listeners(1, timer_mode);
    engine.flush(1);
    let base = LIVE.load(Ordering::Relaxed);
    flood(&engine, first);
    let early = LIVE.load(Ordering::Relaxed) - base;
    flood(&engine, total - first);
    let late = LIVE.load(Ordering::Relaxed) - base;
    assert!(engine.flush(2) > 10, "the flood was flushed");
    (early, late)
}

#[test]
fn hdr_timer_memory_is_bounded_regardless_of_sample_count() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    const N: usize = 1_000_000;
    let (_, exact) = timer_key_bytes("exact", 10_000, N);
    let (early, late) = timer_key_bytes("hdr", 10_000, N);
    let histogram = aggregator::hdr::HdrSpec::new(3, 0.001, 3_600_000.0)
        .unwrap()
        .histogram_bytes() as isize;
    println!(
        "one timer key, {N} values in an interval: exact mode {exact} B, hdr mode {late} B \
         (histogram counts {histogram} B; {early} B after 10,000 values)"
    );
    assert!(
        exact >= 8 * N as isize,
        "exact mode holds every value: {exact}"
    );
    assert_eq!(early, late, "hdr memory grew with the sample count");
    assert!(late < histogram + 4096, "{late} B for one hdr key");
}
