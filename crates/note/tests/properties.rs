//! Property tests: notes and checkpoints round-trip, and arbitrary input
//! never panics the parsers.

use note::{Checkpoint, Signer, open, sign};
use proptest::prelude::*;
use tlog::Hash;

proptest! {
    #[test]
    fn sign_open_round_trip(text in "[a-zA-Z0-9 /.\n\u{e9}\u{2014}]{0,200}", seed in any::<[u8; 32]>()) {
        prop_assume!(seed != [0; 32]);
        let text = format!("{text}\n");
        let s = Signer::from_seed("example.com/log", seed).unwrap();
        let mut buf = [0u8; 1024];
        let n = sign(&text, &[&s], &mut buf).unwrap();
        let opened = open(&buf[..n], &[&s.verifier()]).unwrap();
        prop_assert_eq!(opened.text, text.as_str());
    }

    #[test]
    fn open_never_panics(msg in prop::collection::vec(any::<u8>(), 0..400)) {
        let s = Signer::from_seed("k", [5; 32]).unwrap();
        let _ = open(&msg, &[&s.verifier()]);
    }

    #[test]
    fn checkpoint_round_trip(origin in "[a-z./-]{1,40}", size: u64, root: [u8; 32]) {
        let c = Checkpoint { origin: &origin, size, root: Hash(root), extensions: "" };
        let text = c.to_string();
        prop_assert_eq!(Checkpoint::parse(&text), Ok(c));
    }

    #[test]
    fn checkpoint_parse_never_panics(text in "[a-zA-Z0-9+/=\n]{0,120}") {
        let _ = Checkpoint::parse(&text);
        let _ = Checkpoint::peek_size(text.as_bytes());
    }
}
