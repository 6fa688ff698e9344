//! The steady command path allocates nothing: parsing borrows from the line,
//! replies go into a reused buffer, the envelope reuses its strings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mail_proto::Session;
use mail_smtp_submit::{ClientInfo, Config, Event, Profile, SmtpSession};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Only the test's own thread is counted: libtest's other threads may
    /// allocate at any moment (more so on a loaded machine).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTED.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUND: &[u8] = b"EHLO client.example.test\r\nMAIL FROM:<sender@client.example.test> SIZE=1000 BODY=8BITMIME\r\n\
RCPT TO:<ned@example.org> NOTIFY=SUCCESS,FAILURE\r\nRCPT TO:<friend@elsewhere.test>\r\nRCPT TO:<alice@example.org>\r\n\
NOOP\r\nHELP\r\nRSET\r\n";

fn round(s: &mut SmtpSession) -> usize {
    s.receive(ROUND);
    let mut replies = 0;
    while let Some(ev) = s.next_event() {
        if ev == Event::Recipient {
            s.accept_recipient().unwrap();
        }
    }
    let n = s.output().len();
    replies += s.output().iter().filter(|b| **b == b'\n').count();
    s.consume_output(n);
    replies
}

#[test]
fn steady_command_path_does_not_allocate() {
    let mut config = Config::new(Profile::Mta, "mx.example.org");
    config.relay.mydestination = vec!["example.org".into()];
    let mut s = SmtpSession::new(Arc::new(config), ClientInfo::new("127.0.0.1".parse().unwrap()));
    let n = s.output().len();
    s.consume_output(n);
    // Warm-up: buffers reach their working size.
    for _ in 0..3 {
        round(&mut s);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    let mut replies = 0;
    for _ in 0..100 {
        replies += round(&mut s);
    }
    COUNTED.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        replies,
        100 * (8 + 7),
        "every command answered (EHLO has 8 lines)"
    );
    assert_eq!(s.error_count(), 0);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in 100 rounds of 8 commands"
    );
}
