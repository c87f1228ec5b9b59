//! SIP messages (RFC 3261): parse, inspect, build and serialize.
//!
//! The parser reads a whole message once, checks the framing and splits the
//! header fields into rows that share the received buffer (`Bytes`), so no
//! header value is copied. Typed views of header fields (Via, From, CSeq, ...)
//! are parsed on demand, when someone asks for them.
//!
//! ```
//! use sipline_message::{Message, Method};
//!
//! let msg = Message::parse(&b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
//! Max-Forwards: 70\r\n\
//! To: <sip:bob@biloxi.example.com>\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n"[..]).unwrap();
//! let req = msg.as_request().unwrap();
//! assert_eq!(req.method, Method::Options);
//! assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
//! assert_eq!(msg.from_tag(), Some("1928301774"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
pub mod builder;
mod error;
pub mod header;
mod message;
mod method;
pub mod parse;
mod status;
pub mod text;
mod transport;
pub mod uri;

pub use bytes::Bytes;
pub use bytestring::ByteString;
pub use error::{ErrorKind, ParseError};
pub use header::{Header, HeaderName, Headers};
pub use message::{LineEnding, Message, Request, Response, Validated, Version};
pub use method::Method;
pub use parse::ParseOptions;
pub use status::StatusCode;
pub use transport::Transport;
pub use uri::Uri;
