//! Simulated time: `u64` nanoseconds of true (global) time, and durations written with units.
//!
//! Durations in scenario files and flags are strings such as `"150ms"`, `"2s"`, `"1.5s"`, `"1h"`.
//! Parsing is exact (decimal arithmetic on integers), so `"0.1s"` is exactly 100 000 000 ns.

use std::fmt;

/// Nanoseconds of simulated true time since the start of the run.
pub type Time = u64;

pub const NANOS_PER_MICRO: u64 = 1_000;
pub const NANOS_PER_MILLI: u64 = 1_000_000;
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write a number with a unit, e.g. \"150ms\"")]
    Empty,
    #[error("`{0}` has no unit; add one of ns, us, ms, s, m, h (e.g. \"{0}ms\")")]
    NoUnit(String),
    #[error("unknown unit `{unit}` in `{text}`; use one of ns, us, ms, s, m, h")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is not a number followed by a unit, e.g. \"150ms\"")]
    Malformed(String),
    #[error("`{0}` is negative; durations are at least 0")]
    Negative(String),
    #[error("`{0}` is too large (the limit is about 584 years)")]
    Overflow(String),
    #[error("`{0}` is finer than a nanosecond")]
    TooPrecise(String),
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SEC,
        "m" | "min" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a duration such as `"150ms"`, `"2s"`, `"1.5s"` or `"1h"` into nanoseconds.
pub fn parse_duration(text: &str) -> Result<Time, DurationError> {
    let (neg, value) = parse_signed_duration_parts(text)?;
    if neg && value != 0 {
        return Err(DurationError::Negative(text.trim().to_string()));
    }
    Ok(value)
}

/// Parses a duration that may be negative (a clock jump backwards: `"-2s"`).
pub fn parse_signed_duration(text: &str) -> Result<i64, DurationError> {
    let (neg, value) = parse_signed_duration_parts(text)?;
    let v = i64::try_from(value).map_err(|_| DurationError::Overflow(text.trim().to_string()))?;
    Ok(if neg { -v } else { v })
}

fn parse_signed_duration_parts(text: &str) -> Result<(bool, Time), DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(DurationError::Malformed(t.to_string()));
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit(t.to_string()));
    }
    let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
        text: t.to_string(),
        unit: unit.to_string(),
    })?;
    let number: String = number.chars().filter(|&c| c != '_').collect();
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number.as_str(), ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(DurationError::Malformed(t.to_string()));
    }
    let overflow = || DurationError::Overflow(t.to_string());
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part
            .parse()
            .map_err(|_| DurationError::Malformed(t.to_string()))?
    };
    let mut total = int.checked_mul(scale as u128).ok_or_else(overflow)?;
    // Fractional digits: exact as long as the result is a whole number of nanoseconds.
    let mut place = scale as u128;
    for d in frac_part.chars() {
        let digit = d
            .to_digit(10)
            .ok_or_else(|| DurationError::Malformed(t.to_string()))? as u128;
        if !place.is_multiple_of(10) {
            if digit != 0 {
                return Err(DurationError::TooPrecise(t.to_string()));
            }
            continue;
        }
        place /= 10;
        total += digit * place;
    }
    let total = u64::try_from(total).map_err(|_| overflow())?;
    Ok((neg, total))
}

/// Formats nanoseconds compactly with the largest unit that keeps it readable:
/// `1.5s`, `150ms`, `12.345ms`, `800ns`.
pub fn format_duration(ns: Time) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let (scale, unit) = if ns >= 3600 * NANOS_PER_SEC && ns.is_multiple_of(60 * NANOS_PER_SEC) {
        if ns.is_multiple_of(3600 * NANOS_PER_SEC) {
            (3600 * NANOS_PER_SEC, "h")
        } else {
            (60 * NANOS_PER_SEC, "m")
        }
    } else if ns >= NANOS_PER_SEC {
        (NANOS_PER_SEC, "s")
    } else if ns >= NANOS_PER_MILLI {
        (NANOS_PER_MILLI, "ms")
    } else if ns >= NANOS_PER_MICRO {
        (NANOS_PER_MICRO, "us")
    } else {
        (1, "ns")
    };
    let int = ns / scale;
    let frac = ns % scale;
    if frac == 0 {
        return format!("{int}{unit}");
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}{unit}", digits.trim_end_matches('0'))
}

/// A timestamp printed for traces: always milliseconds with three decimals (`12.345ms`),
/// so columns line up.
pub struct TraceTime(pub Time);

impl fmt::Display for TraceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / NANOS_PER_MILLI;
        let us = (self.0 % NANOS_PER_MILLI) / NANOS_PER_MICRO;
        write!(f, "{ms}.{us:03}ms")
    }
}

/// Parses a rate such as `"200/s"`, `"1/10s"` or `"0.5/s"` into events per second
/// expressed as a mean interval in nanoseconds.
pub fn parse_rate_interval(text: &str) -> Result<Time, RateError> {
    let t = text.trim();
    let (count, per) = t
        .split_once('/')
        .ok_or_else(|| RateError::Malformed(t.to_string()))?;
    let count: f64 = count
        .trim()
        .parse()
        .map_err(|_| RateError::Malformed(t.to_string()))?;
    if !(count.is_finite() && count > 0.0) {
        return Err(RateError::NotPositive(t.to_string()));
    }
    let per = per.trim();
    // "200/s" means per one second: allow a bare unit.
    let per_ns = if per.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        parse_duration(per).map_err(|e| RateError::Duration(t.to_string(), e))?
    } else {
        parse_duration(&format!("1{per}")).map_err(|e| RateError::Duration(t.to_string(), e))?
    };
    if per_ns == 0 {
        return Err(RateError::NotPositive(t.to_string()));
    }
    let interval = (per_ns as f64 / count).round();
    if interval < 1.0 {
        return Err(RateError::TooFast(t.to_string()));
    }
    if interval > u64::MAX as f64 / 2.0 {
        return Err(RateError::Malformed(t.to_string()));
    }
    Ok(interval as Time)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    #[error("`{0}` is not a rate; write a count per duration, e.g. \"200/s\" or \"1/10s\"")]
    Malformed(String),
    #[error("`{0}`: the rate must be greater than zero")]
    NotPositive(String),
    #[error("`{0}`: more than one event per nanosecond")]
    TooFast(String),
    #[error("`{0}`: {1}")]
    Duration(String, DurationError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("150ms"), Ok(150 * NANOS_PER_MILLI));
        assert_eq!(parse_duration("2s"), Ok(2 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1h"), Ok(3600 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("0.1s"), Ok(100_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("3us"), Ok(3000));
        assert_eq!(parse_duration(" 10 ms "), Ok(10 * NANOS_PER_MILLI));
        assert_eq!(parse_duration("1_000ms"), Ok(NANOS_PER_SEC));
        assert_eq!(parse_signed_duration("-2s"), Ok(-2_000_000_000));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(matches!(parse_duration(""), Err(DurationError::Empty)));
        assert!(matches!(parse_duration("10"), Err(DurationError::NoUnit(_))));
        assert!(matches!(
            parse_duration("10 parsecs"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse_duration("-1s"), Err(DurationError::Negative(_))));
        assert!(matches!(
            parse_duration("1.5ns"),
            Err(DurationError::TooPrecise(_))
        ));
        assert!(matches!(parse_duration("ms"), Err(DurationError::Malformed(_))));
        assert!(matches!(
            parse_duration("1.2.3s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("99999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_round_trip() {
        for ns in [
            1,
            999,
            1000,
            1500,
            150 * NANOS_PER_MILLI,
            12_345_678,
            NANOS_PER_SEC,
            1_500_000_000,
            3600 * NANOS_PER_SEC,
            90 * 60 * NANOS_PER_SEC,
        ] {
            assert_eq!(
                parse_duration(&format_duration(ns)),
                Ok(ns),
                "{}",
                format_duration(ns)
            );
        }
        assert_eq!(format_duration(150 * NANOS_PER_MILLI), "150ms");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(TraceTime(12_345_678).to_string(), "12.345ms");
    }

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate_interval("200/s"), Ok(5 * NANOS_PER_MILLI));
        assert_eq!(parse_rate_interval("1/10s"), Ok(10 * NANOS_PER_SEC));
        assert_eq!(parse_rate_interval("0.5/s"), Ok(2 * NANOS_PER_SEC));
        assert!(parse_rate_interval("0/s").is_err());
        assert!(parse_rate_interval("fast").is_err());
    }
}

/// A duration in a protocol's parameters: written `"150ms"`, printed the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Time);

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string with a unit, e.g. \"150ms\" or \"2s\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dur, E> {
                parse_duration(s).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "durations need a unit: write \"{v}ms\" or \"{v}s\" (a string), not {v}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "durations need a unit: write \"{v}s\" (a string), not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}
