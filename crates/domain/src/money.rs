//! Currencies and amounts. Money is an exact integer of the currency's minor units; it is
//! parsed from, and printed to, decimal strings at the edge, and never touches floating point.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency that has minor units (funds and metals such as XAU have none and are
/// refused: an amount in them has no defined scale).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    minor_units: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency must be a three-letter upper-case ISO 4217 code such as \"EUR\"")]
    Malformed,
    #[error("currency \"{0}\" is not an ISO 4217 code")]
    Unknown(String),
    #[error("currency \"{0}\" has no minor unit and cannot hold money here")]
    NoMinorUnit(String),
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        let well_formed = code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase());
        if !well_formed {
            return Err(CurrencyError::Malformed);
        }
        let iso = iso_currency::Currency::from_code(code)
            .ok_or_else(|| CurrencyError::Unknown(code.to_owned()))?;
        let minor_units = iso
            .exponent()
            .map(u32::from)
            .ok_or_else(|| CurrencyError::NoMinorUnit(code.to_owned()))?;
        Ok(Self { iso, minor_units })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for BHD.
    pub const fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(de::Error::custom)
    }
}

/// A strictly positive amount of minor units, at most [`Amount::MAX_MINOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must not be empty")]
    Empty,
    #[error("amount must be positive")]
    Negative,
    #[error(
        "amount must be a plain decimal string such as \"12.50\": digits with an optional \
         fraction, no sign, exponent, separators or spaces"
    )]
    NotADecimal,
    #[error("amount has more decimals than {currency} allows ({max})")]
    TooManyDecimals { currency: Currency, max: u32 },
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount exceeds the largest amount accepted ({max} minor units)", max = Amount::MAX_MINOR)]
    TooLarge,
}

impl Amount {
    /// 10^15 minor units (ten trillion euros). Bounding each amount this far below `i64::MAX`
    /// lets thousands of them be summed without overflow; every sum is still checked.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    pub fn from_minor(minor: i64) -> Result<Self, AmountError> {
        if minor < 0 {
            Err(AmountError::Negative)
        } else if minor == 0 {
            Err(AmountError::Zero)
        } else if minor > Self::MAX_MINOR {
            Err(AmountError::TooLarge)
        } else {
            Ok(Self(minor))
        }
    }

    /// Parses a positive decimal string of at most `currency`'s scale, e.g. "12.50" EUR.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, AmountError> {
        let minor = parse_minor(text, currency)?;
        Self::from_minor(minor)
    }

    pub const fn minor(&self) -> i64 {
        self.0
    }

    /// At the currency's full scale: "12.50", "100" for JPY.
    pub fn format(&self, currency: Currency) -> String {
        format_minor(self.0, currency)
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_add(other.0)
            .and_then(|minor| Self::from_minor(minor).ok())
    }

    /// `None` unless the result is still strictly positive.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_sub(other.0)
            .and_then(|minor| Self::from_minor(minor).ok())
    }
}

/// Reads digits into minor units with checked arithmetic, so any length of input is safe.
fn parse_minor(text: &str, currency: Currency) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') && text.len() > 1 {
        return Err(AmountError::Negative);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !fraction.is_none_or(all_digits) {
        return Err(AmountError::NotADecimal);
    }
    let fraction = fraction.unwrap_or("");
    let scale = currency.minor_units();
    let fraction_digits = u32::try_from(fraction.len()).unwrap_or(u32::MAX);
    if fraction_digits > scale {
        return Err(AmountError::TooManyDecimals {
            currency,
            max: scale,
        });
    }
    let padding = scale.saturating_sub(fraction_digits);
    let digits = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| i64::from(b.saturating_sub(b'0')))
        .chain((0..padding).map(|_| 0));
    let mut minor: i64 = 0;
    for digit in digits {
        minor = minor
            .checked_mul(10)
            .and_then(|shifted| shifted.checked_add(digit))
            .ok_or(AmountError::TooLarge)?;
    }
    Ok(minor)
}

fn format_minor(minor: i64, currency: Currency) -> String {
    // The scale of an ISO 4217 currency is at most 4, well inside Decimal's 28.
    match Decimal::try_new(minor, currency.minor_units()) {
        Ok(decimal) => decimal.to_string(),
        Err(_) => minor.to_string(),
    }
}

/// A signed number of minor units: a balance (a system account may go below zero) or one
/// ledger line ("-5.00").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SignedMinor(i64);

impl SignedMinor {
    pub const ZERO: SignedMinor = SignedMinor(0);

    pub const fn new(minor: i64) -> Self {
        Self(minor)
    }

    pub const fn minor(&self) -> i64 {
        self.0
    }

    pub const fn is_negative(&self) -> bool {
        self.0 < 0
    }

    /// At the currency's full scale, with a leading '-' when negative: "-5.00", "0.00".
    pub fn format(&self, currency: Currency) -> String {
        format_minor(self.0, currency)
    }

    pub fn checked_add(self, other: SignedMinor) -> Option<SignedMinor> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_sub(self, other: SignedMinor) -> Option<SignedMinor> {
        self.0.checked_sub(other.0).map(Self)
    }
}

impl From<Amount> for SignedMinor {
    fn from(amount: Amount) -> Self {
        Self(amount.0)
    }
}

impl std::ops::Neg for Amount {
    type Output = SignedMinor;

    /// Cannot overflow: an amount is at most `MAX_MINOR`.
    fn neg(self) -> SignedMinor {
        SignedMinor(self.0.saturating_neg())
    }
}

/// An amount together with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error(transparent)]
    Currency(#[from] CurrencyError),
    #[error(transparent)]
    Amount(#[from] AmountError),
}

impl Money {
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = Currency::parse(currency)?;
        let amount = Amount::parse(amount, currency)?;
        Ok(Self { amount, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.format(self.currency), self.currency)
    }
}

/// An amount as it arrives in a request: it must be a JSON string, and is kept raw until the
/// currency it is read in is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountText(String);

impl AmountText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(&self, currency: Currency) -> Result<Amount, AmountError> {
        Amount::parse(&self.0, currency)
    }
}

impl<'de> Deserialize<'de> for AmountText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountTextVisitor;

        impl Visitor<'_> for AmountTextVisitor {
            type Value = AmountText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("amount as a string such as \"12.50\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<AmountText, E> {
                Ok(AmountText(text.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }
        }

        deserializer.deserialize_any(AmountTextVisitor)
    }
}

const NUMBER_REFUSED: &str = "amount must be a string such as \"12.50\", not a JSON number";

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }
    fn jpy() -> Currency {
        Currency::parse("JPY").unwrap()
    }
    fn bhd() -> Currency {
        Currency::parse("BHD").unwrap()
    }

    #[test]
    fn currencies_know_their_scale() {
        assert_eq!(eur().minor_units(), 2);
        assert_eq!(jpy().minor_units(), 0);
        assert_eq!(bhd().minor_units(), 3);
        assert_eq!(eur().to_string(), "EUR");
    }

    #[test]
    fn bad_currencies_are_refused_with_their_reason() {
        assert_eq!(Currency::parse("eur"), Err(CurrencyError::Malformed));
        assert_eq!(Currency::parse("EURO"), Err(CurrencyError::Malformed));
        assert_eq!(Currency::parse(""), Err(CurrencyError::Malformed));
        assert_eq!(
            Currency::parse("ABC"),
            Err(CurrencyError::Unknown("ABC".into()))
        );
        assert_eq!(
            Currency::parse("XAU"),
            Err(CurrencyError::NoMinorUnit("XAU".into()))
        );
        let error = serde_json::from_str::<Currency>("\"eur\"").unwrap_err();
        assert!(error.to_string().contains("upper-case"), "{error}");
    }

    #[test]
    fn amounts_parse_within_the_scale() {
        assert_eq!(Amount::parse("12.50", eur()).unwrap().minor(), 1250);
        assert_eq!(Amount::parse("12.5", eur()).unwrap().minor(), 1250);
        assert_eq!(Amount::parse("12", eur()).unwrap().minor(), 1200);
        assert_eq!(Amount::parse("0.01", eur()).unwrap().minor(), 1);
        assert_eq!(Amount::parse("100", jpy()).unwrap().minor(), 100);
        assert_eq!(Amount::parse("1.234", bhd()).unwrap().minor(), 1234);
        assert_eq!(Amount::parse("007.50", eur()).unwrap().minor(), 750);
    }

    #[test]
    fn each_rule_has_its_error() {
        let cases: [(&str, Currency, AmountError); 16] = [
            ("", eur(), AmountError::Empty),
            ("-5.00", eur(), AmountError::Negative),
            ("-", eur(), AmountError::NotADecimal),
            ("+5", eur(), AmountError::NotADecimal),
            (" 5", eur(), AmountError::NotADecimal),
            ("5 ", eur(), AmountError::NotADecimal),
            ("1e3", eur(), AmountError::NotADecimal),
            ("1_000", eur(), AmountError::NotADecimal),
            ("1,00", eur(), AmountError::NotADecimal),
            (".5", eur(), AmountError::NotADecimal),
            ("5.", eur(), AmountError::NotADecimal),
            (
                "1.001",
                eur(),
                AmountError::TooManyDecimals {
                    currency: eur(),
                    max: 2,
                },
            ),
            (
                "1.5",
                jpy(),
                AmountError::TooManyDecimals {
                    currency: jpy(),
                    max: 0,
                },
            ),
            (
                "100.0",
                jpy(),
                AmountError::TooManyDecimals {
                    currency: jpy(),
                    max: 0,
                },
            ),
            ("0.00", eur(), AmountError::Zero),
            ("10000000000000.01", eur(), AmountError::TooLarge),
        ];
        for (text, currency, expected) in cases {
            assert_eq!(
                Amount::parse(text, currency),
                Err(expected),
                "{text:?} {currency}"
            );
        }
        assert_eq!(
            Amount::parse("99999999999999999999999999999", eur()),
            Err(AmountError::TooLarge)
        );
        assert!(Amount::parse("10000000000000.00", eur()).is_ok());
    }

    #[test]
    fn messages_say_which_rule() {
        let message = |text, currency| Amount::parse(text, currency).unwrap_err().to_string();
        assert!(message("1.001", eur()).contains("more decimals than EUR allows (2)"));
        assert!(message("0", eur()).contains("greater than zero"));
        assert!(message("-1", eur()).contains("positive"));
        assert!(message("1e5", eur()).contains("exponent"));
        assert!(message("99999999999999999999", eur()).contains("exceeds"));
    }

    #[test]
    fn amounts_print_at_full_scale() {
        assert_eq!(Amount::from_minor(1250).unwrap().format(eur()), "12.50");
        assert_eq!(Amount::from_minor(5).unwrap().format(eur()), "0.05");
        assert_eq!(Amount::from_minor(100).unwrap().format(jpy()), "100");
        assert_eq!(Amount::from_minor(1000).unwrap().format(bhd()), "1.000");
        assert_eq!(SignedMinor::new(-500).format(eur()), "-5.00");
        assert_eq!(SignedMinor::new(-5).format(eur()), "-0.05");
        assert_eq!(SignedMinor::ZERO.format(eur()), "0.00");
        assert_eq!(SignedMinor::ZERO.format(jpy()), "0");
        let money = Money::parse("12.5", "EUR").unwrap();
        assert_eq!(money.to_string(), "12.50 EUR");
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Amount::from_minor(Amount::MAX_MINOR).unwrap();
        let one = Amount::from_minor(1).unwrap();
        assert_eq!(max.checked_add(one), None);
        assert_eq!(one.checked_sub(one), None);
        assert_eq!(max.checked_sub(one).unwrap().minor(), Amount::MAX_MINOR - 1);
        assert_eq!(-one, SignedMinor::new(-1));
        assert_eq!(
            SignedMinor::new(i64::MAX).checked_add(SignedMinor::new(1)),
            None
        );
        assert_eq!(
            SignedMinor::new(i64::MIN).checked_sub(SignedMinor::new(1)),
            None
        );
        assert_eq!(Amount::from_minor(0), Err(AmountError::Zero));
        assert_eq!(Amount::from_minor(-1), Err(AmountError::Negative));
    }

    #[test]
    fn amount_text_accepts_only_json_strings() {
        let text: AmountText = serde_json::from_str("\"12.50\"").unwrap();
        assert_eq!(text.parse(eur()).unwrap().minor(), 1250);
        for number in ["12.5", "12", "-1", "1e3"] {
            let error = serde_json::from_str::<AmountText>(number).unwrap_err();
            assert!(
                error.to_string().contains("not a JSON number"),
                "{number}: {error}"
            );
        }
        assert!(serde_json::from_str::<AmountText>("null").is_err());
    }
}
