//! Any bytes as a provider index file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = pec::ProviderIndex::from_bytes(data, None) {
        let _ = pec::ProviderIndex::from_ldif(&index.to_ldif());
    }
});
