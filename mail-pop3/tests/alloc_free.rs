//! The TRANSACTION command path allocates nothing once buffers are warm:
//! commands borrow from the line, replies and message bytes go into the
//! reused output buffer, RETR streaming is done in place.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_pop3::{wire_size, Config, Event, MessageInfo, Pop3Session};
use mail_proto::Session;
use mail_sasl::{BackendCapabilities, MechanismSet, VerifyOutcome};

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

const MESSAGE: &[u8] = b"Subject: x\n\n.dot\nline two\nline three\n";
const ROUND: &[u8] =
    b"STAT\r\nLIST\r\nUIDL\r\nLIST 1\r\nUIDL 2\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nLIST 1\r\nRSET\r\nNOOP\r\n";

fn drive(pop: &mut Pop3Session, input: &[u8]) -> usize {
    pop.receive(input);
    while let Some(ev) = pop.next_event() {
        match ev {
            Event::AuthVerify(_) => pop
                .auth_verified(VerifyOutcome::Success { server_proof: None })
                .unwrap(),
            Event::OpenMaildrop { .. } => {
                let list = (0..2)
                    .map(|i| MessageInfo {
                        size: wire_size(MESSAGE),
                        uid: format!("uid{i}"),
                    })
                    .collect();
                pop.maildrop_opened(list).unwrap()
            }
            Event::Retrieve { .. } => {
                for chunk in MESSAGE.chunks(8) {
                    pop.send_message_chunk(chunk).unwrap();
                }
                pop.message_done().unwrap();
            }
            _ => {}
        }
    }
    let n = pop.output().len();
    let lines = pop.output().iter().filter(|&&b| b == b'\n').count();
    pop.consume_output(n);
    lines
}

#[test]
fn transaction_commands_do_not_allocate() {
    let backend = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::empty(),
    };
    let mut config = Config::new("pop.example.test", backend, [0; 16]);
    config.secure_from_start = true;
    let mut pop = Pop3Session::new(config);
    drive(&mut pop, b"USER ned\r\nPASS secret\r\n");
    assert!(pop.is_authenticated());
    for _ in 0..3 {
        drive(&mut pop, ROUND);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    let mut lines = 0;
    for _ in 0..100 {
        lines += drive(&mut pop, ROUND);
    }
    COUNTED.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(lines > 100 * 20, "the commands were answered ({lines} lines)");
    assert_eq!(allocations, 0, "allocations on the steady TRANSACTION path");
}
