//! Join tokens and join strings.
//!
//! This module owns the join-token format (generation, validation), how tokens
//! are stored (only a SHA-256 hash goes into the replicated store, so reading
//! the store does not reveal usable tokens), the stored token record, and the
//! join string `ADDRESS:PORT/TOKEN/FINGERPRINT` handed to joining nodes.

use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Minimum token length; 32 chars of [a-z0-9] is ~165 bits of entropy.
pub const TOKEN_MIN_LENGTH: usize = 32;

/// Alphabet of generated tokens: lowercase alphanumerics only, so a token
/// survives copy/paste, shells and URLs untouched.
const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a hex SHA-256 fingerprint.
const FINGERPRINT_HEX_LEN: usize = 64;

const JOIN_STRING_SHAPE: &str = "expected ADDRESS:25000/TOKEN/FINGERPRINT";

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("invalid token: must be at least {TOKEN_MIN_LENGTH} characters, got {0}")]
    TooShort(usize),
    #[error("invalid token: only letters, digits, '-' and '_' are allowed")]
    InvalidCharacter,
    #[error("malformed join string: {JOIN_STRING_SHAPE}")]
    MalformedJoinString,
    #[error("malformed join string: address {0:?} must be HOST:PORT ({JOIN_STRING_SHAPE})")]
    MissingPort(String),
    #[error("malformed join string: invalid port in address {0:?}")]
    InvalidPort(String),
    #[error(
        "malformed join string: fingerprint must be 64 hex characters (SHA-256 of the CA certificate)"
    )]
    InvalidFingerprint,
    #[error("malformed join string: {0}")]
    InvalidJoinToken(Box<TokenError>),
}

/// Generates a new join token: 32 characters from [a-z0-9], drawn directly
/// from the operating system's random source.
pub fn generate_token() -> String {
    // SysRng is fallible; UnwrapErr panics if the OS cannot provide
    // randomness, which is not recoverable for a security token anyway.
    let mut rng = UnwrapErr(SysRng);
    (0..TOKEN_MIN_LENGTH)
        .map(|_| {
            let i = rng.random_range(0..TOKEN_ALPHABET.len());
            char::from(TOKEN_ALPHABET[i])
        })
        .collect()
}

/// Checks a token supplied by a user or peer. Accepts a slightly wider
/// alphabet than we generate so operators may bring their own tokens.
pub fn validate_token_format(token: &str) -> Result<(), TokenError> {
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(TokenError::InvalidCharacter);
    }
    // All bytes are ASCII here, so the byte length is the character count.
    if token.len() < TOKEN_MIN_LENGTH {
        return Err(TokenError::TooShort(token.len()));
    }
    Ok(())
}

/// Lowercase hex SHA-256 of the token; this is what gets stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored_hash`. The comparison is constant-time
/// so response timing does not leak how much of a guess was right.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    let candidate = hash_token(token);
    // ct_eq on slices of different lengths returns false (length is not secret).
    bool::from(candidate.as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// A join token as stored in the replicated store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// `hash_token` of the token.
    pub hash: String,
    /// Joins as a worker (true) or as a control-plane member (false).
    pub worker: bool,
    /// Deleted after its first successful use.
    pub single_use: bool,
    pub expires_unix_ms: Option<u64>,
    pub created_unix_ms: u64,
}

impl TokenRecord {
    /// Expired once `now` reaches the expiry instant; no expiry never expires.
    pub fn is_expired(&self, now_unix_ms: u64) -> bool {
        self.expires_unix_ms.is_some_and(|exp| now_unix_ms >= exp)
    }
}

/// `ADDRESS:PORT/TOKEN/FINGERPRINT`: where to join, the secret, and the
/// SHA-256 fingerprint of the cluster CA certificate, which lets the joining
/// node authenticate the cluster before revealing the token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinString {
    /// `host:port`; IPv6 hosts in brackets (`[::1]:25000`).
    pub address: String,
    pub token: String,
    /// Lowercase hex.
    pub fingerprint: String,
}

// Hand-written so the token never ends up in logs.
impl std::fmt::Debug for JoinString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinString")
            .field("address", &self.address)
            .field("token", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl JoinString {
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let [address, token, fingerprint] = parts.as_slice() else {
            return Err(TokenError::MalformedJoinString);
        };
        if address.is_empty() || token.is_empty() || fingerprint.is_empty() {
            return Err(TokenError::MalformedJoinString);
        }
        validate_address(address)?;
        validate_token_format(token).map_err(|e| TokenError::InvalidJoinToken(Box::new(e)))?;
        if fingerprint.len() != FINGERPRINT_HEX_LEN
            || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(TokenError::InvalidFingerprint);
        }
        Ok(Self {
            address: (*address).to_owned(),
            token: (*token).to_owned(),
            // Fingerprints are compared as strings; normalise the case.
            fingerprint: fingerprint.to_ascii_lowercase(),
        })
    }

    pub fn format(&self) -> String {
        format!("{}/{}/{}", self.address, self.token, self.fingerprint)
    }
}

impl std::fmt::Display for JoinString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format())
    }
}

impl std::str::FromStr for JoinString {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `host:port` with a non-empty host and a non-zero u16 port; a host that
/// contains ':' (IPv6) must be bracketed, otherwise the port is ambiguous.
fn validate_address(address: &str) -> Result<(), TokenError> {
    let missing_port = || TokenError::MissingPort(address.to_owned());
    let (host, port) = address.rsplit_once(':').ok_or_else(missing_port)?;
    if host.is_empty() {
        return Err(TokenError::MalformedJoinString);
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(missing_port());
    }
    if host.starts_with('[') && host.len() <= 2 {
        return Err(TokenError::MalformedJoinString);
    }
    if port.is_empty() {
        return Err(missing_port());
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(TokenError::InvalidPort(address.to_owned())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    const FP: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_tokens_are_valid_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), TOKEN_MIN_LENGTH);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_eq!(validate_token_format(&a), Ok(()));
        assert_ne!(a, b);
    }

    #[test]
    fn token_format_validation() {
        assert_eq!(validate_token_format("short"), Err(TokenError::TooShort(5)));
        let ok = "A".repeat(30) + "-_";
        assert_eq!(validate_token_format(&ok), Ok(()));
        let bad = "a".repeat(31) + "!";
        assert_eq!(
            validate_token_format(&bad),
            Err(TokenError::InvalidCharacter)
        );
        let unicode = "a".repeat(31) + "é";
        assert_eq!(
            validate_token_format(&unicode),
            Err(TokenError::InvalidCharacter)
        );
        assert!(!TokenError::TooShort(3).to_string().contains('\n'));
    }

    #[test]
    fn hash_and_match() {
        let t = generate_token();
        let h = hash_token(&t);
        assert_eq!(h.len(), 64);
        assert_eq!(h, h.to_lowercase());
        assert!(token_matches(&t, &h));
        assert!(!token_matches(&generate_token(), &h));
        assert!(!token_matches(&t, ""));
        assert!(!token_matches(&t, &h[..63]));
        // Known vector: sha256("abc").
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn record_expiry() {
        let mut r = TokenRecord {
            hash: hash_token("x"),
            worker: true,
            single_use: false,
            expires_unix_ms: None,
            created_unix_ms: 1,
        };
        assert!(!r.is_expired(u64::MAX));
        r.expires_unix_ms = Some(100);
        assert!(!r.is_expired(99));
        assert!(r.is_expired(100));
        assert!(r.is_expired(101));
    }

    #[test]
    fn join_string_roundtrip() {
        let token = generate_token();
        let s = format!("10.0.0.1:25000/{token}/{FP}");
        let j = JoinString::parse(&s).unwrap();
        assert_eq!(j.address, "10.0.0.1:25000");
        assert_eq!(j.token, token);
        assert_eq!(j.fingerprint, FP);
        assert_eq!(j.format(), s);
        assert_eq!(JoinString::parse(&j.format()).unwrap(), j);
        assert!(!format!("{j:?}").contains(&token));

        let v6 = format!("[fd00::1]:25000/{token}/{}", FP.to_uppercase());
        let j6 = JoinString::parse(&v6).unwrap();
        assert_eq!(j6.address, "[fd00::1]:25000");
        assert_eq!(j6.fingerprint, FP);

        let host = format!("node-1.example:25000/{token}/{FP}");
        assert!(JoinString::parse(&host).is_ok());
    }

    #[test]
    fn join_string_errors() {
        let token = "a".repeat(32);
        let cases: Vec<(String, TokenError)> = vec![
            (String::new(), TokenError::MalformedJoinString),
            ("10.0.0.1:25000".into(), TokenError::MalformedJoinString),
            (
                format!("10.0.0.1:25000/{token}"),
                TokenError::MalformedJoinString,
            ),
            (
                format!("10.0.0.1:25000/{token}/{FP}/x"),
                TokenError::MalformedJoinString,
            ),
            (
                format!("10.0.0.1:25000//{FP}"),
                TokenError::MalformedJoinString,
            ),
            (format!("/{token}/{FP}"), TokenError::MalformedJoinString),
            (
                format!(":25000/{token}/{FP}"),
                TokenError::MalformedJoinString,
            ),
            (
                format!("10.0.0.1/{token}/{FP}"),
                TokenError::MissingPort("10.0.0.1".into()),
            ),
            (
                format!("10.0.0.1:/{token}/{FP}"),
                TokenError::MissingPort("10.0.0.1:".into()),
            ),
            (
                format!("fd00::1/{token}/{FP}"),
                TokenError::MissingPort("fd00::1".into()),
            ),
            (
                format!("10.0.0.1:99999/{token}/{FP}"),
                TokenError::InvalidPort("10.0.0.1:99999".into()),
            ),
            (
                format!("10.0.0.1:0/{token}/{FP}"),
                TokenError::InvalidPort("10.0.0.1:0".into()),
            ),
            (
                format!("10.0.0.1:25000/{token}/abc"),
                TokenError::InvalidFingerprint,
            ),
            (
                format!("10.0.0.1:25000/{token}/{}", "g".repeat(64)),
                TokenError::InvalidFingerprint,
            ),
            (
                format!("10.0.0.1:25000/short/{FP}"),
                TokenError::InvalidJoinToken(Box::new(TokenError::TooShort(5))),
            ),
        ];
        for (input, want) in cases {
            let got = JoinString::parse(&input);
            assert_eq!(got.as_ref().err(), Some(&want), "input {input:?}");
            let msg = want.to_string();
            assert!(msg.starts_with("malformed join string"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        assert_eq!(
            TokenError::MalformedJoinString.to_string(),
            "malformed join string: expected ADDRESS:25000/TOKEN/FINGERPRINT"
        );
    }
}
