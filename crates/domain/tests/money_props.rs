//! Property tests: printing and parsing money are inverses, parsing agrees with an independent
//! model of the grammar, and no input makes it panic.
#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

use coffre_domain::money::{Amount, AmountError, Currency, SignedMinor};
use proptest::prelude::*;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "JPY", "BHD", "USD", "CLF"])
        .prop_map(|code| Currency::parse(code).unwrap())
}

/// What `Amount::parse` should answer, computed a second way: a regex-free grammar check and
/// `u128` arithmetic, wide enough for every string the near-miss strategy generates.
fn model(text: &str, currency: Currency) -> Result<i64, &'static str> {
    let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let well_formed = is_digits(whole)
        && (fraction.is_empty() || is_digits(fraction))
        && !unsigned.ends_with('.');
    if text.is_empty() {
        return Err("empty");
    }
    if !well_formed {
        return Err("not a decimal");
    }
    if sign {
        return Err("negative");
    }
    let scale = usize::try_from(currency.minor_units()).unwrap();
    if fraction.len() > scale {
        return Err("too many decimals");
    }
    let padded = format!("{whole}{fraction:0<scale$}");
    let minor: u128 = padded.parse().unwrap();
    if minor == 0 {
        Err("zero")
    } else if minor > u128::try_from(Amount::MAX_MINOR).unwrap() {
        Err("too large")
    } else {
        Ok(i64::try_from(minor).unwrap())
    }
}

fn rule(error: &AmountError) -> &'static str {
    match error {
        AmountError::Empty => "empty",
        AmountError::NotADecimal => "not a decimal",
        AmountError::Negative => "negative",
        AmountError::TooManyDecimals { .. } => "too many decimals",
        AmountError::Zero => "zero",
        AmountError::TooLarge { .. } => "too large",
    }
}

/// Whatever parses must be in range and survive a print/parse cycle unchanged.
fn assert_reprints(text: &str, currency: Currency) -> Result<(), TestCaseError> {
    if let Ok(amount) = Amount::parse(text, currency) {
        prop_assert!(amount.minor() > 0 && amount.minor() <= Amount::MAX_MINOR);
        let reprinted = amount.format(currency);
        prop_assert_eq!(Amount::parse(&reprinted, currency), Ok(amount));
    }
    Ok(())
}

proptest! {
    #[test]
    fn print_then_parse_round_trips(currency in currency(), minor in 1..=Amount::MAX_MINOR) {
        let amount = Amount::from_minor(minor).unwrap();
        let printed = amount.format(currency);
        prop_assert_eq!(Amount::parse(&printed, currency), Ok(amount));
        let fraction = printed.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        prop_assert_eq!(u32::try_from(fraction).unwrap(), currency.minor_units());
    }

    #[test]
    fn arbitrary_text_never_panics(currency in currency(), text in "\\PC*") {
        assert_reprints(&text, currency)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(currency in currency(), bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        assert_reprints(&String::from_utf8_lossy(&bytes), currency)?;
    }

    #[test]
    fn near_miss_numbers_follow_the_model(
        currency in currency(),
        text in "[-+ ]?[0-9]{0,22}(\\.[0-9]{0,5})?(e[0-9])?",
    ) {
        assert_reprints(&text, currency)?;
        let parsed = Amount::parse(&text, currency)
            .map(|amount| amount.minor())
            .map_err(|error| rule(&error));
        prop_assert_eq!(parsed, model(&text, currency));
    }

    #[test]
    fn signed_minor_prints_like_an_amount_with_a_sign(currency in currency(), minor in any::<i64>()) {
        let printed = SignedMinor::new(minor).format(currency);
        let unsigned = printed.strip_prefix('-').unwrap_or(&printed);
        prop_assert_eq!(printed.starts_with('-'), minor < 0);
        let fraction = unsigned.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        prop_assert_eq!(u32::try_from(fraction).unwrap(), currency.minor_units());
        let digits: String = unsigned.chars().filter(|c| *c != '.').collect();
        prop_assert_eq!(digits.parse::<u64>().unwrap(), minor.unsigned_abs());
        if let Ok(amount) = Amount::from_minor(minor) {
            prop_assert_eq!(printed, amount.format(currency));
        }
    }

    #[test]
    fn checked_add_stays_within_the_bound(a in 1..=Amount::MAX_MINOR, b in 1..=Amount::MAX_MINOR) {
        let sum = Amount::from_minor(a).unwrap().checked_add(Amount::from_minor(b).unwrap());
        prop_assert_eq!(sum.is_some(), a + b <= Amount::MAX_MINOR);
        if let Some(sum) = sum {
            prop_assert_eq!(sum.minor(), a + b);
        }
    }
}
