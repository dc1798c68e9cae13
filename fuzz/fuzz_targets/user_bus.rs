#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::user_bus.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::user_bus(data));
