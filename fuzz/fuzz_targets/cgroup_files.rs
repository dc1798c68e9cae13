#![no_main]
// See docs/fuzzing.md; the parser and what it reads: krc::fuzz::cgroup_files.
libfuzzer_sys::fuzz_target!(|data: &[u8]| krc::fuzz::cgroup_files(data));
