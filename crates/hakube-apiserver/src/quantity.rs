//! Kubernetes resource quantities (`k8s.io/apimachinery/pkg/api/resource.Quantity`).
//!
//! Quota accounting and LimitRange defaulting need to parse strings such as
//! `"100m"`, `"1.5Gi"` or `"129e6"`, add and compare them exactly, and write
//! them back in the same canonical form the upstream API server returns.
//!
//! Upstream keeps an arbitrary-precision decimal rounded to nano-units; hakube
//! only needs milli-unit resolution (the finest unit the scheduler and quota
//! code ever look at), so a quantity is an exact `i128` count of milli-units.
//! Differences from upstream that follow from that choice:
//!
//! * parsing rounds a non-zero remainder finer than `1m` away from zero to the
//!   next milli-unit (upstream does the same at nano), so `"0.1m"` is `1m` and
//!   `"1.2345"` is `1235m` where upstream would print `1234500u`;
//! * a value beyond about ±1.7e35 units is rejected with
//!   [`QuantityError::OutOfRange`] instead of being kept as a big decimal.
//!
//! Everything else follows upstream, including its lenient scanner: a missing
//! mantissa reads as zero (`"-"`, `"."` and `"k"` all parse to 0), and a
//! binary-SI input is capped at 2^63-1 units (`"8Ei"` is 9223372036854775807).

use std::fmt;
use std::str::FromStr;

/// Why a string is not a quantity; messages match upstream's where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have the shape `<signed number><suffix>`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    /// The suffix is shaped right but is not a known unit or exponent.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The value does not fit in `i128` milli-units (hakube-specific).
    #[error("quantity is too large to represent")]
    OutOfRange,
}

/// The suffix family a quantity was written in, reused when formatting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Format {
    /// Powers of 1000: `m`, `k`, `M`, `G`, `T`, `P`, `E`.
    #[default]
    DecimalSI,
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySI,
    /// Scientific notation: `12e6`.
    DecimalExponent,
}

/// A quantity as an exact number of milli-units (so "100m" CPU and "1Gi" memory both fit; i128 avoids overflow up to exa).
///
/// The derived `Eq`/`Ord` compare the value first and the format only as a
/// tie-breaker, so `1Ki` and `1024` sort next to each other but are not `==`;
/// compare [`Quantity::milli`] when only the amount matters (as upstream's
/// `Cmp` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    milli: i128,
    format: Format,
}

/// Milli-units per unit.
const MILLI_PER_UNIT: i128 = 1000;

/// Upstream silently caps binary-SI input at `maxAllowed` (2^63-1 units); we
/// keep the cap so a round trip prints what a real API server would.
const MAX_BINARY_MILLI: i128 = i64::MAX as i128 * MILLI_PER_UNIT;

/// Letters upstream's scanner accepts in a suffix before an optional exponent.
const SUFFIX_LETTERS: &[u8] = b"eEinumkKMGTP";

/// Binary suffixes indexed by their power of 1024.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

impl Quantity {
    /// Parses upstream's quantity grammar: `[+-]digits[.digits]` followed by
    /// a decimal-SI, binary-SI or `e`/`E` exponent suffix.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        // The scanner below would read "" as zero; upstream rejects it first.
        if text.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let parts = split(text)?;
        let (multiplier, format) = interpret_suffix(parts.suffix)?;
        let magnitude = match multiplier {
            Multiplier::Decimal(exponent) => {
                scale_decimal(parts.integer, parts.fraction, exponent)?
            }
            Multiplier::Binary(power) => scale_binary(parts.integer, parts.fraction, power)?,
        };
        let (magnitude, format) = adjust_binary(magnitude, format);
        let milli = if parts.negative {
            -magnitude
        } else {
            magnitude
        };
        Ok(Quantity { milli, format })
    }

    /// Builds a quantity from an exact milli-unit count.
    pub fn from_milli(milli: i128, format: Format) -> Quantity {
        Quantity { milli, format }
    }

    /// The exact value in milli-units.
    pub fn milli(&self) -> i128 {
        self.milli
    }

    /// The suffix family used when formatting.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero, whatever its format.
    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }

    /// Sum, keeping `self`'s format unless `self` is zero (as upstream's Add).
    ///
    /// Saturates rather than panicking: quota sums must never take the server
    /// down, and i128 milli-units reach ~1.7e35 units, far past any real total.
    #[expect(
        clippy::should_implement_trait,
        reason = "hakube's API names these inherent methods; operators would add a second spelling"
    )]
    pub fn add(self, other: Quantity) -> Quantity {
        Quantity {
            milli: self.milli.saturating_add(other.milli),
            format: self.result_format(other),
        }
    }

    /// Difference, with the same format and saturation rules as [`Quantity::add`].
    #[expect(clippy::should_implement_trait, reason = "see `add`")]
    pub fn sub(self, other: Quantity) -> Quantity {
        Quantity {
            milli: self.milli.saturating_sub(other.milli),
            format: self.result_format(other),
        }
    }

    /// Canonical form like upstream's String(): BinarySI uses the largest exact binary suffix ("1Gi", "1536Mi", "500m" when fractional), DecimalSI the largest exact decimal suffix ("100m", "1", "2k", "1500M"), DecimalExponent "1e3".
    pub fn to_canonical_string(&self) -> String {
        if self.milli == 0 {
            return "0".to_owned();
        }
        match self.display_format() {
            Format::BinarySI => binary_string(self.milli / MILLI_PER_UNIT),
            format => decimal_string(self.milli, format),
        }
    }

    /// Upstream lets a zero left operand adopt the other operand's format.
    fn result_format(self, other: Quantity) -> Format {
        if self.is_zero() {
            other.format
        } else {
            self.format
        }
    }

    /// Binary suffixes cannot show fractions, and upstream prints values
    /// under 1Ki as plain decimals to avoid confusing output like "1000".
    fn display_format(&self) -> Format {
        let too_small = self.milli.unsigned_abs() < 1024 * MILLI_PER_UNIT.unsigned_abs();
        let fractional = self.milli % MILLI_PER_UNIT != 0;
        match self.format {
            Format::BinarySI if too_small || fractional => Format::DecimalSI,
            format => format,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical_string())
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(text)
    }
}

/// Parses a JSON value that holds a quantity (a string, or a number as some clients send), for convenience.
///
/// Like upstream's UnmarshalJSON, surrounding whitespace in a string is
/// ignored and a bare number is read through its textual form.
pub fn from_json<J: crate::tree::Json>(value: &J) -> Option<Quantity> {
    if let Some(text) = value.as_str() {
        return Quantity::parse(text.trim()).ok();
    }
    Quantity::parse(&value.as_number()?.to_string()).ok()
}

/// A quantity string cut into sign, mantissa digits and suffix.
struct Parts<'a> {
    negative: bool,
    integer: &'a [u8],
    fraction: &'a [u8],
    suffix: &'a str,
}

/// How a suffix scales the mantissa.
enum Multiplier {
    /// Times 10^exponent.
    Decimal(i64),
    /// Times 1024^power.
    Binary(u32),
}

/// Splits like upstream's scanner, which (unlike its documented regex)
/// tolerates an empty mantissa; the suffix is only checked for shape here.
fn split(text: &str) -> Result<Parts<'_>, QuantityError> {
    let bytes = text.as_bytes();
    let (negative, start) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let integer_end = scan_digits(bytes, start);
    let (fraction, number_end) = if bytes.get(integer_end) == Some(&b'.') {
        let fraction_end = scan_digits(bytes, integer_end + 1);
        (&bytes[integer_end + 1..fraction_end], fraction_end)
    } else {
        (&bytes[integer_end..integer_end], integer_end)
    };
    // Everything scanned so far is ASCII, so this index is a char boundary.
    let suffix = &text[number_end..];
    if !is_suffix_shaped(suffix.as_bytes()) {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Parts {
        negative,
        integer: &bytes[start..integer_end],
        fraction,
        suffix,
    })
}

/// Index just past the run of ASCII digits starting at `from`.
fn scan_digits(bytes: &[u8], from: usize) -> usize {
    from + bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// Suffix letters, then an optional sign, then digits, then the end.
fn is_suffix_shaped(suffix: &[u8]) -> bool {
    let letters = suffix
        .iter()
        .take_while(|b| SUFFIX_LETTERS.contains(b))
        .count();
    let rest = match &suffix[letters..] {
        [b'+' | b'-', tail @ ..] => tail,
        rest => rest,
    };
    rest.iter().all(u8::is_ascii_digit)
}

/// Maps a suffix to its multiplier and the format it implies.
fn interpret_suffix(suffix: &str) -> Result<(Multiplier, Format), QuantityError> {
    if let Some(exponent) = decimal_si_exponent(suffix) {
        return Ok((Multiplier::Decimal(exponent), Format::DecimalSI));
    }
    if let Some(power) = BINARY_SUFFIXES.iter().skip(1).position(|s| *s == suffix) {
        // position() is at most 5 here, so the cast cannot truncate.
        return Ok((Multiplier::Binary(power as u32 + 1), Format::BinarySI));
    }
    // Upstream requires at least one character after the 'e'; a bare "E" is exa.
    match suffix.as_bytes() {
        [b'e' | b'E', _, ..] => suffix[1..]
            .parse::<i64>()
            .map(|exponent| (Multiplier::Decimal(exponent), Format::DecimalExponent))
            .map_err(|_| QuantityError::Suffix),
        _ => Err(QuantityError::Suffix),
    }
}

/// Power of ten for a decimal-SI suffix.
fn decimal_si_exponent(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "" => 0,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => return None,
    })
}

/// Decimal-SI suffix for a power of ten that is a multiple of three.
fn decimal_si_suffix(exponent: i64) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// `integer.fraction × 10^exponent` in milli-units, rounded up in magnitude.
///
/// Works on the digit string so long inputs such as "0.000…1" or
/// "1.000…0" never need more than i128 for the digits that matter.
fn scale_decimal(integer: &[u8], fraction: &[u8], exponent: i64) -> Result<i128, QuantityError> {
    // Position of the milli-unit point within integer ++ fraction.
    let point = integer.len() as i128 + i128::from(exponent) + 3;
    let mut milli: i128 = 0;
    let mut remainder = false;
    for (index, digit) in integer.iter().chain(fraction).enumerate() {
        if (index as i128) < point {
            milli = push_digit(milli, *digit)?;
        } else {
            remainder |= *digit != b'0';
        }
    }
    let digits = (integer.len() + fraction.len()) as i128;
    milli = times_pow10(milli, point - digits)?;
    round_up(milli, remainder)
}

/// `integer.fraction × 1024^power` in milli-units, rounded up in magnitude.
fn scale_binary(integer: &[u8], fraction: &[u8], power: u32) -> Result<i128, QuantityError> {
    // At most 1000 × 2^60 ≈ 1.2e21, comfortably inside i128.
    let per_unit = MILLI_PER_UNIT << (10 * power);
    let whole = integer
        .iter()
        .try_fold(0, |acc, digit| push_digit(acc, *digit))?
        .checked_mul(per_unit)
        .ok_or(QuantityError::OutOfRange)?;
    let (part, remainder) = fraction_times(fraction, per_unit);
    let milli = whole.checked_add(part).ok_or(QuantityError::OutOfRange)?;
    round_up(milli, remainder)
}

/// `floor(0.fraction × factor)` and whether anything was lost.
///
/// Evaluates 0.d1d2…dn as (d1 + (d2 + …)/10)/10 from the last digit back;
/// nested floor divisions equal the floor of the whole, and every
/// intermediate stays below 11 × factor, so nothing can overflow.
fn fraction_times(fraction: &[u8], factor: i128) -> (i128, bool) {
    fraction
        .iter()
        .rev()
        .fold((0, false), |(acc, lost), digit| {
            let total = i128::from(*digit - b'0') * factor + acc;
            (total / 10, lost || total % 10 != 0)
        })
}

/// Appends one ASCII decimal digit to `value`.
fn push_digit(value: i128, digit: u8) -> Result<i128, QuantityError> {
    value
        .checked_mul(10)
        .and_then(|v| v.checked_add(i128::from(digit - b'0')))
        .ok_or(QuantityError::OutOfRange)
}

/// `value × 10^shift` for a non-negative shift; zero stays zero however far
/// it is shifted, which keeps inputs like "0e999999" valid.
fn times_pow10(value: i128, shift: i128) -> Result<i128, QuantityError> {
    if value == 0 || shift <= 0 {
        return Ok(value);
    }
    u32::try_from(shift)
        .ok()
        .and_then(|shift| 10_i128.checked_pow(shift))
        .and_then(|factor| value.checked_mul(factor))
        .ok_or(QuantityError::OutOfRange)
}

/// Asking for any amount of a resource should grant some, so a dropped
/// non-zero remainder bumps the magnitude to the next milli-unit.
fn round_up(milli: i128, remainder: bool) -> Result<i128, QuantityError> {
    milli
        .checked_add(i128::from(remainder))
        .ok_or(QuantityError::OutOfRange)
}

/// Upstream's parse-time binary-SI rules: cap at 2^63-1 units, and demote a
/// value strictly between 0 and 1 to decimal so it is not shown as a fraction.
fn adjust_binary(magnitude: i128, format: Format) -> (i128, Format) {
    if format != Format::BinarySI {
        return (magnitude, format);
    }
    let capped = magnitude.min(MAX_BINARY_MILLI);
    if capped > 0 && capped < MILLI_PER_UNIT {
        (capped, Format::DecimalSI)
    } else {
        (capped, format)
    }
}

/// Whole units as `<mantissa><Ki…Ei>` with the largest exact suffix.
fn binary_string(units: i128) -> String {
    let mut mantissa = units;
    let mut power = 0;
    while power + 1 < BINARY_SUFFIXES.len() && mantissa != 0 && mantissa % 1024 == 0 {
        mantissa /= 1024;
        power += 1;
    }
    format!("{mantissa}{}", BINARY_SUFFIXES[power])
}

/// Milli-units as an integer mantissa with a power-of-1000 exponent, spelled
/// as an SI suffix when one exists and as `e<n>` otherwise.
fn decimal_string(milli: i128, format: Format) -> String {
    let (mantissa, exponent) = decimal_parts(milli);
    let si = match format {
        Format::DecimalSI => decimal_si_suffix(exponent),
        _ => None,
    };
    match (si, exponent) {
        (Some(suffix), _) => format!("{mantissa}{suffix}"),
        (None, 0) => mantissa.to_string(),
        (None, _) => format!("{mantissa}e{exponent}"),
    }
}

/// Splits milli-units into `mantissa × 10^exponent` with the exponent the
/// largest multiple of three that keeps the mantissa an integer.
fn decimal_parts(milli: i128) -> (i128, i64) {
    let mut mantissa = milli;
    let mut exponent: i64 = -3;
    while mantissa != 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    // Only restores zeros removed above (the exponent never drops below the
    // starting -3), so the multiplication cannot overflow.
    while exponent.rem_euclid(3) != 0 {
        mantissa *= 10;
        exponent -= 1;
    }
    (mantissa, exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KI: i128 = 1024;
    const MI: i128 = KI * 1024;
    const GI: i128 = MI * 1024;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn parse_and_canonical_table() {
        let cases: &[(&str, i128, &str)] = &[
            ("0", 0, "0"),
            ("1", 1000, "1"),
            ("100m", 100, "100m"),
            ("0.5", 500, "500m"),
            ("1.5", 1500, "1500m"),
            ("2k", 2_000_000, "2k"),
            ("1Gi", GI * 1000, "1Gi"),
            ("1536Mi", 1536 * MI * 1000, "1536Mi"),
            ("1.5Gi", 1536 * MI * 1000, "1536Mi"),
            ("128974848", 128_974_848_000, "128974848"),
            ("129e6", 129_000_000_000, "129e6"),
            ("129M", 129_000_000_000, "129M"),
            ("123Mi", 123 * MI * 1000, "123Mi"),
            ("1e3", 1_000_000, "1e3"),
            ("-1", -1000, "-1"),
            ("0.1m", 1, "1m"),
            ("+5", 5000, "5"),
            // Decimal: largest suffix that keeps an integer mantissa.
            ("1000", 1_000_000, "1k"),
            ("1.5G", 1_500_000_000_000, "1500M"),
            ("1.G", 1_000_000_000_000, "1G"),
            (".5", 500, "500m"),
            ("12E", 12_000_000_000_000_000_000_000, "12E"),
            ("1000E", 10_i128.pow(24), "1e21"),
            ("0.001", 1, "1m"),
            ("1.2345", 1235, "1235m"),
            ("100n", 1, "1m"),
            ("10u", 1, "1m"),
            ("-0.1m", -1, "-1m"),
            ("-1.5", -1500, "-1500m"),
            ("-0", 0, "0"),
            ("007", 7000, "7"),
            // Exponent notation keeps its family.
            ("1e-1", 100, "100e-3"),
            ("5e+3", 5_000_000, "5e3"),
            ("1E3", 1_000_000, "1e3"),
            ("1e0", 1000, "1"),
            ("12e4", 120_000_000, "120e3"),
            ("1e-400", 1, "1e-3"),
            ("0e999999999", 0, "0"),
            // Binary: below 1Ki or fractional units fall back to decimal.
            ("1Ki", KI * 1000, "1Ki"),
            ("1024Mi", GI * 1000, "1Gi"),
            ("1000Mi", 1000 * MI * 1000, "1000Mi"),
            ("0.5Ki", 512_000, "512"),
            ("1.5Ki", 1_536_000, "1536"),
            ("-1.5Gi", -1536 * MI * 1000, "-1536Mi"),
            ("1.0005Ki", 1_024_512, "1024512m"),
            ("8Ei", i64::MAX as i128 * 1000, "9223372036854775807"),
            ("0Ki", 0, "0"),
            // Upstream's scanner tolerates an empty mantissa.
            ("-", 0, "0"),
            (".", 0, "0"),
            ("k", 0, "0"),
        ];
        for &(text, milli, canonical) in cases {
            let parsed = q(text);
            assert_eq!(parsed.milli(), milli, "milli of {text:?}");
            assert_eq!(
                parsed.to_canonical_string(),
                canonical,
                "string of {text:?}"
            );
            assert_eq!(parsed.to_string(), canonical, "Display of {text:?}");
            // The canonical form must read back to the same value.
            assert_eq!(q(canonical).milli(), milli, "round trip of {text:?}");
        }
    }

    #[test]
    fn formats_follow_suffix_family() {
        assert_eq!(q("1Gi").format(), Format::BinarySI);
        assert_eq!(q("1G").format(), Format::DecimalSI);
        assert_eq!(q("1e9").format(), Format::DecimalExponent);
        assert_eq!(q("1E").format(), Format::DecimalSI);
        // A binary value below one unit is demoted at parse time, like upstream.
        assert_eq!(q("0.0000001Ki").format(), Format::DecimalSI);
        assert_eq!(q("0.0000001Ki").milli(), 1);
    }

    #[test]
    fn from_milli_formats() {
        let cases = [
            (1500, Format::DecimalSI, "1500m"),
            (1_500_000, Format::DecimalSI, "1500"),
            (2 * GI * 1000, Format::BinarySI, "2Gi"),
            (500, Format::BinarySI, "500m"),
            (1_536_000, Format::DecimalExponent, "1536"),
            (-3_000_000, Format::DecimalExponent, "-3e3"),
            (
                1024 * KI * KI * KI * KI * KI * KI * 1000,
                Format::BinarySI,
                "1024Ei",
            ),
            (0, Format::BinarySI, "0"),
            (
                i128::MIN,
                Format::BinarySI,
                "-170141183460469231731687303715884105728m",
            ),
        ];
        for (milli, format, canonical) in cases {
            let quantity = Quantity::from_milli(milli, format);
            assert_eq!(
                quantity.to_canonical_string(),
                canonical,
                "{milli} {format:?}"
            );
        }
    }

    #[test]
    fn add_and_sub() {
        let sum = q("1Gi").add(q("512Mi"));
        assert_eq!(sum.to_string(), "1536Mi");
        assert_eq!(sum.format(), Format::BinarySI);

        let cpu = q("1").add(q("500m"));
        assert_eq!(cpu.milli(), 1500);
        assert_eq!(cpu.to_string(), "1500m");

        // A zero left operand adopts the other operand's format.
        let from_zero = Quantity::default().add(q("1Ki"));
        assert_eq!(from_zero.format(), Format::BinarySI);
        assert_eq!(from_zero.to_string(), "1Ki");
        assert_eq!(q("0").sub(q("1Ki")).to_string(), "-1Ki");

        // Otherwise the left operand's format wins.
        assert_eq!(q("1k").add(q("24")).to_string(), "1024");
        assert_eq!(q("2Gi").sub(q("1Gi")).to_string(), "1Gi");
        assert_eq!(q("100m").sub(q("250m")).to_string(), "-150m");
        assert!(q("1Gi").sub(q("1024Mi")).is_zero());

        // Saturates instead of overflowing.
        let max = Quantity::from_milli(i128::MAX, Format::DecimalSI);
        assert_eq!(max.add(q("1")).milli(), i128::MAX);
        let min = Quantity::from_milli(i128::MIN, Format::DecimalSI);
        assert_eq!(min.sub(q("1")).milli(), i128::MIN);
    }

    #[test]
    fn ordering_is_by_value() {
        let mut values = [q("1Gi"), q("100m"), q("-1"), q("2k"), q("0"), q("1")];
        values.sort();
        let sorted: Vec<String> = values.iter().map(Quantity::to_string).collect();
        assert_eq!(sorted, ["-1", "0", "100m", "1", "2k", "1Gi"]);
        assert!(q("1.5Gi") > q("1Gi"));
        assert!(q("999Mi") < q("1Gi"));
        assert!(q("1m") > q("0"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        // Same amount, different family: equal by value only.
        assert_eq!(q("1Ki").milli(), q("1024").milli());
        assert_ne!(q("1Ki"), q("1024"));
    }

    #[test]
    fn errors() {
        let cases = [
            ("", QuantityError::FormatWrong),
            ("abc", QuantityError::FormatWrong),
            ("1.2.3", QuantityError::FormatWrong),
            ("5Q", QuantityError::FormatWrong),
            (" 1", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1e3e", QuantityError::FormatWrong),
            ("1KI", QuantityError::FormatWrong),
            ("--1", QuantityError::Suffix),
            ("1Ki-", QuantityError::Suffix),
            ("5i", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1e+", QuantityError::Suffix),
            ("1Ki3", QuantityError::Suffix),
            ("1ee3", QuantityError::Suffix),
            ("1e99999999999999999999", QuantityError::Suffix),
            ("1e40", QuantityError::OutOfRange),
            (
                "1000000000000000000000000000000000000000",
                QuantityError::OutOfRange,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Quantity::parse(text), Err(expected), "{text:?}");
            assert_eq!(text.parse::<Quantity>(), Err(expected), "FromStr {text:?}");
        }
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            QuantityError::Suffix.to_string(),
            "unable to parse quantity's suffix"
        );
    }

    #[test]
    fn long_inputs_stay_exact() {
        let many_zeros = format!("1.{}Gi", "0".repeat(100));
        assert_eq!(q(&many_zeros).to_string(), "1Gi");
        let tiny = format!("0.{}1", "0".repeat(100));
        assert_eq!(q(&tiny).milli(), 1);
        let tiny_binary = format!("1.{}1Ei", "0".repeat(60));
        assert_eq!(q(&tiny_binary).milli(), KI.pow(6) * 1000 + 1);
    }

    #[test]
    fn json_values() {
        use serde_json::json;
        let cases = [
            (json!("500m"), Some(500)),
            (json!(" 1Gi "), Some(GI * 1000)),
            (json!(2), Some(2000)),
            (json!(-3), Some(-3000)),
            (json!(0.5), Some(500)),
            (json!(1e3), Some(1_000_000)),
            (json!("nope"), None),
            (json!(null), None),
            (json!(true), None),
            (json!(["1"]), None),
        ];
        for (value, expected) in cases {
            assert_eq!(from_json(&value).map(|q| q.milli()), expected, "{value}");
        }
    }
}
