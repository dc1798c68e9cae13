#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::fixture_toml.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::fixture_toml(data));
