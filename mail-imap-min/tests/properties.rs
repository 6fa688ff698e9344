//! Property tests: chunking invariance and no panics on any input.

mod common;

use common::*;
use proptest::prelude::*;

const SCRIPT: &[u8] = b"a CAPABILITY\r\nb AUTHENTICATE PLAIN\r\nAG5lZABzZWNyZXQ=\r\nc SELECT {5}\r\nINBOX\r\n\
d FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)\r\ne UID STORE 4 +FLAGS (\\Deleted)\r\n\
f SEARCH OR FROM {4+}\r\nalice UNSEEN\r\ng IDLE\r\nDONE\r\nh LOGIN {3}\r\nx\r\ni EXPUNGE\r\nj FETCH 2 BODY[]\r\n\
k STATUS INBOX (MESSAGES)\r\nl LIST \"\" *\r\nm NOOP {1000000+}\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_chunking_gives_the_same_transcript(sizes in proptest::collection::vec(1usize..40, 1..12)) {
        let mut whole = Harness::secure();
        let expected = whole.run_bytes(SCRIPT);
        let mut pieces = Harness::secure();
        let got = pieces.run_chunked(SCRIPT, &sizes);
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(&pieces.log, &whole.log);
        prop_assert!(expected.contains("j OK Fetch completed."));
    }

    #[test]
    fn no_panic_on_random_input(data in proptest::collection::vec(
        prop_oneof![
            Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'{'), Just(b'}'), Just(b'('), Just(b')'),
            Just(b'"'), Just(b'*'), Just(b'1'), Just(b':'), Just(b'+'), any::<u8>()
        ], 0..600)) {
        let mut h = Harness::selected();
        h.run_bytes(&data);
        let mut h = Harness::new(config(false));
        h.run_bytes(&data);
    }

    #[test]
    fn no_panic_on_random_commands(tokens in proptest::collection::vec(prop_oneof![
        Just("FETCH "), Just("UID "), Just("STORE "), Just("SEARCH "), Just("1:* "), Just("* "), Just("BODY["),
        Just("]"), Just("<0.5>"), Just("HEADER.FIELDS ("), Just(")"), Just("NOT "), Just("OR "), Just("{3}\r\n"),
        Just("{2+}\r\n"), Just("\r\n"), Just("\"x\" "), Just("FLAGS "), Just("+FLAGS "), Just("\\Seen "),
        Just("SELECT INBOX\r\n"), Just("a "), Just("IDLE\r\n"), Just("DONE\r\n"), Just("1.2.MIME"), Just("TEXT "),
        Just("AUTHENTICATE PLAIN "), Just("EXPUNGE "), Just("SINCE 1-Jan-2000 "),
    ], 0..60)) {
        let script: String = tokens.concat();
        let mut h = Harness::selected();
        h.run(&script);
    }
}
