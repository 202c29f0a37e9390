//! `tenants.toml` (`sysgen::generate`: parsing, its checks, building the
//! system): any text gets an answer, never a panic; a system it generates
//! is one `sdf` parses and validates, and every PD's configuration in it
//! reads back (`system::Config::parse`) and encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysgen::Storage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(g) = sysgen::generate(text, Storage::Ram, "system.xml") else { return };
    let sys = sdf::parse("system.xml", &g.xml).expect("the generated system.xml parses");
    sys.validate().expect("the generated system.xml validates");
    for (pd, bytes) in &g.configs {
        let c = system::Config::parse(bytes, pd).expect("a generated configuration reads back");
        assert_eq!(&c.encode(), bytes);
    }
});
