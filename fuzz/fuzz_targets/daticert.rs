//! Any bytes as daticert.xml; what parses must write back and parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = pec::DatiCert::parse(data) {
        // Writing normalises (e.g. characters XML cannot carry); after that, a fixed point.
        let once = pec::DatiCert::parse(d.to_xml().as_bytes()).expect("our own output parses");
        let twice = pec::DatiCert::parse(once.to_xml().as_bytes()).expect("our own output parses");
        assert_eq!(once, twice);
        assert_eq!(once.tipo, d.tipo);
    }
});
