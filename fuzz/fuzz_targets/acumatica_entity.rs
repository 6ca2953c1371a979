//! Fuzz target `acumatica_entity`: see `check_acumatica_entity` in `fuzz/checks.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_acumatica_entity(data);
});
