//! Locating SIP servers: RFC 3263 over NAPTR (RFC 3403), SRV (RFC 2782) and A/AAAA.
//!
//! - [`resolve`] / [`resolve_uri`] turn a SIP or SIPS URI (or an explicit [`Destination`])
//!   into the ordered list of [`Target`]s (transport, address, port, TLS server name) to try
//!   (RFC 3263 §4.1, §4.2).
//! - [`resolve_sent_by`] gives the targets for a response when sending to the received
//!   address failed (RFC 3263 §5).
//! - [`Blacklist`] keeps failed targets out of the way for a while (RFC 3263 §4.3).
//! - The pure rules are public too: [`order_srv`] (RFC 2782 priority and weighted selection),
//!   [`select_naptr`] (RFC 3263 §4.1 service filtering and RFC 3403 ordering).
//!
//! DNS is reached through the [`Lookup`] trait: [`HickoryLookup`] queries real servers
//! (`hickory-resolver` on tokio), [`MemoryLookup`] answers from records given to it. The
//! randomness of SRV weighted selection comes from any [`rand::Rng`] the caller passes, so a
//! seeded generator gives reproducible orders.
//!
//! ```
//! use rand::SeedableRng;
//! use sipline_dns::{resolve_uri, MemoryLookup, ResolveConfig, Srv};
//! use sipline_message::{uri::SipUri, Transport};
//!
//! let mut zone = MemoryLookup::new();
//! zone.add_srv("_sip._udp.example.com", Srv::new(0, 0, 5060, "pbx.example.com"))
//!     .add_ip("pbx.example.com", "192.0.2.10".parse().unwrap());
//! let uri: SipUri = "sip:alice@example.com".parse().unwrap();
//! let config = ResolveConfig::with_transports(&[Transport::Udp]);
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let targets = rt.block_on(resolve_uri(&uri, &config, &zone, &mut rng)).unwrap();
//! assert_eq!(targets[0].addr, "192.0.2.10:5060".parse().unwrap());
//! assert_eq!(targets[0].transport, Transport::Udp);
//! ```

mod blacklist;
mod hickory;
mod lookup;
mod resolve;
mod select;

pub use blacklist::{Blacklist, Failure};
pub use hickory::{ConfigError, DnsProtocol, HickoryConfig, HickoryLookup, NameServer};
pub use lookup::{Lookup, LookupError, MemoryLookup, Naptr, RecordKind, Srv};
pub use resolve::{
    resolve, resolve_sent_by, resolve_uri, Destination, ResolveConfig, ResolveError, Target,
};
pub use select::{naptr_service, order_srv, select_naptr, srv_prefix, srv_unavailable, IpOrder};

#[cfg(test)]
mod tests;
