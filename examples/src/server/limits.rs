//! Connection limits: total and per client IP. Exceeding either gets the
//! protocol's "try later" reply (`421 4.7.0`, `-ERR [SYS/TEMP]`, `* BYE`)
//! instead of a hang.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Limits shared by all listeners of one server.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `max_total` connections.
    TooManyConnections,
    /// This client holds `max_per_ip` connections.
    TooManyFromYou,
}

/// A held connection slot, released on drop.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ConnectionLimits>,
    /// The client address it counts for; `None` until known (PROXY protocol).
    ip: Option<IpAddr>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections and `max_per_ip` per client address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            state: Mutex::new(State::default()),
        })
    }

    /// Take a slot for a connection from `ip`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        self.count_ip(&mut state, ip)?;
        state.total += 1;
        Ok(Slot {
            limits: Arc::clone(self),
            ip: Some(ip),
        })
    }

    /// Take a slot that counts against the total only, for a connection
    /// whose client address is not known yet (a PROXY header will tell);
    /// [`Slot::attribute`] then counts it for that address.
    pub fn acquire_unattributed(self: &Arc<Self>) -> Result<Slot, Refusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        state.total += 1;
        Ok(Slot {
            limits: Arc::clone(self),
            ip: None,
        })
    }

    /// Count one more connection for `ip`, unless it holds `max_per_ip`.
    fn count_ip(&self, state: &mut State, ip: IpAddr) -> Result<(), Refusal> {
        let held = state.per_ip.get(&ip).copied().unwrap_or(0);
        if held >= self.max_per_ip {
            return Err(Refusal::TooManyFromYou);
        }
        state.per_ip.insert(ip, held + 1);
        Ok(())
    }

    /// Connections held now.
    pub fn total(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Slot {
    /// Count this slot for client `ip` from now on (once the PROXY header
    /// named the client). Refused when `ip` already holds `max_per_ip`
    /// connections; the slot (still counted in the total) is then dropped
    /// with the connection. A slot that already counts for an address is
    /// moved to `ip`.
    pub fn attribute(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        let mut state = self.limits.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.ip == Some(ip) {
            return Ok(());
        }
        self.limits.count_ip(&mut state, ip)?;
        if let Some(old) = self.ip.replace(ip) {
            release_ip(&mut state, old);
        }
        Ok(())
    }
}

fn release_ip(state: &mut State, ip: IpAddr) {
    if let Some(n) = state.per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            state.per_ip.remove(&ip);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.limits.state.lock().unwrap_or_else(|e| e.into_inner());
        state.total -= 1;
        if let Some(ip) = self.ip {
            release_ip(&mut state, ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_limits_release_on_drop() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = limits.acquire(a).unwrap();
        let _a2 = limits.acquire(a).unwrap();
        assert_eq!(limits.acquire(a).unwrap_err(), Refusal::TooManyFromYou);
        let _b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(b).unwrap_err(), Refusal::TooManyConnections);
        drop(a1);
        assert_eq!(limits.total(), 2);
        assert!(limits.acquire(b).is_ok());
    }

    #[test]
    fn unattributed_slots_count_for_the_client_named_later() {
        let limits = ConnectionLimits::new(4, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // Three connections from one balancer: only the total counts so far.
        let mut s1 = limits.acquire_unattributed().unwrap();
        let mut s2 = limits.acquire_unattributed().unwrap();
        let mut s3 = limits.acquire_unattributed().unwrap();
        assert_eq!(limits.total(), 3);
        s1.attribute(a).unwrap();
        s2.attribute(b).unwrap();
        assert_eq!(s3.attribute(a).unwrap_err(), Refusal::TooManyFromYou);
        drop(s3);
        assert_eq!(limits.total(), 2);
        // The total still applies before any header.
        let _s4 = limits.acquire_unattributed().unwrap();
        let _s5 = limits.acquire_unattributed().unwrap();
        assert_eq!(
            limits.acquire_unattributed().unwrap_err(),
            Refusal::TooManyConnections
        );
        // Released per address on drop.
        drop(s1);
        let mut again = limits.acquire_unattributed().unwrap();
        again.attribute(a).unwrap();
        assert_eq!(limits.acquire(a).unwrap_err(), Refusal::TooManyConnections);
        drop(s2);
        assert!(limits.acquire(b).is_ok());
        assert!(limits.state.lock().unwrap().per_ip.len() <= 2);
    }
}
