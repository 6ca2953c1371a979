//! Fuzz target `acumatica_422`: see `check_acumatica_422` in `fuzz/checks.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_acumatica_422(data);
});
