//! String formats enforced by the `format` keyword.
//!
//! The set is upstream's list of formats supported in CRDs (anything else is
//! blanked before validation, so it validates nothing). Checkers follow
//! go-openapi's strfmt registry; the few that wrap Go library parsers
//! (`email`, `uri`, `hostname`) are close approximations.

use super::pattern::Regex;

/// Format names as go-openapi normalizes them (dashes removed).
const SUPPORTED: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "quantity",
    "k8sshortname",
    "k8slongname",
];

fn normalize(format: &str) -> String {
    format.replace('-', "")
}

/// Whether upstream keeps this format on a string schema.
pub(crate) fn is_supported(format: &str) -> bool {
    SUPPORTED.contains(&normalize(format).as_str())
}

/// Whether `s` is a valid value of `format` (assumed supported).
pub(crate) fn validates(format: &str, s: &str) -> bool {
    match normalize(format).as_str() {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => s.parse::<std::net::IpAddr>().is_ok() && s.contains('.'),
        "ipv6" => s.parse::<std::net::IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some('3')),
        "uuid4" => is_uuid(s, Some('4')),
        "uuid5" => is_uuid(s, Some('5')),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => matches(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$", s),
        "hexcolor" => matches("^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", s),
        "rgbcolor" => is_rgb(s),
        "byte" => is_base64(s),
        "date" => is_date(s),
        "duration" => is_duration(s),
        "datetime" => is_date_time(s),
        "quantity" => is_quantity(s),
        "k8sshortname" => is_dns_label(s),
        "k8slongname" => s.len() <= 253 && s.split('.').all(|l| !l.is_empty() && is_dns_label(l)),
        _ => true, // "password": any string
    }
}

fn matches(pattern: &str, s: &str) -> bool {
    Regex::new(pattern).is_ok_and(|r| r.is_match(s))
}

/// `url.ParseRequestURI`: an absolute path or `scheme:` followed by anything
/// without whitespace or control characters.
fn is_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// `mail.ParseAddress`, reduced to `local@domain` optionally inside `Name <...>`.
fn is_email(s: &str) -> bool {
    let address = match (s.find('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let ok = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_whitespace() || "<>@\",;".contains(c))
    };
    ok(local) && ok(domain)
}

/// RFC 1123-style host names, labels up to 63 octets, total up to 255.
fn is_hostname(s: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    !s.is_empty() && s.len() <= 255 && s.split('.').all(label_ok)
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`/`xx-xx…`, or `xxxx.xxxx…`.
fn is_mac(s: &str) -> bool {
    let groups = |sep: char, width: usize, counts: &[usize]| {
        let parts: Vec<&str> = s.split(sep).collect();
        counts.contains(&parts.len())
            && parts
                .iter()
                .all(|p| p.len() == width && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    groups(':', 2, &[6, 8, 20]) || groups('-', 2, &[6, 8, 20]) || groups('.', 4, &[3, 4, 10])
}

/// `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?V[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$`,
/// with the version and variant constraints only for uuid3/4/5.
fn is_uuid(s: &str, version: Option<char>) -> bool {
    let mut rest = s;
    let mut groups = Vec::new();
    for (i, width) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('-').unwrap_or(rest);
        }
        let Some(group) = rest.get(..width) else {
            return false;
        };
        if !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        groups.push(group);
        rest = &rest[width..];
    }
    if !rest.is_empty() {
        return false;
    }
    let Some(version) = version else { return true };
    let variant_ok = version == '3' || groups[3].starts_with(['8', '9', 'a', 'b', 'A', 'B']);
    groups[2].starts_with(version) && variant_ok
}

fn isbn_digits(s: &str) -> Vec<char> {
    s.chars().filter(|c| *c != ' ' && *c != '-').collect()
}

fn is_isbn10(s: &str) -> bool {
    let digits = isbn_digits(s);
    if digits.len() != 10 || !digits[..9].iter().all(char::is_ascii_digit) {
        return false;
    }
    let last = match digits[9] {
        'X' => 10,
        c => match c.to_digit(10) {
            Some(d) => d,
            None => return false,
        },
    };
    let sum: u32 = digits[..9]
        .iter()
        .zip(1..)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum::<u32>()
        + last * 10;
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let digits: Vec<u32> = isbn_digits(s)
        .iter()
        .filter_map(|c| c.to_digit(10))
        .collect();
    if digits.len() != 13 || isbn_digits(s).len() != 13 {
        return false;
    }
    let sum: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    (10 - sum % 10) % 10 == digits[12]
}

/// govalidator's IsCreditCard: non-digits stripped, issuer prefix, Luhn sum.
fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let issuer = r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$";
    if !matches(issuer, &digits) {
        return false;
    }
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn is_rgb(s: &str) -> bool {
    let octet = r"(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])";
    matches(
        &format!(r"^rgb\(\s*{octet}\s*,\s*{octet}\s*,\s*{octet}\s*\)$"),
        s,
    )
}

/// `base64.StdEncoding.DecodeString`: padded standard alphabet, CR/LF ignored.
fn is_base64(s: &str) -> bool {
    let body: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !body.len().is_multiple_of(4) {
        return false;
    }
    let padding = body.iter().rev().take_while(|b| **b == b'=').count();
    let data = &body[..body.len() - padding];
    padding <= 2
        && data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// `time.Parse("2006-01-02", s)`, including day-of-month limits.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// strfmt's IsDateTime: a full date, `t`, `HH:MM:SS`, optional fraction, and
/// `z` or a `±hh:mm` offset (case-insensitive).
fn is_date_time(s: &str) -> bool {
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if s.len() < 4 || parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let time = parts[1];
    let re = r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$";
    if !matches(re, time) {
        return false;
    }
    let field = |r: std::ops::Range<usize>| time.get(r).unwrap_or("99");
    field(0..2) <= "23" && field(3..5) <= "59" && field(6..8) <= "59"
}

/// strfmt's ParseDuration: Go's `time.ParseDuration`, or any `<n> <unit>`
/// with a long-form unit such as `3 days`.
fn is_duration(s: &str) -> bool {
    is_go_duration(s) || has_worded_duration(s)
}

fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[number_len..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        let Some(unit) = unit else { return false };
        rest = &rest[unit.len()..];
        any = true;
    }
    any
}

fn has_worded_duration(s: &str) -> bool {
    const UNITS: &[&str] = &[
        "ns",
        "nano",
        "nanos",
        "nanosecond",
        "nanoseconds",
        "us",
        "µs",
        "micro",
        "micros",
        "microsecond",
        "microseconds",
        "ms",
        "milli",
        "millis",
        "millisecond",
        "milliseconds",
        "s",
        "sec",
        "secs",
        "second",
        "seconds",
        "m",
        "min",
        "mins",
        "minute",
        "minutes",
        "h",
        "hr",
        "hrs",
        "hour",
        "hours",
        "d",
        "day",
        "days",
        "w",
        "wk",
        "wks",
        "week",
        "weeks",
    ];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == 'µ') {
            i += 1;
        }
        let unit: String = chars[start..i].iter().collect::<String>().to_lowercase();
        if UNITS.contains(&unit.as_str()) {
            return true;
        }
    }
    false
}

/// Kubernetes `resource.Quantity` syntax: signed decimal plus a binary SI,
/// decimal SI or exponent suffix.
fn is_quantity(s: &str) -> bool {
    let number = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)";
    let suffix = r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?";
    matches(&format!("^{number}{suffix}$"), s)
}

/// A lower-case RFC 1123 label, at most 63 characters.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", s)
}

#[cfg(test)]
mod tests {
    use super::validates;

    #[test]
    fn common_formats() {
        assert!(validates("date-time", "2024-02-29T10:20:30Z"));
        assert!(validates("date-time", "2024-02-29t10:20:30.5+01:00"));
        assert!(!validates("date-time", "2023-02-29T10:20:30Z"));
        assert!(!validates("date-time", "2024-01-01T24:00:00Z"));
        assert!(!validates("date-time", "2024-01-01"));
        assert!(validates("date", "2024-01-31"));
        assert!(!validates("date", "2024-13-01"));
        assert!(validates("byte", "aGVsbG8="));
        assert!(!validates("byte", "aGVsbG8"));
        assert!(!validates("byte", "a*=="));
        assert!(validates("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(validates("uuid4", "123e4567-e89b-42d3-a456-426614174000"));
        assert!(!validates("uuid4", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(validates("ipv4", "10.0.0.1"));
        assert!(!validates("ipv4", "::1"));
        assert!(validates("ipv6", "::1"));
        assert!(validates("cidr", "10.0.0.0/8"));
        assert!(!validates("cidr", "10.0.0.0/33"));
        assert!(validates("mac", "00:00:5e:00:53:01"));
        assert!(validates("duration", "1h30m"));
        assert!(validates("duration", "3 days"));
        assert!(!validates("duration", "soon"));
        assert!(validates("quantity", "500Mi"));
        assert!(!validates("quantity", "5 Mi"));
        assert!(validates("hostname", "example.com"));
        assert!(!validates("hostname", "-bad.com"));
        assert!(validates("isbn10", "0321751043"));
        assert!(validates("isbn13", "978-0321751041"));
        assert!(validates("creditcard", "4111 1111 1111 1111"));
        assert!(validates("k8s-short-name", "my-name"));
        assert!(!validates("k8s-short-name", "My-name"));
    }
}
