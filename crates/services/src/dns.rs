//! Just enough DNS (RFC 1035) to find where a domain's mail goes: MX records (RFC 5321 §5.1),
//! with the implicit MX (the domain's own address) when there are none, and A/AAAA lookups of
//! the exchangers. UDP to one resolver, bounded in size and time; no caching.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);
const TRIES: usize = 2;
const TYPE_A: u16 = 1;
const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    /// The domain does not exist: a permanent failure.
    #[error("il dominio {0} non esiste")]
    NoSuchDomain(String),
    /// No answer now: try again later.
    #[error("DNS non raggiungibile o risposta non valida: {0}")]
    Temporary(String),
}

/// The resolver of /etc/resolv.conf (first `nameserver`), port 53.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| {
            w.next()?
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })?
    })
}

fn query(name: &str, qtype: u16, id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Reads a possibly compressed name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xC0 == 0xC0 {
            let ptr = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    None
}

struct Record {
    rtype: u16,
    ttl: u32,
    data: (usize, usize),
}

fn parse(msg: &[u8], id: u16) -> Result<(u8, Vec<Record>), String> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err("risposta non corrispondente".into());
    }
    let rcode = msg[3] & 0x0F;
    let qd = u16::from_be_bytes([msg[4], msg[5]]) as usize;
    let an = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let mut pos = 12;
    for _ in 0..qd {
        let (_, p) = read_name(msg, pos).ok_or("domanda illeggibile")?;
        pos = p + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an.min(100) {
        let (_, p) = read_name(msg, pos).ok_or("risposta illeggibile")?;
        let head = msg.get(p..p + 10).ok_or("risposta troncata")?;
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let ttl = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let start = p + 10;
        if start + len > msg.len() {
            return Err("risposta troncata".into());
        }
        out.push(Record {
            rtype,
            ttl,
            data: (start, start + len),
        });
        pos = start + len;
    }
    Ok((rcode, out))
}

fn ask(resolver: SocketAddr, name: &str, qtype: u16) -> Result<(Vec<u8>, Vec<Record>), DnsError> {
    let temp = |e: &dyn std::fmt::Display| DnsError::Temporary(format!("{resolver}: {e}"));
    let bind = if resolver.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).map_err(|e| temp(&e))?;
    sock.set_read_timeout(Some(TIMEOUT)).map_err(|e| temp(&e))?;
    let mut idb = [0u8; 2];
    let _ = openssl::rand::rand_bytes(&mut idb);
    let id = u16::from_be_bytes(idb);
    let q = query(name, qtype, id);
    let mut last = String::from("nessuna risposta");
    for _ in 0..TRIES {
        sock.send_to(&q, resolver).map_err(|e| temp(&e))?;
        let mut buf = vec![0u8; 4096];
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == resolver => {
                buf.truncate(n);
                match parse(&buf, id) {
                    Ok((0, records)) => return Ok((buf, records)),
                    Ok((3, _)) => return Err(DnsError::NoSuchDomain(name.to_string())),
                    Ok((rcode, _)) => last = format!("rcode {rcode}"),
                    Err(e) => last = e,
                }
            }
            Ok(_) => last = "risposta da un altro indirizzo".into(),
            Err(e) => last = e.to_string(),
        }
    }
    Err(DnsError::Temporary(format!("{name}: {last}")))
}

/// Mail exchangers of `domain`, most preferred first; the domain itself when it has none.
pub fn mail_exchangers(resolver: SocketAddr, domain: &str) -> Result<Vec<String>, DnsError> {
    let (msg, records) = ask(resolver, domain, TYPE_MX)?;
    let mut mx: Vec<(u16, String)> = records
        .iter()
        .filter(|r| r.rtype == TYPE_MX && r.data.1 - r.data.0 >= 3)
        .filter_map(|r| {
            let pref = u16::from_be_bytes([msg[r.data.0], msg[r.data.0 + 1]]);
            read_name(&msg, r.data.0 + 2).map(|(n, _)| (pref, n))
        })
        .collect();
    mx.sort();
    if mx.is_empty() {
        return Ok(vec![domain.to_ascii_lowercase()]);
    }
    Ok(mx.into_iter().map(|(_, n)| n).collect())
}

/// An MX record as published: preference, exchanger, TTL (as the resolver gives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    pub exchanger: String,
    pub ttl: u32,
}

/// The MX records of `domain` as they are (none: an empty list), most preferred first; for
/// checking what a domain points at, not for routing (see [`mail_exchangers`]).
pub fn mx_records(resolver: SocketAddr, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
    let (msg, records) = ask(resolver, domain, TYPE_MX)?;
    let mut mx: Vec<MxRecord> = records
        .iter()
        .filter(|r| r.rtype == TYPE_MX && r.data.1 - r.data.0 >= 3)
        .filter_map(|r| {
            let preference = u16::from_be_bytes([msg[r.data.0], msg[r.data.0 + 1]]);
            read_name(&msg, r.data.0 + 2).map(|(exchanger, _)| MxRecord {
                preference,
                exchanger,
                ttl: r.ttl,
            })
        })
        .collect();
    mx.sort_by(|a, b| (a.preference, &a.exchanger).cmp(&(b.preference, &b.exchanger)));
    Ok(mx)
}

/// The TXT records of `name`, each its strings joined, with its TTL.
pub fn txt_records(resolver: SocketAddr, name: &str) -> Result<Vec<(String, u32)>, DnsError> {
    let (msg, records) = ask(resolver, name, TYPE_TXT)?;
    Ok(records
        .iter()
        .filter(|r| r.rtype == TYPE_TXT)
        .filter_map(|r| {
            let data = msg.get(r.data.0..r.data.1)?;
            let mut text = Vec::new();
            let mut pos = 0;
            while let Some(&len) = data.get(pos) {
                text.extend_from_slice(data.get(pos + 1..pos + 1 + len as usize)?);
                pos += 1 + len as usize;
            }
            Some((String::from_utf8_lossy(&text).into_owned(), r.ttl))
        })
        .collect())
}

/// Whether mail may go to `ip` when DNS named it: not loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast or documentation space, nor an IPv6
/// form of those (RFC 6890 special-purpose registries). A hostile domain's MX must not make
/// us connect to services on our own host or network (SSRF).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)
                || v6.segments()[..6] == [0; 6])
        }
    }
}

/// Addresses of a host (A, then AAAA).
pub fn addresses(resolver: SocketAddr, host: &str) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let mut out = Vec::new();
    let (msg, records) = ask(resolver, host, TYPE_A)?;
    for r in records
        .iter()
        .filter(|r| r.rtype == TYPE_A && r.data.1 - r.data.0 == 4)
    {
        let b = &msg[r.data.0..r.data.1];
        out.push(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])));
    }
    if out.is_empty() {
        if let Ok((msg, records)) = ask(resolver, host, TYPE_AAAA) {
            for r in records
                .iter()
                .filter(|r| r.rtype == TYPE_AAAA && r.data.1 - r.data.0 == 16)
            {
                let mut b = [0u8; 16];
                b.copy_from_slice(&msg[r.data.0..r.data.1]);
                out.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_compression_and_bad_input() {
        // "mx" + pointer to offset 12 where "pec.it" is.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x03pec\x02it\x00");
        let at = msg.len();
        msg.extend_from_slice(b"\x02mx\xC0\x0C");
        assert_eq!(read_name(&msg, at), Some(("mx.pec.it".into(), at + 5)));
        // A pointer loop ends, it does not spin.
        let looped = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12];
        assert_eq!(read_name(&looped, 12), None);
        assert!(parse(&[1, 2, 3], 0).is_err());
        let q = query("pec.it", TYPE_MX, 7);
        assert_eq!(&q[..2], &[0, 7]);
        assert!(parse(&q, 7).is_ok_and(|(rcode, r)| rcode == 0 && r.is_empty()));
    }

    #[test]
    fn only_public_addresses_are_followed() {
        for ok in ["217.72.207.10", "8.8.8.8", "2a00:1450:4002::1b"] {
            assert!(is_public(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.5",
            "172.16.1.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.1.1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
    }
}
