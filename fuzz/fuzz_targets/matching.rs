#![no_main]
// The invariants live in skguard::fuzzing, so the test suite replays this target's corpus on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| skguard::fuzzing::matching(data));
