//! Fuzz target `filter_literal`: see `check_filter_literal` in `fuzz/checks.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_filter_literal(data);
});
