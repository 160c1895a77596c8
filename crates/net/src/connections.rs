//! Caps on open connections, in total (the process's descriptors are shared by every
//! listener, SQLite and the blob store) and per client address on each listener (one host
//! cannot take every slot). Shared by all the listeners of `certa serve`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Open connections over all listeners.
    pub total: usize,
    /// Open connections from one address (an IPv6 /64) on one listener.
    pub per_ip: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many connections")]
    Total,
    #[error("too many connections from this address")]
    PerIp,
}

/// The connections open now, counted against [`Caps`].
pub struct Connections {
    caps: Caps,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    by_client: HashMap<(&'static str, IpAddr), usize>,
    /// Open connections per listener (for `/metrics`).
    by_listener: HashMap<&'static str, usize>,
}

/// One admitted connection; dropping it gives its slot back.
pub struct Slot {
    owner: Arc<Connections>,
    listener: &'static str,
    key: Option<(&'static str, IpAddr)>,
}

/// The address a per-IP count is kept for: IPv4 as is (also when mapped into IPv6), IPv6
/// by its /64, which one host usually holds whole.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Connections {
    pub fn new(caps: Caps) -> Arc<Connections> {
        Arc::new(Connections {
            caps,
            state: Mutex::default(),
        })
    }

    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Admits a connection from `ip` on `listener`, or says which cap it would pass.
    /// `ip: None` counts only against the total (a reverse proxy's connections).
    pub fn admit(
        self: &Arc<Self>,
        listener: &'static str,
        ip: Option<IpAddr>,
    ) -> Result<Slot, Refused> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.total >= self.caps.total {
            return Err(Refused::Total);
        }
        let key = ip.map(|ip| (listener, client_key(ip)));
        if let Some(key) = key {
            let n = state.by_client.entry(key).or_insert(0);
            if *n >= self.caps.per_ip {
                return Err(Refused::PerIp);
            }
            *n += 1;
        }
        state.total += 1;
        *state.by_listener.entry(listener).or_insert(0) += 1;
        Ok(Slot {
            owner: self.clone(),
            listener,
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Connections open now on each listener that has had one, by name.
    pub fn open_by_listener(&self) -> Vec<(&'static str, usize)> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut open: Vec<_> = state.by_listener.iter().map(|(l, n)| (*l, *n)).collect();
        open.sort_unstable();
        open
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self
            .owner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.total = state.total.saturating_sub(1);
        if let Some(n) = state.by_listener.get_mut(self.listener) {
            *n = n.saturating_sub(1);
        }
        if let Some(key) = self.key {
            if let Some(n) = state.by_client.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    state.by_client.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_slots_come_back() {
        let c = Connections::new(Caps {
            total: 3,
            per_ip: 2,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let s1 = c.admit("imap", Some(a)).unwrap();
        let _s2 = c.admit("imap", Some(a)).unwrap();
        assert_eq!(c.admit("imap", Some(a)).err(), Some(Refused::PerIp));
        // Another listener counts its own clients.
        let _s3 = c.admit("pop3", Some(a)).unwrap();
        assert_eq!(c.admit("pop3", Some(b)).err(), Some(Refused::Total));
        drop(s1);
        assert_eq!(c.open(), 2);
        let _s4 = c.admit("imap", Some(b)).unwrap();
        assert_eq!(c.admit("imap", Some(b_same_64)).err(), Some(Refused::Total));
        // Refused connections are not counted as open.
        assert_eq!(c.open_by_listener(), vec![("imap", 2), ("pop3", 1)]);
    }
}
