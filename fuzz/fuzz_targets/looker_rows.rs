//! Fuzz target `looker_rows`: see `check_looker_rows` in `fuzz/checks.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_looker_rows(data);
});
