#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::api_bodies.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::api_bodies(data));
