//! Free loopback ports for devnet components.
//!
//! Owns one process-wide set of ports already handed out, so two tests running in parallel
//! threads never get the same port even when the kernel offers it twice (a port is free again
//! as soon as our probe socket closes). Ports are never returned to the set: a test binary
//! uses a few hundred at most. Other processes can still race us for a port; components that
//! fail to bind are restarted on fresh ports by their `start`.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A TCP port on 127.0.0.1 that nothing listens on now and that this process has not handed
/// out before.
pub fn free_port() -> std::io::Result<u16> {
    for _ in 0..1000 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no fresh loopback port after 1000 tries",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_never_hands_out_the_same_port_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().expect("port")).collect();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn free_port_is_bindable_on_loopback() {
        let port = free_port().expect("port");
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind the handed-out port");
    }
}
