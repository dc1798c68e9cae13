#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::unit_file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::unit_file(data));
