#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::sock_diag.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::sock_diag(data));
