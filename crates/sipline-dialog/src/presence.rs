//! A minimal Presence Information Data Format document (RFC 3863): one
//! presentity (`entity`), one tuple with a basic status (open or closed),
//! an optional contact and an optional note. Written and read as text, no
//! XML library: the reader takes any namespace prefix (RFC 3863 §4.1.1
//! allows a default namespace or a prefix), skips the prolog, comments
//! and elements it does not know, and decodes the five predefined entities
//! and character references.

use crate::Body;

/// The content type of PIDF (RFC 3863 §3.1).
pub const PIDF_CONTENT_TYPE: &str = "application/pidf+xml";

/// The PIDF namespace (RFC 3863 §4.1.1).
pub const PIDF_NAMESPACE: &str = "urn:ietf:params:xml:ns:pidf";

/// The presence of one presentity, reduced to one tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The presentity's URL (`entity` attribute, e.g. `pres:alice@example.com`).
    pub entity: String,
    /// The tuple's `id` (RFC 3863 §4.1.2).
    pub tuple_id: String,
    /// `<basic>open</basic>` (true) or `closed` (false), RFC 3863 §4.1.4.
    pub open: bool,
    /// The tuple's `<contact>` (RFC 3863 §4.1.5).
    pub contact: Option<String>,
    /// A `<note>` (RFC 3863 §4.1.6): written in the tuple; read from the
    /// first note anywhere.
    pub note: Option<String>,
}

/// Why a document is not PIDF we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// No `<presence>` element.
    #[error("no presence element")]
    NoPresence,
    /// `<presence>` without its mandatory `entity` attribute (§4.1.1).
    #[error("presence element without entity")]
    NoEntity,
    /// A tag or entity that does not parse.
    #[error("malformed XML")]
    Malformed,
}

impl Presence {
    /// An open or closed presentity with one tuple `t1`.
    pub fn new(entity: impl Into<String>, open: bool) -> Self {
        Presence {
            entity: entity.into(),
            tuple_id: "t1".into(),
            open,
            contact: None,
            note: None,
        }
    }

    /// The document (RFC 3863 §4).
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(256);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<presence xmlns=\"{PIDF_NAMESPACE}\" entity=\"{}\">\n",
            escape(&self.entity)
        ));
        x.push_str(&format!("  <tuple id=\"{}\">\n", escape(&self.tuple_id)));
        x.push_str(&format!(
            "    <status>\n      <basic>{}</basic>\n    </status>\n",
            if self.open { "open" } else { "closed" }
        ));
        if let Some(c) = &self.contact {
            x.push_str(&format!("    <contact>{}</contact>\n", escape(c)));
        }
        if let Some(n) = &self.note {
            x.push_str(&format!("    <note>{}</note>\n", escape(n)));
        }
        x.push_str("  </tuple>\n</presence>\n");
        x
    }

    /// The document as a NOTIFY or PUBLISH body.
    pub fn to_body(&self) -> Body {
        Body {
            content_type: PIDF_CONTENT_TYPE.into(),
            data: self.to_xml().into(),
        }
    }

    /// Reads a PIDF document: the entity, the first tuple's id, basic
    /// status and contact, and the first note. A tuple without a basic
    /// status reads as closed.
    pub fn parse(xml: &str) -> Result<Presence, PidfError> {
        let mut entity = None;
        let mut tuple_id = None;
        let mut open = None;
        let mut contact = None;
        let mut note = None;
        // Element names (without prefix) from the root down.
        let mut stack: Vec<String> = Vec::new();
        // In the first tuple (and not after it).
        let mut tuples = 0u32;
        let mut text = String::new();
        let mut rest = xml;
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                text.push_str(rest);
                break;
            };
            text.push_str(&rest[..lt]);
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("<!--") {
                let end = r.find("-->").ok_or(PidfError::Malformed)?;
                rest = &r[end + 3..];
                continue;
            }
            if let Some(r) = rest.strip_prefix("<![CDATA[") {
                let end = r.find("]]>").ok_or(PidfError::Malformed)?;
                // CDATA is literal text: keep it escaped for the decoder.
                text.push_str(&escape(&r[..end]));
                rest = &r[end + 3..];
                continue;
            }
            if rest.starts_with("<?") || rest.starts_with("<!") {
                let end = rest.find('>').ok_or(PidfError::Malformed)?;
                rest = &rest[end + 1..];
                continue;
            }
            let end = tag_end(rest).ok_or(PidfError::Malformed)?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let name = local(name.trim());
                let in_first_tuple = tuples == 1 && stack.iter().any(|n| n == "tuple");
                let value = unescape(text.trim())?;
                match name {
                    "basic" if in_first_tuple && open.is_none() => {
                        open = Some(value.eq_ignore_ascii_case("open"));
                    }
                    "contact" if in_first_tuple && contact.is_none() => contact = Some(value),
                    "note" if note.is_none() => note = Some(value),
                    _ => {}
                }
                if stack.last().map(String::as_str) == Some(name) {
                    stack.pop();
                } else {
                    return Err(PidfError::Malformed);
                }
                text.clear();
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, attrs) = match tag.find(|c: char| c.is_ascii_whitespace()) {
                Some(i) => (&tag[..i], &tag[i..]),
                None => (tag, ""),
            };
            let name = local(name);
            if name.is_empty() {
                return Err(PidfError::Malformed);
            }
            let attrs = attributes(attrs)?;
            match name {
                "presence" if stack.is_empty() => {
                    entity = attrs
                        .iter()
                        .find(|(n, _)| local(n) == "entity")
                        .map(|(_, v)| v.clone());
                }
                "tuple" => {
                    tuples += 1;
                    if tuples == 1 {
                        tuple_id = attrs
                            .iter()
                            .find(|(n, _)| local(n) == "id")
                            .map(|(_, v)| v.clone());
                    }
                }
                _ => {}
            }
            if !self_closing {
                stack.push(name.to_string());
            }
            text.clear();
        }
        if !stack.is_empty() {
            return Err(PidfError::Malformed);
        }
        if entity.is_none() && tuple_id.is_none() && open.is_none() {
            return Err(PidfError::NoPresence);
        }
        Ok(Presence {
            entity: entity.ok_or(PidfError::NoEntity)?,
            tuple_id: tuple_id.unwrap_or_default(),
            open: open.unwrap_or(false),
            contact,
            note,
        })
    }
}

/// The index of the `>` closing the tag at the start of `s`, skipping
/// quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// The name without its namespace prefix.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// `name="value"` and `name='value'` pairs, values decoded.
fn attributes(mut s: &str) -> Result<Vec<(String, String)>, PidfError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let eq = s.find('=').ok_or(PidfError::Malformed)?;
        let name = s[..eq].trim();
        let r = s[eq + 1..].trim_start();
        let q = r.chars().next().ok_or(PidfError::Malformed)?;
        if q != '"' && q != '\'' {
            return Err(PidfError::Malformed);
        }
        let end = r[1..].find(q).ok_or(PidfError::Malformed)?;
        out.push((name.to_string(), unescape(&r[1..=end])?));
        s = &r[end + 2..];
    }
}

/// Escapes text for element content and attribute values: `&`, `<`, `>`,
/// `"` and `'`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes the predefined entities and character references.
fn unescape(s: &str) -> Result<String, PidfError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let r = &rest[i + 1..];
        let end = r.find(';').ok_or(PidfError::Malformed)?;
        let name = &r[..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = name.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or(PidfError::Malformed)?
            }
        };
        out.push(c);
        rest = &r[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_escapes() {
        let mut p = Presence::new("pres:alice@example.com", true);
        p.note = Some("Tom & Jerry's <\"show\">".into());
        p.contact = Some("sip:alice@10.0.0.1;transport=tcp".into());
        let xml = p.to_xml();
        assert!(xml.contains("Tom &amp; Jerry&apos;s &lt;&quot;show&quot;&gt;"));
        assert!(xml.contains("xmlns=\"urn:ietf:params:xml:ns:pidf\""));
        assert_eq!(Presence::parse(&xml).unwrap(), p);
        let closed = Presence::new("pres:bob@example.com", false);
        assert_eq!(Presence::parse(&closed.to_xml()).unwrap(), closed);
    }

    /// RFC 3863 §4.3.2: a prefixed namespace, extension elements, spread
    /// contact; the first tuple counts.
    #[test]
    fn reads_the_rfc_examples() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
   <impp:presence xmlns:impp="urn:ietf:params:xml:ns:pidf"
        xmlns:myex="http://id.example.com/presence/"
        entity="pres:someone@example.com">
     <impp:tuple id="ck38g9">
       <impp:status>
         <impp:basic>open</impp:basic>
       </impp:status>
       <myex:mytupletag>Extended value in tuple</myex:mytupletag>
       <impp:contact priority="0.65">tel:+09012345678</impp:contact>
     </impp:tuple>
     <impp:tuple id="md66je">
       <impp:status>
         <impp:basic>closed</impp:basic>
       </impp:status>
       <impp:contact priority="1.0">
          im:someone@mobilecarrier.net</impp:contact>
     </impp:tuple>
     <!-- a comment -->
     <myex:mytag>My extended presentity information</myex:mytag>
   </impp:presence>"#;
        let p = Presence::parse(xml).unwrap();
        assert_eq!(p.entity, "pres:someone@example.com");
        assert_eq!(p.tuple_id, "ck38g9");
        assert!(p.open);
        assert_eq!(p.contact.as_deref(), Some("tel:+09012345678"));
        assert_eq!(p.note, None);
        // §4.3.1: a presence-level note, default namespace.
        let xml = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity='pres:x@y'>
            <tuple id="a"><status><basic> closed </basic></status></tuple>
            <note xml:lang="en">I&#39;ll be in Tokyo &#x26; Kyoto</note></presence>"#;
        let p = Presence::parse(xml).unwrap();
        assert!(!p.open);
        assert_eq!(p.note.as_deref(), Some("I'll be in Tokyo & Kyoto"));
    }

    #[test]
    fn refuses_what_is_not_pidf() {
        assert_eq!(Presence::parse("hello"), Err(PidfError::NoPresence));
        assert_eq!(
            Presence::parse("<presence><tuple id='x'/></presence>"),
            Err(PidfError::NoEntity)
        );
        assert_eq!(
            Presence::parse("<presence entity='a'><tuple>"),
            Err(PidfError::Malformed)
        );
        assert_eq!(
            Presence::parse("<presence entity='a&bogus;'/>"),
            Err(PidfError::Malformed)
        );
    }
}
