//! Any bytes as a message: the structure parsed at delivery never panics, its ranges stay
//! inside the message, and it survives the JSON round trip the store keeps it in.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn check(p: &message::Part, len: usize) {
    assert!(p.header.start <= p.header.end && p.header.end <= len);
    assert!(p.body.start <= p.body.end && p.body.end <= len);
    for c in &p.parts {
        check(c, len);
    }
    if let Some(m) = &p.message {
        check(&m.root, len);
    }
}

fuzz_target!(|data: &[u8]| {
    let s = message::Structure::parse(data);
    check(&s.root, data.len());
    let back = message::Structure::from_json(&s.to_json()).expect("our JSON reads back");
    assert_eq!(back, s);
    let _ = message::text_of(data, &s);
});
