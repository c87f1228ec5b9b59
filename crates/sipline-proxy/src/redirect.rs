//! Redirect server (RFC 3261 §8.3).

use crate::target::TargetSet;
use crate::util::{fmt_q, reply};
use crate::validate::Refusal;
use sipline_message::header::StdHeader;
use sipline_message::{ByteString, Message, Request, StatusCode, Uri};

/// The 3xx for a target set: every target as a Contact with its q and
/// expires (§8.3 "An "expires" parameter to the Contact header field value
/// may also be supplied"; RFC 3841 §7.2.4: q-values give the order). 301
/// for a permanent static route, 300 for several contacts, else 302.
///
/// "redirect servers MUST NOT redirect a request to a URI equal to the one
/// in the Request-URI": such targets are dropped; if none is left, 404 (the
/// other option §8.3 gives, proxying, is not a redirect server's job).
pub(crate) fn redirect(req: &Request, set: &TargetSet, seed: u64) -> Result<Message, Refusal> {
    let mut contacts: Vec<String> = Vec::new();
    let mut push = |uri: &Uri, q: f32, expires: Option<u32>| {
        if uri.equivalent(&req.uri) {
            return;
        }
        let mut c = format!("<{uri}>;q={}", fmt_q(q));
        if let Some(e) = expires {
            c.push_str(&format!(";expires={e}"));
        }
        contacts.push(c);
    };
    match &set.static_contacts {
        Some(hops) => {
            for (i, hop) in hops.iter().enumerate() {
                let q = (1000u32.saturating_sub(100 * i as u32)).max(100) as f32 / 1000.0;
                push(hop, q, None);
            }
        }
        None => {
            for t in set.groups.iter().flatten() {
                push(&t.uri, t.q, t.expires);
            }
        }
    }
    if contacts.is_empty() {
        return Err(Refusal::new(StatusCode::NOT_FOUND));
    }
    let code = if set.permanent {
        301
    } else if contacts.len() > 1 {
        300
    } else {
        302
    };
    let mut resp = reply(
        req,
        StatusCode::new(code).unwrap_or(StatusCode::OK),
        None,
        seed,
    );
    let headers = resp.headers_mut();
    let at = headers.len().saturating_sub(1); // before Content-Length
    for (i, c) in contacts.into_iter().enumerate() {
        headers.insert(
            at + i,
            sipline_message::header::Header::new(StdHeader::Contact, ByteString::from(c)),
        );
    }
    Ok(resp)
}
