//! Pod IPs from the loopback range. Every 127.0.0.0/8 address routes to `lo` on Linux, so
//! each live pod gets its own address from the node's pod CIDR and all replicas can listen
//! on the same containerPort without clashing, as they would in their own network
//! namespaces. An address is held by a pod UID until the pod is gone.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no free pod IP left in {0}")]
pub struct Exhausted(pub Ipv4Net);

/// Hands out addresses of one CIDR, one per pod UID.
#[derive(Debug)]
pub struct PodIpPool {
    cidr: Ipv4Net,
    held: Mutex<HashMap<String, Ipv4Addr>>,
}

impl PodIpPool {
    pub fn new(cidr: Ipv4Net) -> Self {
        Self {
            cidr,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The address held by `uid`, taking the lowest free one the first time.
    pub fn allocate(&self, uid: &str) -> Result<Ipv4Addr, Exhausted> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ip) = held.get(uid) {
            return Ok(*ip);
        }
        let taken: std::collections::HashSet<Ipv4Addr> = held.values().copied().collect();
        let ip = self
            .cidr
            .hosts()
            .find(|ip| !taken.contains(ip))
            .ok_or(Exhausted(self.cidr))?;
        held.insert(uid.to_owned(), ip);
        Ok(ip)
    }

    pub fn release(&self, uid: &str) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pod_gets_its_own_address_and_keeps_it() {
        let pool = PodIpPool::new("127.1.0.0/30".parse().unwrap());
        let a = pool.allocate("a").unwrap();
        let b = pool.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(pool.allocate("a").unwrap(), a);
        assert_eq!(
            pool.allocate("c"),
            Err(Exhausted("127.1.0.0/30".parse().unwrap()))
        );
    }

    #[test]
    fn a_released_address_is_handed_out_again() {
        let pool = PodIpPool::new("127.1.0.0/30".parse().unwrap());
        let a = pool.allocate("a").unwrap();
        pool.allocate("b").unwrap();
        pool.release("a");
        assert_eq!(pool.allocate("c").unwrap(), a);
    }
}
