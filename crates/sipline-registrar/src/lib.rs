//! A SIP registrar (RFC 3261 §10) and its location service.
//!
//! * [`Registrar`] is sans-IO: [`Registrar::process`] takes the time, a
//!   REGISTER and the AOR's current bindings and returns the response and
//!   the [`Change`]s to commit (RFC 3261 §10.3 steps 5 to 8, with Path of
//!   RFC 3327, outbound of RFC 5626 §6, Service-Route of RFC 3608 and the
//!   feature tags of RFC 3840 kept on each binding).
//! * [`LocationStore`] is where bindings live: [`MemoryStore`] in memory;
//!   durable, with group commit: [`LogStore`] in memory written through to
//!   an append-only log (the server's default), and [`RedbStore`] in a redb
//!   database ([`DurableStore`] is either durable one).
//! * [`register`] does the round trip: read, process, commit, answer (500 if
//!   the commit fails, §10.3 step 7).
//!
//! Times are Unix seconds (`u64`) throughout; [`unix_now`] reads the clock.
//!
//! ```
//! use sipline_message::Message;
//! use sipline_registrar::{register, LocationStore, MemoryStore, RegisterContext, Registrar};
//!
//! let store = MemoryStore::new();
//! let registrar = Registrar::default();
//! let req = Message::parse(&b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds7\r\n\
//! To: <sip:bob@example.com>\r\n\
//! From: <sip:bob@example.com>;tag=456248\r\n\
//! Call-ID: 843817637684230@998sdasdh09\r\n\
//! CSeq: 1826 REGISTER\r\n\
//! Contact: <sip:bob@192.0.2.4>\r\n\
//! Expires: 7200\r\n\
//! Content-Length: 0\r\n\r\n"[..]).unwrap();
//! let resp = register(&registrar, &store, 1_000, &req, &RegisterContext::default()).unwrap();
//! assert!(resp.to_string().starts_with("SIP/2.0 200 OK"));
//! assert_eq!(store.get("sip:bob@example.com").unwrap()[0].expires_at, 8_200);
//! ```
#![warn(missing_docs)]

mod binding;
mod durable;
mod log_store;
mod memory;
mod redb_store;
mod registrar;
mod store;
mod writer;

pub use binding::{
    apply_changes, decode_bindings, earliest_expiry, encode_bindings, Binding, BindingKey, Change,
    ContactParam, DecodeError, Source,
};
pub use durable::DurableStore;
pub use log_store::{
    LogOptions, LogStore, DEFAULT_COMPACT_MIN_BYTES, DEFAULT_COMPACT_RATIO,
    DEFAULT_COMPACT_STEP_BYTES, IMPORTED_DB_FILE, LOCK_FILE, LOG_FILE,
};
pub use memory::MemoryStore;
pub use redb_store::{
    CommitMode, CommitStats, EncodedBindings, PendingApply, RedbStore, DB_FILE, DEFAULT_WINDOW,
};
pub use registrar::{
    request_key, to_tag_for, to_tag_of, NotRegister, RegisterContext, RegisterOutcome, Registrar,
    RegistrarConfig,
};
pub use store::{LocationStore, StoreError};

use sipline_message::uri::escape::unescape_lossy;
use sipline_message::{Message, StatusCode, Uri};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The canonical form of an address-of-record, the index of its bindings
/// (RFC 3261 §10.3 step 5: "all URI parameters MUST be removed (including
/// the user-param), and any escaped characters MUST be converted to their
/// unescaped form").
///
/// For SIP and SIPS URIs: scheme, the user unescaped, `@`, the host in lower
/// case (host names compare case-insensitively, §19.1.4), and the port only
/// if it is not the scheme's default (a deliberate choice: an AOR written
/// with `:5060` indexes the same bindings as one without). Password, URI
/// parameters and headers are dropped. `tel` and other URIs: the text in
/// lower case with escapes decoded.
///
/// ```
/// use sipline_message::Uri;
/// let u = Uri::parse("sip:%62ob@BILOXI.example.com:5060;user=phone?X=1").unwrap();
/// assert_eq!(sipline_registrar::canonical_aor(&u), "sip:bob@biloxi.example.com");
/// let u = Uri::parse("sips:Alice@Atlanta.Example.COM:5062").unwrap();
/// assert_eq!(sipline_registrar::canonical_aor(&u), "sips:Alice@atlanta.example.com:5062");
/// ```
pub fn canonical_aor(uri: &Uri) -> String {
    match uri {
        Uri::Sip(s) => {
            let mut out = String::with_capacity(48);
            out.push_str(s.scheme.as_str());
            out.push(':');
            if let Some(user) = &s.user {
                out.push_str(&unescape_lossy(user));
                out.push('@');
            }
            // Written in place (no temporary strings: a registrar computes
            // this for every REGISTER).
            let host = out.len();
            s.host.push_to(&mut out);
            out[host..].make_ascii_lowercase();
            if let Some(port) = s.port.filter(|&p| p != s.scheme.default_port()) {
                out.push(':');
                out.push_str(sipline_message::text::port(port).as_str());
            }
            out
        }
        other => unescape_lossy(&other.to_string()).to_ascii_lowercase(),
    }
}

/// An HTTP-date (RFC 1123 form, RFC 3261 §20.17), e.g.
/// `Sat, 13 Nov 2010 23:29:00 GMT`, for Unix seconds.
///
/// ```
/// assert_eq!(sipline_registrar::http_date(1_289_690_940), "Sat, 13 Nov 2010 23:29:00 GMT");
/// ```
pub fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Processes a REGISTER against a store: reads the AOR's bindings, runs
/// [`Registrar::process`], commits the changes with
/// [`LocationStore::apply`] and returns the response to send, built from
/// the bindings the store holds after the commit. If reading or committing
/// fails, the response is 500 and nothing was changed (§10.3 step 7).
///
/// Returns [`NotRegister`] for anything but a REGISTER request.
pub fn register<S: LocationStore + ?Sized>(
    registrar: &Registrar,
    store: &S,
    now: u64,
    request: &Message,
    ctx: &RegisterContext,
) -> Result<Message, NotRegister> {
    let Some(req) = request.as_request() else {
        return Err(NotRegister);
    };
    let server_error = || {
        let tag = ctx.to_tag.clone().unwrap_or_else(|| to_tag_for(request));
        Message::from(sipline_message::builder::response_to(
            req,
            StatusCode::SERVER_INTERNAL_ERROR,
            Some(&tag),
        ))
    };
    let current = match registrar.aor_of(request) {
        Some(aor) => match store.get(&aor) {
            Ok(c) => c,
            Err(_) => {
                // Still reject malformed or non-REGISTER requests as such.
                registrar.process(now, request, &[], ctx)?;
                return Ok(server_error());
            }
        },
        None => Vec::new(),
    };
    let mut outcome = registrar.process(now, request, &current, ctx)?;
    if outcome.status() != StatusCode::OK || outcome.changes.is_empty() {
        return Ok(outcome.response);
    }
    let Some(aor) = outcome.aor.clone() else {
        return Ok(outcome.response);
    };
    match store.apply(&aor, &outcome.changes) {
        Ok(stored) => {
            outcome.set_bindings(now, stored);
            Ok(outcome.response)
        }
        Err(_) => Ok(server_error()),
    }
}
