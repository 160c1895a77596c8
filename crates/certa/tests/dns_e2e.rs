//! Routing without static routes: MX records from DNS (RFC 5321 §5.1). A small DNS server
//! (Python, hand-built answers) says that pec.beta.test's exchanger is mail.pec.beta.test at
//! 127.0.0.1, and that nonesiste.test does not exist.

mod common;

use common::*;

const DNS_SERVER: &str = r#"
import socket, struct, sys
port, mx_target = int(sys.argv[1]), sys.argv[2]
zone = {"pec.beta.test": ("MX", mx_target), mx_target: ("A", "127.0.0.1")}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
def encode(name):
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
while True:
    q, addr = s.recvfrom(512)
    pos, labels = 12, []
    while q[pos]:
        n = q[pos]; labels.append(q[pos + 1:pos + 1 + n].decode()); pos += 1 + n
    qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
    question = q[12:pos + 5]
    name = ".".join(labels).lower()
    rec, answers, count, rcode = zone.get(name), b"", 0, 0
    if rec is None:
        rcode = 3
    elif rec[0] == "MX" and qtype == 15:
        rdata = struct.pack(">H", 10) + encode(rec[1])
        answers, count = b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, len(rdata)) + rdata, 1
    elif rec[0] == "A" and qtype == 1:
        answers, count = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(rec[1]), 1
    s.sendto(q[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, count, 0, 0) + question + answers, addr)
"#;

#[test]
fn mx_lookup_routes_to_the_other_provider_and_a_missing_domain_fails() {
    let mut a = Node::new("pec.alpha.test", None);
    let mut b = Node::new("pec.beta.test", None);
    let s = a.mailbox("a");
    let rb = b.mailbox("b");
    let dns_port = free_port_base();
    let _dns = Proc(
        testkit::tool("python3")
            .args([
                "-c",
                DNS_SERVER,
                &dns_port.to_string(),
                "mail.pec.beta.test",
            ])
            .spawn()
            .unwrap(),
    );
    // A knows B from the index only: no static route; B's TLS chains up to B's CA.
    let entry = a.data().join("beta.ldif");
    std::fs::write(&entry, certa_ok(b.data(), &["index", "export"])).unwrap();
    certa_ok(
        a.data(),
        &["index", "import", "--unsigned", entry.to_str().unwrap()],
    );
    let cfg_path = a.data().join("certa.toml");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace(
            "peer_ca = []",
            &format!("peer_ca = [\"{}\"]", b.ca().display()),
        )
        .replace(
            "[dns]\nmx_port = 25",
            &format!(
                "[dns]\nresolver = \"127.0.0.1:{dns_port}\"\nmx_port = {}",
                b.smtp_port()
            ),
        )
        // The test's exchanger is on loopback, which DNS answers may name only when allowed.
        .replace("allow_private_mx = false", "allow_private_mx = true");
    std::fs::write(&cfg_path, cfg).unwrap();
    b.peer_with(&a);
    a.start();
    b.start();

    let msg = format!(
        "From: {s}\r\nTo: {rb}\r\nSubject: via MX\r\nMessage-ID: <mx-1@mua>\r\n\r\nciao\r\n"
    );
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[&rb],
            msg.as_bytes()
        ),
        "OK"
    );
    b.wait_folder(&rb, "INBOX", "envelope via MX", |m| {
        count(m, "busta-trasporto") == 1
    });
    a.wait_folder(&s, "INBOX", "delivery receipt", |m| {
        count(m, "avvenuta-consegna-completa") == 1
    });

    // A domain that does not exist: a non-delivery notice, not endless retries.
    let ghost = "x@nonesiste.test";
    let msg = format!(
        "From: {s}\r\nTo: {ghost}\r\nSubject: nessuno\r\nMessage-ID: <mx-2@mua>\r\n\r\nciao\r\n"
    );
    assert_eq!(
        python_submit(
            a.submissions_port(),
            &a.ca(),
            &s,
            &s,
            &[ghost],
            msg.as_bytes()
        ),
        "OK"
    );
    let inbox = a.wait_folder(&s, "INBOX", "non-delivery for a missing domain", |m| {
        count(m, "mancata-consegna") == 1
    });
    let nd = &inbox
        .iter()
        .find(|m| m.0.as_deref() == Some("mancata-consegna"))
        .unwrap()
        .1;
    assert!(daticert(nd)
        .errore_esteso
        .unwrap_or_default()
        .contains("non esiste"));
}
