#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::getsubids.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::getsubids(data));
