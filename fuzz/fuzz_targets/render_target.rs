//! The render API's target grammar over arbitrary text.
//!
//! Checks: no panic (deep nesting is refused, not a stack overflow), and
//! the property the parser's tests state: whatever parses prints to text
//! that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use render_api::parse_target;

fuzz_target!(|data: &[u8]| {
    // Targets reach the parser as URL-decoded text (form_urlencoded decodes
    // invalid UTF-8 lossily).
    let text = String::from_utf8_lossy(data);
    match parse_target(&text) {
        Ok(expr) => {
            let printed = expr.to_string();
            let again = parse_target(&printed);
            assert_eq!(
                again.as_ref().ok(),
                Some(&expr),
                "{text:?} printed as {printed:?}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
