//! Bindings (RFC 3261 §10, as extended by RFC 3327 §5.3 and RFC 5626 §6),
//! the changes the registrar asks a store to make, and a compact binary
//! encoding for storing them.

use sipline_message::Uri;
use std::fmt::Write as _;
use std::sync::Arc;

/// Where a REGISTER came from: what RFC 5626 §6 calls "enough information to
/// uniquely identify the network flow over which the request arrived". All
/// fields are opaque strings chosen by the transport layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// Transport, e.g. `"UDP"`, `"TCP"`, `"TLS"`, `"WS"`.
    pub transport: String,
    /// Remote address and port as seen by the transport, e.g. `"192.0.2.4:5060"`.
    pub remote: String,
    /// Local address (socket or interface) that received the request.
    pub local: Option<String>,
    /// Connection or flow token (e.g. a connection id), if any.
    pub connection: Option<String>,
}

/// One Contact header parameter as received (`name` or `name=value`, the
/// value as written, quotes kept): the feature tags of RFC 3840 §9, `q`,
/// `+sip.instance`, `reg-id` and anything else the UA sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactParam {
    /// Parameter name as written.
    pub name: String,
    /// Value as written, if any.
    pub value: Option<String>,
}

/// A binding of an address-of-record to a contact (RFC 3261 §10).
///
/// `contact_uri` is kept as the UA wrote it; comparison with other contacts
/// uses RFC 3261 §19.1.4 URI equivalence ([`Binding::same_contact`]).
/// Times are absolute Unix seconds, so a stored binding keeps its expiry over
/// a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The canonical address-of-record (see [`crate::canonical_aor`]).
    pub aor: String,
    /// The Contact URI, as the UA wrote it.
    pub contact_uri: String,
    /// Every Contact header parameter except `expires` (RFC 3840 feature
    /// tags, `q`, `+sip.instance`, `reg-id` ...), kept for caller preferences
    /// (RFC 3841) and echoed in the 200 OK.
    pub params: Vec<ContactParam>,
    /// The q-value (RFC 3261 §20.10), if the Contact had one.
    pub q: Option<f32>,
    /// When the binding expires, Unix seconds.
    pub expires_at: u64,
    /// Call-ID of the REGISTER that last wrote this binding (§10.3 step 7).
    pub call_id: String,
    /// CSeq number of the REGISTER that last wrote this binding (§10.3 step 7).
    pub cseq: u32,
    /// The path vector (RFC 3327 §5.3): the Path header field values in order,
    /// each as a name-addr text such as `<sip:edge.example.com;lr>`.
    pub path: Vec<String>,
    /// The instance-id (`+sip.instance`, unquoted, e.g. `<urn:uuid:...>`;
    /// RFC 5626 §4.1, RFC 3840).
    pub instance: Option<String>,
    /// The reg-id (RFC 5626 §4.2), present only when outbound processing was
    /// applied (RFC 5626 §6); with `instance` it keys the binding.
    pub reg_id: Option<u32>,
    /// The flow the REGISTER arrived on (RFC 5626 §6), for NAT traversal.
    /// Shared: every binding a REGISTER writes, and every copy of them,
    /// points at the one value.
    pub source: Option<Arc<Source>>,
    /// The User-Agent header of the REGISTER, if any.
    pub user_agent: Option<String>,
    /// When the binding was last written, Unix seconds.
    pub updated_at: u64,
}

/// What identifies a binding inside its AOR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// RFC 5626 §6: the binding is between the AOR and the pair
    /// (instance-id, reg-id); the Contact URI is not compared.
    Flow {
        /// `+sip.instance`, unquoted.
        instance: String,
        /// `reg-id`.
        reg_id: u32,
    },
    /// RFC 3261 §10.3 step 7: the Contact URI, as stored (the registrar
    /// resolves URI equivalence before it names a binding to a store).
    Contact(String),
}

/// One change to the bindings of an AOR.
// Most changes are `Put`s: boxing the binding would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Adds the binding, replacing any binding with the same [`BindingKey`].
    Put(Binding),
    /// Removes the binding with this key, if present.
    Remove(BindingKey),
    /// Removes every binding of the AOR.
    RemoveAll,
}

impl Binding {
    /// The key of this binding: `Flow` when both instance and reg-id are set.
    pub fn key(&self) -> BindingKey {
        match (&self.instance, self.reg_id) {
            (Some(instance), Some(reg_id)) => BindingKey::Flow {
                instance: instance.clone(),
                reg_id,
            },
            _ => BindingKey::Contact(self.contact_uri.clone()),
        }
    }

    /// `self.key() == other.key()`, without making the keys.
    pub fn same_key(&self, other: &Binding) -> bool {
        match (
            (&self.instance, self.reg_id),
            (&other.instance, other.reg_id),
        ) {
            ((Some(a), Some(x)), (Some(b), Some(y))) => a == b && x == y,
            ((Some(_), Some(_)), _) | (_, (Some(_), Some(_))) => false,
            _ => self.contact_uri == other.contact_uri,
        }
    }

    /// Seconds until expiry (0 once expired).
    pub fn remaining(&self, now: u64) -> u32 {
        u32::try_from(self.expires_at.saturating_sub(now)).unwrap_or(u32::MAX)
    }

    /// Expired at `now` (a binding lives for `[updated, expires_at)`).
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// True if `uri` is the same contact per RFC 3261 §19.1.4 (stored text
    /// that does not parse is compared byte for byte).
    pub fn same_contact(&self, uri: &Uri) -> bool {
        match Uri::parse(&self.contact_uri) {
            Ok(mine) => mine.equivalent(uri),
            Err(_) => self.contact_uri == uri.to_string(),
        }
    }

    /// The Contact header value for a 200 OK (RFC 3261 §10.3 step 8):
    /// `<uri>` with every stored parameter and `expires=` the remaining time.
    pub fn contact_value(&self, now: u64) -> String {
        let mut s = String::with_capacity(self.contact_uri.len() + 32);
        s.push('<');
        s.push_str(&self.contact_uri);
        s.push('>');
        for p in &self.params {
            s.push(';');
            s.push_str(&p.name);
            if let Some(v) = &p.value {
                s.push('=');
                s.push_str(v);
            }
        }
        let _ = write!(s, ";expires={}", self.remaining(now));
        s
    }

    /// Encodes the binding (see [`encode_bindings`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_str(out, &self.aor);
        put_str(out, &self.contact_uri);
        put_u32(out, self.params.len() as u32);
        for p in &self.params {
            put_str(out, &p.name);
            put_opt_str(out, p.value.as_deref());
        }
        match self.q {
            Some(q) => {
                out.push(1);
                out.extend_from_slice(&q.to_le_bytes());
            }
            None => out.push(0),
        }
        put_u64(out, self.expires_at);
        put_str(out, &self.call_id);
        put_u32(out, self.cseq);
        put_u32(out, self.path.len() as u32);
        for p in &self.path {
            put_str(out, p);
        }
        put_opt_str(out, self.instance.as_deref());
        match self.reg_id {
            Some(r) => {
                out.push(1);
                put_u32(out, r);
            }
            None => out.push(0),
        }
        match &self.source {
            Some(s) => {
                out.push(1);
                put_str(out, &s.transport);
                put_str(out, &s.remote);
                put_opt_str(out, s.local.as_deref());
                put_opt_str(out, s.connection.as_deref());
            }
            None => out.push(0),
        }
        put_opt_str(out, self.user_agent.as_deref());
        put_u64(out, self.updated_at);
    }

    /// Decodes one binding written by [`Binding::encode`].
    pub fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let aor = get_str(input)?;
        let contact_uri = get_str(input)?;
        let n = get_u32(input)? as usize;
        let mut params = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            params.push(ContactParam {
                name: get_str(input)?,
                value: get_opt_str(input)?,
            });
        }
        let q = if get_u8(input)? == 1 {
            Some(f32::from_le_bytes(take::<4>(input)?))
        } else {
            None
        };
        let expires_at = get_u64(input)?;
        let call_id = get_str(input)?;
        let cseq = get_u32(input)?;
        let n = get_u32(input)? as usize;
        let mut path = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            path.push(get_str(input)?);
        }
        let instance = get_opt_str(input)?;
        let reg_id = if get_u8(input)? == 1 {
            Some(get_u32(input)?)
        } else {
            None
        };
        let source = if get_u8(input)? == 1 {
            Some(Arc::new(Source {
                transport: get_str(input)?,
                remote: get_str(input)?,
                local: get_opt_str(input)?,
                connection: get_opt_str(input)?,
            }))
        } else {
            None
        };
        let user_agent = get_opt_str(input)?;
        let updated_at = get_u64(input)?;
        Ok(Self {
            aor,
            contact_uri,
            params,
            q,
            expires_at,
            call_id,
            cseq,
            path,
            instance,
            reg_id,
            source,
            user_agent,
            updated_at,
        })
    }
}

/// A stored value that is not a valid encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid binding encoding")]
pub struct DecodeError;

/// Format version of [`encode_bindings`].
const VERSION: u8 = 1;

/// Encodes the bindings of one AOR: a version byte, a count, then each
/// binding as length-prefixed little-endian fields.
pub fn encode_bindings(bindings: &[Binding]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + bindings.len() * 160);
    out.push(VERSION);
    put_u32(&mut out, bindings.len() as u32);
    for b in bindings {
        b.encode(&mut out);
    }
    out
}

/// Decodes what [`encode_bindings`] wrote.
pub fn decode_bindings(mut input: &[u8]) -> Result<Vec<Binding>, DecodeError> {
    if get_u8(&mut input)? != VERSION {
        return Err(DecodeError);
    }
    let n = get_u32(&mut input)? as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(Binding::decode(&mut input)?);
    }
    if input.is_empty() {
        Ok(out)
    } else {
        Err(DecodeError)
    }
}

/// The earliest `expires_at` of the bindings in a value that
/// [`encode_bindings`] wrote (`None`: no bindings), read without decoding
/// them: no allocation, every other field skipped. A purge reads this for
/// every AOR, and decodes only those with something expired.
pub fn earliest_expiry(mut input: &[u8]) -> Result<Option<u64>, DecodeError> {
    let input = &mut input;
    if get_u8(input)? != VERSION {
        return Err(DecodeError);
    }
    let mut earliest: Option<u64> = None;
    for _ in 0..get_u32(input)? {
        // The fields in Binding::encode's order.
        skip_str(input)?; // aor
        skip_str(input)?; // contact_uri
        for _ in 0..get_u32(input)? {
            skip_str(input)?; // name
            skip_opt_str(input)?; // value
        }
        if get_u8(input)? == 1 {
            take::<4>(input)?; // q
        }
        let expires_at = get_u64(input)?;
        earliest = Some(earliest.map_or(expires_at, |e| e.min(expires_at)));
        skip_str(input)?; // call_id
        get_u32(input)?; // cseq
        for _ in 0..get_u32(input)? {
            skip_str(input)?; // path
        }
        skip_opt_str(input)?; // instance
        if get_u8(input)? == 1 {
            get_u32(input)?; // reg_id
        }
        if get_u8(input)? == 1 {
            skip_str(input)?; // source: transport
            skip_str(input)?; // remote
            skip_opt_str(input)?; // local
            skip_opt_str(input)?; // connection
        }
        skip_opt_str(input)?; // user_agent
        get_u64(input)?; // updated_at
    }
    if input.is_empty() {
        Ok(earliest)
    } else {
        Err(DecodeError)
    }
}

/// Whether a value that [`encode_bindings`] wrote may hold a binding
/// expired at `now` (see [`Binding::is_expired`]): what a purge decodes.
/// An invalid value says yes, for the decoder to refuse.
pub(crate) fn may_have_expired(value: &[u8], now: u64) -> bool {
    match earliest_expiry(value) {
        Ok(Some(earliest)) => now >= earliest,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Applies `changes` in order to one AOR's bindings: what every store does
/// with an apply (shared by the stores, and usable by a caller keeping the
/// bindings itself).
pub fn apply_changes(list: &mut Vec<Binding>, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Put(b) => {
                let key = b.key();
                match list.iter_mut().find(|x| x.key() == key) {
                    Some(slot) => *slot = b.clone(),
                    None => list.push(b.clone()),
                }
            }
            Change::Remove(key) => list.retain(|x| &x.key() != key),
            Change::RemoveAll => list.clear(),
        }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let (head, rest) = input.split_first_chunk::<N>().ok_or(DecodeError)?;
    *input = rest;
    Ok(*head)
}

fn get_u8(input: &mut &[u8]) -> Result<u8, DecodeError> {
    Ok(take::<1>(input)?[0])
}

fn get_u32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    take::<4>(input).map(u32::from_le_bytes)
}

fn get_u64(input: &mut &[u8]) -> Result<u64, DecodeError> {
    take::<8>(input).map(u64::from_le_bytes)
}

fn get_str(input: &mut &[u8]) -> Result<String, DecodeError> {
    let n = get_u32(input)? as usize;
    if input.len() < n {
        return Err(DecodeError);
    }
    let (s, rest) = input.split_at(n);
    *input = rest;
    String::from_utf8(s.to_vec()).map_err(|_| DecodeError)
}

fn skip_str(input: &mut &[u8]) -> Result<(), DecodeError> {
    let n = get_u32(input)? as usize;
    *input = input.get(n..).ok_or(DecodeError)?;
    Ok(())
}

fn skip_opt_str(input: &mut &[u8]) -> Result<(), DecodeError> {
    match get_u8(input)? {
        0 => Ok(()),
        1 => skip_str(input),
        _ => Err(DecodeError),
    }
}

fn get_opt_str(input: &mut &[u8]) -> Result<Option<String>, DecodeError> {
    match get_u8(input)? {
        0 => Ok(None),
        1 => get_str(input).map(Some),
        _ => Err(DecodeError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `earliest_expiry` walks the encoding as `decode_bindings` does:
    /// the same minimum for lists with every optional field set and
    /// unset, and an error for every cut-short value.
    #[test]
    fn earliest_expiry_agrees_with_decoding() {
        let full = sample();
        let bare = Binding {
            params: vec![],
            q: None,
            path: vec![],
            instance: None,
            reg_id: None,
            source: None,
            user_agent: None,
            expires_at: 1_600_000_000,
            ..sample()
        };
        let later = Binding {
            expires_at: 1_800_000_000,
            ..sample()
        };
        let lists = [
            vec![],
            vec![full.clone()],
            vec![bare.clone()],
            vec![later.clone(), full.clone()],
            vec![full, later.clone(), bare],
            vec![later],
        ];
        for list in &lists {
            let value = encode_bindings(list);
            let min = decode_bindings(&value)
                .unwrap()
                .iter()
                .map(|b| b.expires_at)
                .min();
            assert_eq!(earliest_expiry(&value), Ok(min));
            for cut in 0..value.len() {
                assert!(decode_bindings(&value[..cut]).is_err());
                assert_eq!(
                    earliest_expiry(&value[..cut]),
                    Err(DecodeError),
                    "cut {cut}"
                );
            }
            let mut longer = value.clone();
            longer.push(0);
            assert_eq!(earliest_expiry(&longer), Err(DecodeError));
        }
    }

    fn sample() -> Binding {
        Binding {
            aor: "sip:bob@example.com".into(),
            contact_uri: "sip:bob@192.0.2.4:5060;transport=tcp".into(),
            params: vec![
                ContactParam {
                    name: "q".into(),
                    value: Some("0.7".into()),
                },
                ContactParam {
                    name: "audio".into(),
                    value: None,
                },
            ],
            q: Some(0.7),
            expires_at: 1_700_000_000,
            call_id: "c1@x".into(),
            cseq: 7,
            path: vec!["<sip:edge.example.com;lr;ob>".into()],
            instance: Some("<urn:uuid:1>".into()),
            reg_id: Some(1),
            source: Some(Arc::new(Source {
                transport: "TCP".into(),
                remote: "192.0.2.4:50000".into(),
                local: None,
                connection: Some("conn-9".into()),
            })),
            user_agent: Some("test/1".into()),
            updated_at: 1_699_999_000,
        }
    }

    #[test]
    fn round_trip() {
        let mut b2 = sample();
        b2.source = None;
        b2.instance = None;
        b2.reg_id = None;
        b2.q = None;
        b2.user_agent = None;
        let list = vec![sample(), b2];
        let enc = encode_bindings(&list);
        assert_eq!(decode_bindings(&enc).unwrap(), list);
        assert_eq!(decode_bindings(&enc[..enc.len() - 1]), Err(DecodeError));
        assert_eq!(decode_bindings(&[]), Err(DecodeError));
        assert_eq!(decode_bindings(&encode_bindings(&[])).unwrap(), vec![]);
    }

    #[test]
    fn same_key_agrees_with_key() {
        let flow = sample();
        let mut other_flow = sample();
        other_flow.reg_id = Some(2);
        let mut other_instance = sample();
        other_instance.instance = Some("<urn:uuid:2>".into());
        let mut plain = sample();
        plain.reg_id = None;
        let mut plain_same_uri = sample();
        plain_same_uri.instance = None;
        let mut plain_other_uri = plain.clone();
        plain_other_uri.contact_uri = "sip:bob@192.0.2.5".into();
        let all = [
            flow,
            other_flow,
            other_instance,
            plain,
            plain_same_uri,
            plain_other_uri,
        ];
        for a in &all {
            for b in &all {
                assert_eq!(a.same_key(b), a.key() == b.key(), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn contact_value_has_params_and_expires() {
        let b = sample();
        assert_eq!(
            b.contact_value(1_699_999_990),
            "<sip:bob@192.0.2.4:5060;transport=tcp>;q=0.7;audio;expires=10"
        );
        assert_eq!(b.remaining(1_800_000_000), 0);
        assert!(b.is_expired(1_700_000_000));
    }
}
