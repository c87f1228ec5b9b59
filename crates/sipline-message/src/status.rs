//! Status codes (RFC 3261 §21 and the extensions that add codes).

use std::fmt;

/// A response status code, 100 to 699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 100 Trying
    pub const TRYING: Self = Self(100);
    /// 180 Ringing
    pub const RINGING: Self = Self(180);
    /// 183 Session Progress
    pub const SESSION_PROGRESS: Self = Self(183);
    /// 200 OK
    pub const OK: Self = Self(200);
    /// 202 Accepted
    pub const ACCEPTED: Self = Self(202);
    /// 400 Bad Request
    pub const BAD_REQUEST: Self = Self(400);
    /// 401 Unauthorized
    pub const UNAUTHORIZED: Self = Self(401);
    /// 403 Forbidden
    pub const FORBIDDEN: Self = Self(403);
    /// 404 Not Found
    pub const NOT_FOUND: Self = Self(404);
    /// 407 Proxy Authentication Required
    pub const PROXY_AUTHENTICATION_REQUIRED: Self = Self(407);
    /// 408 Request Timeout
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 481 Call/Transaction Does Not Exist
    pub const CALL_DOES_NOT_EXIST: Self = Self(481);
    /// 486 Busy Here
    pub const BUSY_HERE: Self = Self(486);
    /// 487 Request Terminated
    pub const REQUEST_TERMINATED: Self = Self(487);
    /// 500 Server Internal Error
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    /// 503 Service Unavailable
    pub const SERVICE_UNAVAILABLE: Self = Self(503);

    /// A status code from a number, if it is 100 to 699 (RFC 3261 §7.2).
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 699 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The class: 1 for provisional, 2 for success ... 6 for global failure.
    /// Unknown codes are treated as the x00 code of their class (RFC 3261 §8.1.3.2).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// 1xx
    pub const fn is_provisional(self) -> bool {
        self.class() == 1
    }

    /// 2xx
    pub const fn is_success(self) -> bool {
        self.class() == 2
    }

    /// 200 to 699
    pub const fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// The reason phrase RFC 3261 §21 (or the extension defining the code) gives,
    /// or the phrase of the class for codes nobody defined.
    pub fn canonical_reason(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            199 => "Early Dialog Terminated",
            200 => "OK",
            202 => "Accepted",
            204 => "No Notification",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            305 => "Use Proxy",
            380 => "Alternative Service",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            410 => "Gone",
            412 => "Conditional Request Failed",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            417 => "Unknown Resource-Priority",
            420 => "Bad Extension",
            421 => "Extension Required",
            422 => "Session Interval Too Small",
            423 => "Interval Too Brief",
            428 => "Use Identity Header",
            429 => "Provide Referrer Identity",
            430 => "Flow Failed",
            433 => "Anonymity Disallowed",
            436 => "Bad Identity-Info",
            437 => "Unsupported Certificate",
            438 => "Invalid Identity Header",
            439 => "First Hop Lacks Outbound Support",
            440 => "Max-Breadth Exceeded",
            469 => "Bad Info Package",
            470 => "Consent Needed",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            484 => "Address Incomplete",
            485 => "Ambiguous",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            489 => "Bad Event",
            491 => "Request Pending",
            493 => "Undecipherable",
            494 => "Security Agreement Required",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            513 => "Message Too Large",
            580 => "Precondition Failure",
            600 => "Busy Everywhere",
            603 => "Decline",
            604 => "Does Not Exist Anywhere",
            606 => "Not Acceptable",
            607 => "Unwanted",
            _ => match self.class() {
                1 => "Provisional",
                2 => "Success",
                3 => "Redirection",
                4 => "Client Error",
                5 => "Server Error",
                _ => "Global Failure",
            },
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<u16> for StatusCode {
    type Error = ();
    fn try_from(code: u16) -> Result<Self, ()> {
        Self::new(code).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_classes() {
        assert!(StatusCode::new(99).is_none());
        assert!(StatusCode::new(700).is_none());
        let c = StatusCode::new(699).unwrap();
        assert_eq!(c.class(), 6);
        assert_eq!(c.canonical_reason(), "Global Failure");
        assert_eq!(StatusCode::new(299).unwrap().canonical_reason(), "Success");
        assert_eq!(StatusCode::BUSY_HERE.canonical_reason(), "Busy Here");
        assert!(StatusCode::RINGING.is_provisional());
        assert!(StatusCode::OK.is_final() && StatusCode::OK.is_success());
    }
}
