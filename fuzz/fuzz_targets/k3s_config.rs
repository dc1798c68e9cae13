#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::k3s_config.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::k3s_config(data));
