#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::kernel_modules.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::kernel_modules(data));
