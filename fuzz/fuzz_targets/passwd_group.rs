#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::passwd_group.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::passwd_group(data));
