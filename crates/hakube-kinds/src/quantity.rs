//! Reading resource quantities ("100m", "1.5", "128Mi", "1G", "1e3") into integers, the way
//! the scheduler compares them and the node agent sets cgroup limits: CPU in milli-units,
//! everything else in whole units. Owns the
//! Kubernetes quantity grammar and its rounding (upwards, as `Quantity.MilliValue()` and
//! `Quantity.Value()` do), so that no caller deals with strings.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The quantity in thousandths of a unit, rounded up; `None` when the text is not a quantity.
pub fn milli_value(quantity: &Quantity) -> Option<i64> {
    parse_scaled(&quantity.0, 1000)
}

/// The quantity in whole units, rounded up; `None` when the text is not a quantity.
pub fn value(quantity: &Quantity) -> Option<i64> {
    parse_scaled(&quantity.0, 1)
}

/// A number written as `mantissa / 10^fraction_digits`.
struct Decimal {
    negative: bool,
    mantissa: i128,
    fraction_digits: u32,
}

/// A suffix's multiplier as `numerator / denominator`, both powers of 2 or 10.
struct Multiplier {
    numerator: i128,
    denominator: i128,
}

/// Parses `text` and returns it multiplied by `scale`, rounded up (towards +infinity), and
/// saturated to the i64 range: huge quantities compare as huge rather than failing.
fn parse_scaled(text: &str, scale: i128) -> Option<i64> {
    let text = text.trim();
    let number_length = text
        .find(|character: char| {
            !(character.is_ascii_digit() || matches!(character, '.' | '+' | '-'))
        })
        .unwrap_or(text.len());
    let (number_text, suffix) = text.split_at(number_length);
    let decimal = parse_decimal(number_text)?;
    let multiplier = parse_suffix(suffix)?;
    let numerator = decimal
        .mantissa
        .checked_mul(multiplier.numerator)
        .and_then(|product| product.checked_mul(scale));
    let denominator = 10_i128
        .checked_pow(decimal.fraction_digits)
        .and_then(|power| power.checked_mul(multiplier.denominator));
    let scaled = match (numerator, denominator) {
        (Some(numerator), Some(denominator)) => {
            ceiling_division(numerator, denominator, decimal.negative)
        }
        // Beyond i128 is beyond any real quantity: saturate.
        _ => i128::MAX,
    };
    let signed = if decimal.negative { -scaled } else { scaled };
    Some(i64::try_from(signed).unwrap_or(if signed < 0 { i64::MIN } else { i64::MAX }))
}

/// `numerator / denominator` of a magnitude, rounded away from the sign's floor so that the
/// signed result rounds up (negative magnitudes round down in magnitude).
fn ceiling_division(numerator: i128, denominator: i128, negative: bool) -> i128 {
    let quotient = numerator / denominator;
    if !negative && numerator % denominator != 0 {
        quotient + 1
    } else {
        quotient
    }
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    // Digits beyond 30 cannot change a result that is saturated to i64 anyway.
    let fraction = &fraction[..fraction.len().min(30)];
    let mut mantissa: i128 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .saturating_mul(10)
            .saturating_add(i128::from(byte - b'0'));
    }
    let fraction_digits = u32::try_from(fraction.len()).ok()?;
    Some(Decimal {
        negative,
        mantissa,
        fraction_digits,
    })
}

fn parse_suffix(suffix: &str) -> Option<Multiplier> {
    let binary = |power: u32| Multiplier {
        numerator: 1_i128 << power,
        denominator: 1,
    };
    let decimal = |exponent: i32| {
        let power = 10_i128.pow(exponent.unsigned_abs());
        if exponent >= 0 {
            Multiplier {
                numerator: power,
                denominator: 1,
            }
        } else {
            Multiplier {
                numerator: 1,
                denominator: power,
            }
        }
    };
    let multiplier = match suffix {
        "" => decimal(0),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        exponent_text => {
            let digits = exponent_text.strip_prefix(['e', 'E'])?;
            let exponent: i32 = digits.parse().ok()?;
            // Past 10^30 either way the result saturates or is zero; clamp to stay in i128.
            decimal(exponent.clamp(-30, 30))
        }
    };
    Some(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(text: &str) -> Option<i64> {
        milli_value(&Quantity(text.to_owned()))
    }

    fn whole(text: &str) -> Option<i64> {
        value(&Quantity(text.to_owned()))
    }

    #[test]
    fn cpu_forms_read_as_milli_units() {
        assert_eq!(milli("100m"), Some(100));
        assert_eq!(milli("1"), Some(1000));
        assert_eq!(milli("1.5"), Some(1500));
        assert_eq!(milli("0.1"), Some(100));
        assert_eq!(milli(".5"), Some(500));
        assert_eq!(milli("2k"), Some(2_000_000));
        assert_eq!(milli("1e3"), Some(1_000_000));
        assert_eq!(milli("1E-3"), Some(1));
    }

    #[test]
    fn memory_forms_read_as_bytes() {
        assert_eq!(whole("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(whole("1G"), Some(1_000_000_000));
        assert_eq!(whole("1.5Gi"), Some(1_610_612_736));
        assert_eq!(whole("1Ki"), Some(1024));
        assert_eq!(whole("110"), Some(110));
        assert_eq!(whole("1e3"), Some(1000));
    }

    #[test]
    fn fractions_round_up() {
        assert_eq!(milli("1n"), Some(1));
        assert_eq!(milli("0.0001"), Some(1));
        assert_eq!(whole("100m"), Some(1));
        assert_eq!(whole("1500m"), Some(2));
        assert_eq!(whole("-1500m"), Some(-1));
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(whole("1e40"), Some(i64::MAX));
        assert_eq!(milli("99999999999999999999E"), Some(i64::MAX));
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(milli(""), None);
        assert_eq!(milli("abc"), None);
        assert_eq!(milli("1Zi"), None);
        assert_eq!(milli("1.2.3"), None);
        assert_eq!(milli("."), None);
        assert_eq!(milli("1e"), None);
    }
}
