//! Chunking invariance: every split of a pipelined transcript gives the same
//! output, the same stored messages and the same decisions.

mod common;

use common::*;
use mail_proto::Session;
use mail_smtp_submit::Profile;
use proptest::prelude::*;

fn transcript() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"EHLO client.test\r\nNOOP\r\nFOO bar\r\n");
    t.extend_from_slice(
        format!(
            "AUTH LOGIN\r\n*\r\nAUTH PLAIN {}\r\nAUTH LOGIN\r\n",
            plain_ir("ned", "secret")
        )
        .as_bytes(),
    );
    t.extend_from_slice(b"MAIL FROM:<ned@example.org> SIZE=300\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<unknown@example.org>\r\n");
    t.extend_from_slice(b"RCPT TO:<b@elsewhere.test> NOTIFY=NEVER\r\nDATA\r\n");
    t.extend_from_slice(b"Subject: t\r\n\r\n..dot\r\nbare\nlf\r\n.\n\r\n.\r\r\n\r\n.\r\n");
    t.extend_from_slice(
        b"MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nBDAT 10\r\n0123\n56789BDAT 4 LAST\r\nabcd",
    );
    t.extend_from_slice(b"MAIL FROM:<>\r\nRSET\r\nVRFY x\r\nQUIT\r\nNOOP\r\n");
    t
}

fn run(cuts: &[usize]) -> Transcript {
    let mut s = session(config(Profile::Submissions), "203.0.113.9");
    s.tls_established(&tls_info());
    talk_split(&mut s, &transcript(), cuts)
}

#[test]
fn whole_transcript_is_sane() {
    let t = run(&[]);
    assert_eq!(t.messages.len(), 2, "{}", t.out);
    assert!(
        t.out
            .ends_with("250 2.0.0 Ok\r\n502 5.5.1 VRFY command is disabled\r\n221 2.0.0 Bye\r\n"),
        "{}",
        t.out
    );
    assert!(t.message_text(0).ends_with("with ESMTPSA id QID1;\r\n\tSun, 22 Nov 2026 22:43:20 +0000\r\nSubject: t\r\n\r\n.dot\r\nbare\r\nlf\r\n\r\n\r\n\r\r\n\r\n"), "{:?}", t.message_text(0));
    assert!(t.message_text(1).ends_with("0123\r\n56789abcd"));
}

#[test]
fn byte_at_a_time() {
    let n = transcript().len();
    let cuts: Vec<usize> = (1..n).collect();
    assert_eq!(run(&cuts), run(&[]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_split_gives_the_same_result(cuts in proptest::collection::vec(0usize..700, 0..12)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(run(&cuts), run(&[]));
    }
}
