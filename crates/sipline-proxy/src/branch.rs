//! The Via branch this proxy inserts (RFC 3261 §16.6 step 8 as replaced by
//! RFC 5393 §4.2.1, and §16.11 for stateless forwarding).
//!
//! A branch is `z9hG4bK-sl<unique>-<loop>`, both parts 16 hex digits:
//! * `<unique>` satisfies §8.1.1.7 (unique across space and time): a hash of
//!   a per-process random seed and the branch number (stateful), or of the
//!   received branch (stateless, §16.11: "the same each time a retransmitted
//!   request is forwarded");
//! * `<loop>` is RFC 5393's "second part": a hash of what the routing logic
//!   of this proxy depends on, see [`loop_hash`].

use crate::util::Fnv;
use sipline_message::header::{find_tag, StdHeader};
use sipline_message::{Message, Request};

/// Magic cookie (§8.1.1.7) and this implementation's marker.
pub(crate) const PREFIX: &str = "z9hG4bK-sl";

/// The loop-detection "second part" (RFC 5393 §4.2.1): it "MUST depend at
/// least on the received Request-URI and any Route header field values used
/// when processing the received request" and "MUST NOT vary with the request
/// method". Inputs: the Request-URI as received (before §16.4), every Route
/// value as received, Call-ID, the CSeq number and the From tag (RFC 5393
/// §4.2.4: a field that varies between transactions, so a collision does not
/// repeat).
///
/// Left out on purpose, although RFC 3261 §16.6 step 8 lists them: the
/// topmost Via (a looped request comes back under another Via, so including
/// it defeats detection: the very bug RFC 5393 §4.2 corrects), the To tag
/// (the ACK for a non-2xx response carries one the INVITE had not, and the
/// branch must be the same, step 8 last paragraph), Proxy-Require and
/// Proxy-Authorization (not copied into CANCEL, §9.1, and not used by this
/// proxy's routing).
pub(crate) fn loop_hash(req: &Request) -> u64 {
    let mut h = Fnv::new();
    h.str(&req.uri.to_string());
    for v in req.headers.values(StdHeader::Route) {
        h.str(&v);
    }
    h.str(req.headers.get(StdHeader::CallId).map_or("", |v| &**v));
    let msg_cseq = req
        .headers
        .get(StdHeader::CSeq)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("");
    h.str(msg_cseq);
    h.str(
        req.headers
            .get(StdHeader::From)
            .and_then(|v| find_tag(v))
            .unwrap_or(""),
    );
    h.finish()
}

/// The branch of the `n`th branch created by a stateful proxy with `seed`;
/// the first hex digit of the unique part is `instance` (0-15, see
/// [`crate::ProxyConfig::instance`]).
pub(crate) fn stateful(seed: u64, n: u64, loop_part: u64, instance: u8) -> String {
    let hash = Fnv::new().u64(seed).u64(n).finish();
    let unique = (u64::from(instance & 0xf) << 60) | (hash & (u64::MAX >> 4));
    format!("{PREFIX}{unique:016x}-{loop_part:016x}")
}

/// The instance digit of a branch created by a stateful core of this
/// implementation ([`crate::ProxyConfig::instance`]); `None` for a branch
/// this implementation did not write. A branch of a stateless core (§16.11)
/// also yields a digit, from its hash: its responses are forwarded without
/// a transaction, by any core.
pub fn branch_instance(branch: &str) -> Option<u8> {
    let digit = *branch.strip_prefix(PREFIX)?.as_bytes().first()?;
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// The branch for forwarding `msg` statelessly (RFC 3261 §16.11): if the
/// received top Via branch has the magic cookie, a hash of it; otherwise a
/// hash of the topmost Via, the To and From tags, Call-ID, CSeq number and
/// Request-URI. `target` (the single target chosen) is mixed in, so that
/// forwarding the same request to another place (after a configuration
/// change) is a different transaction downstream.
pub(crate) fn stateless(msg: &Message, req: &Request, target: &str, loop_part: u64) -> String {
    let mut h = Fnv::new();
    h.str("stateless");
    match msg.branch().filter(|b| b.starts_with("z9hG4bK")) {
        Some(b) => {
            h.str(b);
        }
        None => {
            let hd = &req.headers;
            h.str(hd.get(StdHeader::Via).map_or("", |v| &**v));
            h.str(msg.to_tag().unwrap_or(""));
            h.str(msg.from_tag().unwrap_or(""));
            h.str(hd.get(StdHeader::CallId).map_or("", |v| &**v));
            h.str(
                hd.get(StdHeader::CSeq)
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or(""),
            );
            h.str(&req.uri.to_string());
        }
    }
    h.str(target);
    let unique = h.finish();
    format!("{PREFIX}{unique:016x}-{loop_part:016x}")
}

/// The loop part of a branch this implementation created.
pub(crate) fn loop_part(branch: &str) -> Option<u64> {
    let rest = branch.strip_prefix(PREFIX)?;
    let (unique, lp) = rest.split_once('-')?;
    if unique.len() != 16 || lp.len() != 16 {
        return None;
    }
    u64::from_str_radix(lp, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let b = stateful(7, 1, 0xabc, 0);
        assert!(b.starts_with("z9hG4bK-sl"));
        assert_eq!(loop_part(&b), Some(0xabc));
        assert_ne!(b, stateful(7, 2, 0xabc, 0));
        assert_eq!(loop_part("z9hG4bK776asdhds"), None);
    }

    #[test]
    fn instance_digit() {
        for i in 0..16u8 {
            for n in 0..50 {
                let b = stateful(99, n, 0x1234, i);
                assert_eq!(branch_instance(&b), Some(i), "{b}");
                assert_eq!(loop_part(&b), Some(0x1234));
            }
        }
        // distinct branches per number within one instance
        assert_ne!(stateful(99, 1, 0, 3), stateful(99, 2, 0, 3));
        assert_eq!(branch_instance("z9hG4bK776asdhds"), None);
        assert_eq!(branch_instance("z9hG4bK-sl"), None);
    }
}
