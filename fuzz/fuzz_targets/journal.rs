#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::journal.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::journal(data));
