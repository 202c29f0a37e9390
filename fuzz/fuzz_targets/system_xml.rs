//! `system.xml` (`sdf::parse`, `System::validate`, `System::to_xml`): any
//! text gets an answer, never a panic; a description that parses writes
//! out (`to_xml`) to one that parses again, validates the same way, and
//! writes out to the very same text (the writer's output is a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(sys) = sdf::parse("system.xml", text) else { return };
    let valid = sys.validate().is_ok();
    let xml = sys.to_xml("");
    let again = sdf::parse("out.xml", &xml).expect("what to_xml writes parses");
    assert_eq!(again.validate().is_ok(), valid, "validity changed by writing out");
    assert_eq!(again.to_xml(""), xml, "to_xml is not a fixed point");
});
