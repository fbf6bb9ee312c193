//! A global allocator that counts live heap bytes and their peak, for `gnntrack bench`.
//!
//! Each thread gathers its allocations and frees in a thread-local balance and adds it to the
//! shared counter only when it reaches [`SLACK`] bytes either way. A shared counter written on
//! every allocation was itself a cost the benchmarks measured: its cache line moved between the
//! cores with each of the many small allocations of track building (0.8 ms of the 6.9 ms the
//! stage took at xi = 5 on 2 cores). The price is a peak that may miss up to [`SLACK`] bytes
//! per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator with a live-bytes counter and a resettable peak.
pub struct CountingAlloc;

/// The largest balance a thread keeps to itself, in bytes.
pub const SLACK: isize = 64 * 1024;

/// A counter alone on its cache line (two lines: adjacent-line prefetch pairs them).
#[repr(align(128))]
struct Counter(AtomicIsize);

static LIVE: Counter = Counter(AtomicIsize::new(0));
static PEAK: Counter = Counter(AtomicIsize::new(0));

thread_local! {
    /// This thread's allocations less its frees since it last added them to `LIVE`.
    static BALANCE: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` bytes to this thread's balance, and the balance to the shared count when it
/// has grown past the slack.
fn count(delta: isize) {
    // A thread being torn down has no balance any more: its change goes to the counter.
    let due = BALANCE
        .try_with(|b| {
            let balance = b.get() + delta;
            if (-SLACK..=SLACK).contains(&balance) {
                b.set(balance);
                0
            } else {
                b.set(0);
                balance
            }
        })
        .unwrap_or(delta);
    if due != 0 {
        let live = LIVE.0.fetch_add(due, Ordering::Relaxed) + due;
        if live > PEAK.0.load(Ordering::Relaxed) {
            PEAK.0.fetch_max(live, Ordering::Relaxed);
        }
    }
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(size(layout.size()));
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(size(layout.size()));
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        count(-size(layout.size()));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(size(new_size) - size(layout.size()));
        }
        p
    }
}

/// Live heap bytes now (within [`SLACK`] bytes per thread).
pub fn live_bytes() -> usize {
    LIVE.0.load(Ordering::Relaxed).max(0) as usize
}

/// Sets the peak to the live bytes now and returns that baseline.
pub fn reset_peak() -> usize {
    let live = LIVE.0.load(Ordering::Relaxed);
    PEAK.0.store(live, Ordering::Relaxed);
    live.max(0) as usize
}

/// Highest live heap bytes since the last [`reset_peak`] (within [`SLACK`] bytes per thread).
pub fn peak_bytes() -> usize {
    PEAK.0.load(Ordering::Relaxed).max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_block_raises_the_peak_and_its_free_lowers_the_live_bytes() {
        const BLOCK: usize = 8 << 20;
        let base = reset_peak();
        let block = vec![1u8; BLOCK];
        let peak = peak_bytes();
        let live_with = live_bytes();
        drop(std::hint::black_box(block));
        let live_after = live_bytes();
        // Other tests allocate beside this one, each thread within its slack of the count.
        let margin = 1 << 20;
        assert!(peak >= base + BLOCK - margin, "peak {peak}, base {base}");
        assert!(
            live_after + BLOCK <= live_with + margin,
            "live {live_with} with the block, {live_after} after"
        );
    }

    #[test]
    fn small_allocations_stay_in_the_threads_balance_until_the_slack() {
        let before = BALANCE.with(Cell::get);
        let small: Vec<Box<u64>> = (0..8).map(Box::new).collect();
        let after = BALANCE.with(Cell::get);
        drop(small);
        assert!((-SLACK..=SLACK).contains(&after));
        assert_ne!(before, after, "eight small blocks changed nothing");
    }
}
