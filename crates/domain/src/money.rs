//! Currencies and amounts. Money is an exact integer of the currency's minor units; it is
//! parsed from, and printed to, decimal strings at the edge, and never touches floating point.

use std::cmp::Ordering;
use std::fmt;
use std::iter;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency with a defined minor unit. Funds, metals and test codes such as XAU or
/// XXX have none, so an amount in them would have no scale; they are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    /// Read once from `iso` when parsing, so that the scale is never an `Option` afterwards.
    minor_units: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency must be a three-letter ISO 4217 code such as \"EUR\"")]
    Malformed,
    #[error(
        "currency codes are upper-case: write \"{}\", not \"{given}\"",
        given.to_ascii_uppercase()
    )]
    LowerCase { given: String },
    #[error("currency \"{0}\" is not an ISO 4217 code")]
    Unknown(String),
    #[error(
        "currency \"{0}\" has no minor unit (it is a fund, metal or test code) and cannot hold an amount"
    )]
    NoMinorUnit(&'static str),
}

impl Currency {
    /// Accepts exactly three upper-case ASCII letters naming an ISO 4217 currency that has a
    /// minor unit: "EUR", "JPY", "BHD".
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_alphabetic()) {
            return Err(CurrencyError::Malformed);
        }
        if !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
            return Err(CurrencyError::LowerCase {
                given: code.to_owned(),
            });
        }
        let iso = iso_currency::Currency::from_code(code)
            .ok_or_else(|| CurrencyError::Unknown(code.to_owned()))?;
        let minor_units = iso
            .exponent()
            .ok_or(CurrencyError::NoMinorUnit(iso.code()))?;
        Ok(Self { iso, minor_units })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for BHD.
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }

    fn scale(self) -> usize {
        usize::from(self.minor_units)
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> Ordering {
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

/// A strictly positive number of minor units, at most [`Amount::MAX_MINOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

/// Why an amount was refused; each message is a sentence an API client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must not be empty: send a decimal string such as \"12.50\"")]
    Empty,
    #[error(
        "amount must be a plain positive decimal string such as \"12.50\": digits, optionally a \
         '.' and more digits, without sign, exponent, separators or spaces"
    )]
    NotADecimal,
    #[error("{}", too_many_decimals(*currency, *max))]
    TooManyDecimals { currency: Currency, max: u32 },
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount must be positive, without a minus sign")]
    Negative,
    #[error("amount must be at most {max}")]
    TooLarge {
        /// The bound as the client should read it: "10000000000000.00 EUR".
        max: String,
    },
}

fn too_many_decimals(currency: Currency, max: u32) -> String {
    match max {
        0 => format!("{currency} amounts are whole numbers: no decimal places are allowed"),
        _ => format!("{currency} amounts have at most {max} decimal places"),
    }
}

impl Amount {
    /// 10^15 minor units: ten trillion euros, a quadrillion yen. `i64::MAX` is about 9.2 * 10^18,
    /// so more than nine thousand maximal amounts sum without overflow; balances and totals can be
    /// kept in `i64` (and PostgreSQL `BIGINT`) with room to spare, and every sum is still checked.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    pub fn from_minor(minor: i64) -> Result<Self, AmountError> {
        match minor {
            ..0 => Err(AmountError::Negative),
            0 => Err(AmountError::Zero),
            1..=Self::MAX_MINOR => Ok(Self(minor)),
            _ => Err(AmountError::TooLarge {
                max: format!("{} minor units", Self::MAX_MINOR),
            }),
        }
    }

    /// Parses a positive decimal string of at most `currency`'s scale: "12.50" or "12.5" EUR,
    /// "100" JPY. The grammar is `[0-9]+(\.[0-9]+)?` and nothing else.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, AmountError> {
        let minor = parse_minor(text, currency)?;
        Self::from_minor(minor).map_err(|error| match error {
            AmountError::TooLarge { .. } => too_large(currency),
            other => other,
        })
    }

    pub const fn minor(&self) -> i64 {
        self.0
    }

    /// At the currency's full scale: "12.50", "0.05", "100" for JPY, "1.000" for BHD.
    pub fn format(&self, currency: Currency) -> String {
        format_minor(self.0, currency)
    }

    /// `None` past [`Amount::MAX_MINOR`].
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

fn too_large(currency: Currency) -> AmountError {
    AmountError::TooLarge {
        max: format!("{} {currency}", format_minor(Amount::MAX_MINOR, currency)),
    }
}

/// Checks the grammar by hand, then reads the digits with checked arithmetic, so input of any
/// length is refused cleanly rather than overflowing.
fn parse_minor(text: &str, currency: Currency) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if let Some(unsigned) = text.strip_prefix('-') {
        // "-5.00" breaks one rule (the sign), "-abc" is simply not a number.
        return Err(match split_decimal(unsigned) {
            Some(_) => AmountError::Negative,
            None => AmountError::NotADecimal,
        });
    }
    let (whole, fraction) = split_decimal(text).ok_or(AmountError::NotADecimal)?;
    let scale = currency.scale();
    if fraction.len() > scale {
        return Err(AmountError::TooManyDecimals {
            currency,
            max: currency.minor_units(),
        });
    }
    let padding = iter::repeat_n(0, scale.saturating_sub(fraction.len()));
    whole
        .bytes()
        .chain(fraction.bytes())
        .map(|byte| byte.saturating_sub(b'0'))
        .chain(padding)
        .try_fold(0_i64, |minor, digit| {
            minor
                .checked_mul(10)
                .and_then(|shifted| shifted.checked_add(i64::from(digit)))
                .ok_or_else(|| too_large(currency))
        })
}

/// Splits `digits[.digits]` into its whole and fraction parts (the fraction empty when absent);
/// `None` for anything else.
fn split_decimal(text: &str) -> Option<(&str, &str)> {
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) if all_digits(whole) && all_digits(fraction) => {
            Some((whole, fraction))
        }
        None if all_digits(text) => Some((text, "")),
        _ => None,
    }
}

/// Prints the digits of `|minor|`, zero-padded so at least one digit precedes the point, then
/// places the point `scale` digits from the right.
fn format_minor(minor: i64, currency: Currency) -> String {
    let scale = currency.scale();
    let sign = if minor < 0 { "-" } else { "" };
    let digits = format!(
        "{:0>width$}",
        minor.unsigned_abs(),
        width = scale.saturating_add(1)
    );
    let (whole, fraction) = digits.split_at(digits.len().saturating_sub(scale));
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
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

    /// At the currency's full scale, with a leading '-' when negative: "-5.00", "0.00", "-0.05".
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

    /// Never saturates in practice: an amount is at most `MAX_MINOR`, far from `i64::MIN`.
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
    /// The currency is read first: it decides how many decimals the amount may have.
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

/// An amount as it arrives in a request body. Only a JSON string is accepted (a JSON number
/// would already have been rounded by many clients); the raw text is kept until the currency
/// that decides its scale is known.
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

const NUMBER_REFUSED: &str = "amount must be a string such as \"12.50\", not a number";

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

            fn visit_string<E: de::Error>(self, text: String) -> Result<AmountText, E> {
                Ok(AmountText(text))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_u128<E: de::Error>(self, _: u128) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_i128<E: de::Error>(self, _: i128) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<AmountText, E> {
                Err(E::custom(NUMBER_REFUSED))
            }
        }

        deserializer.deserialize_any(AmountTextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }
    fn eur() -> Currency {
        currency("EUR")
    }
    fn jpy() -> Currency {
        currency("JPY")
    }
    fn bhd() -> Currency {
        currency("BHD")
    }
    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }
    fn refusal(text: &str, currency: Currency) -> String {
        Amount::parse(text, currency).unwrap_err().to_string()
    }

    #[test]
    fn currencies_know_their_code_and_scale() {
        assert_eq!(eur().code(), "EUR");
        assert_eq!(eur().minor_units(), 2);
        assert_eq!(jpy().minor_units(), 0);
        assert_eq!(bhd().minor_units(), 3);
        assert_eq!(currency("CLF").minor_units(), 4);
        assert_eq!(eur().to_string(), "EUR");
        assert_eq!(format!("{:?}", eur()), "Currency(EUR)");
    }

    #[test]
    fn currencies_order_by_code() {
        let mut currencies = [jpy(), eur(), bhd(), currency("USD")];
        currencies.sort();
        let codes: Vec<_> = currencies.iter().map(Currency::code).collect();
        assert_eq!(codes, ["BHD", "EUR", "JPY", "USD"]);
    }

    #[test]
    fn bad_currencies_are_refused_with_their_reason() {
        for malformed in ["", "EU", "EURO", "E1R", " EUR", "EU ", "ÉUR"] {
            assert_eq!(
                Currency::parse(malformed),
                Err(CurrencyError::Malformed),
                "{malformed:?}"
            );
        }
        assert_eq!(
            Currency::parse("eur"),
            Err(CurrencyError::LowerCase {
                given: "eur".into()
            })
        );
        assert_eq!(
            Currency::parse("Eur").unwrap_err().to_string(),
            "currency codes are upper-case: write \"EUR\", not \"Eur\""
        );
        assert_eq!(
            Currency::parse("ABC"),
            Err(CurrencyError::Unknown("ABC".into()))
        );
        for no_minor_unit in ["XAU", "XXX", "XDR", "XTS"] {
            assert_eq!(
                Currency::parse(no_minor_unit),
                Err(CurrencyError::NoMinorUnit(no_minor_unit)),
            );
        }
        assert!(
            Currency::parse("XAU")
                .unwrap_err()
                .to_string()
                .contains("has no minor unit")
        );
    }

    #[test]
    fn currency_serializes_as_its_code() {
        assert_eq!(serde_json::to_string(&bhd()).unwrap(), "\"BHD\"");
        assert_eq!(serde_json::from_str::<Currency>("\"BHD\"").unwrap(), bhd());
        let error = serde_json::from_str::<Currency>("\"eur\"").unwrap_err();
        assert!(error.to_string().contains("upper-case"), "{error}");
        let error = serde_json::from_str::<Currency>("\"XAU\"").unwrap_err();
        assert!(error.to_string().contains("no minor unit"), "{error}");
        assert!(serde_json::from_str::<Currency>("978").is_err());
    }

    #[test]
    fn amounts_parse_within_the_scale() {
        let cases = [
            ("12.50", eur(), 1250),
            ("12.5", eur(), 1250),
            ("12", eur(), 1200),
            ("0.01", eur(), 1),
            ("0.05", eur(), 5),
            ("007.50", eur(), 750),
            ("100", jpy(), 100),
            ("1", jpy(), 1),
            ("1.234", bhd(), 1234),
            ("1.000", bhd(), 1000),
            ("1.2", bhd(), 1200),
            ("10000000000000.00", eur(), Amount::MAX_MINOR),
            ("1000000000000000", jpy(), Amount::MAX_MINOR),
            ("1000000000000.000", bhd(), Amount::MAX_MINOR),
        ];
        for (text, currency, minor) in cases {
            assert_eq!(
                Amount::parse(text, currency).map(|a| a.minor()),
                Ok(minor),
                "{text:?} {currency}"
            );
        }
    }

    #[test]
    fn each_rule_has_its_error() {
        let too_many = |currency: Currency| AmountError::TooManyDecimals {
            currency,
            max: currency.minor_units(),
        };
        let cases = [
            ("", eur(), AmountError::Empty),
            ("-5.00", eur(), AmountError::Negative),
            ("-1", jpy(), AmountError::Negative),
            ("-0", eur(), AmountError::Negative),
            ("-", eur(), AmountError::NotADecimal),
            ("-abc", eur(), AmountError::NotADecimal),
            ("--5", eur(), AmountError::NotADecimal),
            ("+5", eur(), AmountError::NotADecimal),
            (" 5", eur(), AmountError::NotADecimal),
            ("5 ", eur(), AmountError::NotADecimal),
            ("5\n", eur(), AmountError::NotADecimal),
            ("1e3", eur(), AmountError::NotADecimal),
            ("1E3", eur(), AmountError::NotADecimal),
            ("1.5e2", eur(), AmountError::NotADecimal),
            ("1_000", eur(), AmountError::NotADecimal),
            ("1,00", eur(), AmountError::NotADecimal),
            ("1.0.0", eur(), AmountError::NotADecimal),
            (".5", eur(), AmountError::NotADecimal),
            ("5.", eur(), AmountError::NotADecimal),
            (".", eur(), AmountError::NotADecimal),
            ("0x10", eur(), AmountError::NotADecimal),
            ("NaN", eur(), AmountError::NotADecimal),
            ("Infinity", eur(), AmountError::NotADecimal),
            ("١٢", eur(), AmountError::NotADecimal),
            ("1.001", eur(), too_many(eur())),
            ("0.001", eur(), too_many(eur())),
            ("1.5", jpy(), too_many(jpy())),
            ("100.0", jpy(), too_many(jpy())),
            ("1.0000", bhd(), too_many(bhd())),
            ("0", eur(), AmountError::Zero),
            ("0.00", eur(), AmountError::Zero),
            ("000", jpy(), AmountError::Zero),
            ("0.000", bhd(), AmountError::Zero),
        ];
        for (text, currency, expected) in cases {
            assert_eq!(
                Amount::parse(text, currency),
                Err(expected),
                "{text:?} {currency}"
            );
        }
    }

    #[test]
    fn out_of_range_is_refused_never_a_panic() {
        let over_eur = AmountError::TooLarge {
            max: "10000000000000.00 EUR".into(),
        };
        for text in [
            "10000000000000.01",
            "10000000000001",
            "92233720368547758.07",
            "92233720368547758.08",
            "99999999999999999999999999999",
            "99999999999999999999999999999.99",
        ] {
            assert_eq!(Amount::parse(text, eur()), Err(over_eur.clone()), "{text}");
        }
        let long = "9".repeat(10_000);
        assert_eq!(Amount::parse(&long, eur()), Err(over_eur));
        let padded = format!("{}1.00", "0".repeat(10_000));
        assert_eq!(Amount::parse(&padded, eur()), Ok(amount(100)));
        assert_eq!(
            Amount::parse("1000000000000001", jpy()),
            Err(AmountError::TooLarge {
                max: "1000000000000000 JPY".into()
            })
        );
    }

    #[test]
    fn messages_say_which_rule() {
        assert_eq!(
            refusal("", eur()),
            "amount must not be empty: send a decimal string such as \"12.50\""
        );
        let not_a_decimal = refusal("1e5", eur());
        for word in [
            "plain positive decimal string",
            "sign",
            "exponent",
            "spaces",
        ] {
            assert!(not_a_decimal.contains(word), "{not_a_decimal}");
        }
        assert_eq!(
            refusal("1.001", eur()),
            "EUR amounts have at most 2 decimal places"
        );
        assert_eq!(
            refusal("1.0001", bhd()),
            "BHD amounts have at most 3 decimal places"
        );
        assert_eq!(
            refusal("1.5", jpy()),
            "JPY amounts are whole numbers: no decimal places are allowed"
        );
        assert_eq!(refusal("0.00", eur()), "amount must be greater than zero");
        assert_eq!(
            refusal("-1", eur()),
            "amount must be positive, without a minus sign"
        );
        assert_eq!(
            refusal("99999999999999999999", eur()),
            "amount must be at most 10000000000000.00 EUR"
        );
        assert_eq!(
            refusal("1000000000000.0001", currency("CLF")),
            "amount must be at most 100000000000.0000 CLF"
        );
    }

    #[test]
    fn from_minor_enforces_the_same_bounds() {
        assert_eq!(Amount::from_minor(1).map(|a| a.minor()), Ok(1));
        assert_eq!(
            Amount::from_minor(Amount::MAX_MINOR).map(|a| a.minor()),
            Ok(Amount::MAX_MINOR)
        );
        assert_eq!(Amount::from_minor(0), Err(AmountError::Zero));
        assert_eq!(Amount::from_minor(-1), Err(AmountError::Negative));
        assert_eq!(Amount::from_minor(i64::MIN), Err(AmountError::Negative));
        let too_large = Amount::from_minor(Amount::MAX_MINOR + 1).unwrap_err();
        assert_eq!(
            too_large.to_string(),
            "amount must be at most 1000000000000000 minor units"
        );
        assert!(matches!(
            Amount::from_minor(i64::MAX),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn amounts_print_at_full_scale() {
        assert_eq!(amount(1250).format(eur()), "12.50");
        assert_eq!(amount(5).format(eur()), "0.05");
        assert_eq!(amount(1).format(eur()), "0.01");
        assert_eq!(amount(100).format(eur()), "1.00");
        assert_eq!(amount(100).format(jpy()), "100");
        assert_eq!(amount(1000).format(bhd()), "1.000");
        assert_eq!(amount(7).format(bhd()), "0.007");
        assert_eq!(amount(12345).format(currency("CLF")), "1.2345");
        assert_eq!(amount(Amount::MAX_MINOR).format(eur()), "10000000000000.00");
    }

    #[test]
    fn signed_minor_prints_its_sign() {
        assert_eq!(SignedMinor::new(-500).format(eur()), "-5.00");
        assert_eq!(SignedMinor::new(-5).format(eur()), "-0.05");
        assert_eq!(SignedMinor::new(5).format(eur()), "0.05");
        assert_eq!(SignedMinor::ZERO.format(eur()), "0.00");
        assert_eq!(SignedMinor::ZERO.format(jpy()), "0");
        assert_eq!(SignedMinor::ZERO.format(bhd()), "0.000");
        assert_eq!(SignedMinor::new(-100).format(jpy()), "-100");
        assert_eq!(
            SignedMinor::new(i64::MIN).format(eur()),
            "-92233720368547758.08"
        );
        assert_eq!(
            SignedMinor::new(i64::MAX).format(eur()),
            "92233720368547758.07"
        );
        assert!(SignedMinor::new(-1).is_negative());
        assert!(!SignedMinor::ZERO.is_negative());
    }

    #[test]
    fn money_parses_and_prints_both_parts() {
        let money = Money::parse("12.5", "EUR").unwrap();
        assert_eq!(money.amount.minor(), 1250);
        assert_eq!(money.currency, eur());
        assert_eq!(money.to_string(), "12.50 EUR");
        assert_eq!(Money::parse("100", "JPY").unwrap().to_string(), "100 JPY");
        assert_eq!(
            Money::parse("1.5", "JPY"),
            Err(MoneyError::Amount(AmountError::TooManyDecimals {
                currency: jpy(),
                max: 0
            }))
        );
        assert_eq!(
            Money::parse("1.50", "eur"),
            Err(MoneyError::Currency(CurrencyError::LowerCase {
                given: "eur".into()
            }))
        );
        assert_eq!(
            Money::parse("1", "EUR!").unwrap_err().to_string(),
            CurrencyError::Malformed.to_string()
        );
    }

    #[test]
    fn amount_arithmetic_is_checked() {
        let max = amount(Amount::MAX_MINOR);
        let one = amount(1);
        assert_eq!(max.checked_add(one), None);
        assert_eq!(max.checked_add(max), None);
        assert_eq!(amount(Amount::MAX_MINOR - 1).checked_add(one), Some(max));
        assert_eq!(amount(1250).checked_add(amount(5)), Some(amount(1255)));
        assert_eq!(one.checked_sub(one), None);
        assert_eq!(one.checked_sub(amount(2)), None);
        assert_eq!(max.checked_sub(one), Some(amount(Amount::MAX_MINOR - 1)));
    }

    #[test]
    fn signed_arithmetic_is_checked() {
        let one = amount(1);
        assert_eq!(-one, SignedMinor::new(-1));
        assert_eq!(
            -amount(Amount::MAX_MINOR),
            SignedMinor::new(-Amount::MAX_MINOR)
        );
        assert_eq!(SignedMinor::from(amount(500)), SignedMinor::new(500));
        assert_eq!(
            SignedMinor::new(-500).checked_add(SignedMinor::from(amount(200))),
            Some(SignedMinor::new(-300))
        );
        assert_eq!(
            SignedMinor::ZERO.checked_sub(SignedMinor::new(5)),
            Some(SignedMinor::new(-5))
        );
        assert_eq!(
            SignedMinor::new(i64::MAX).checked_add(SignedMinor::new(1)),
            None
        );
        assert_eq!(
            SignedMinor::new(i64::MIN).checked_sub(SignedMinor::new(1)),
            None
        );
    }

    #[test]
    fn amount_text_accepts_only_json_strings() {
        let text: AmountText = serde_json::from_str("\"12.50\"").unwrap();
        assert_eq!(text.as_str(), "12.50");
        assert_eq!(text.parse(eur()), Ok(amount(1250)));
        let escaped: AmountText = serde_json::from_str("\"1\\u0032\"").unwrap();
        assert_eq!(escaped.as_str(), "12");
        for number in ["12.5", "12", "-1", "1e3", "18446744073709551616"] {
            let error = serde_json::from_str::<AmountText>(number).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("amount must be a string such as \"12.50\", not a number"),
                "{number}: {error}"
            );
        }
        for other in ["null", "true", "[]", "{}"] {
            let error = serde_json::from_str::<AmountText>(other).unwrap_err();
            assert!(
                error.to_string().contains("amount as a string"),
                "{other}: {error}"
            );
        }
    }

    #[test]
    fn amount_text_keeps_the_raw_text_for_parsing_later() {
        #[derive(Deserialize)]
        struct Body {
            amount: AmountText,
            currency: Currency,
        }
        let body: Body = serde_json::from_str(r#"{"amount": "1.5", "currency": "JPY"}"#).unwrap();
        assert_eq!(
            body.amount.parse(body.currency),
            Err(AmountError::TooManyDecimals {
                currency: jpy(),
                max: 0
            })
        );
        let body: Body = serde_json::from_str(r#"{"amount": " 1", "currency": "JPY"}"#).unwrap();
        assert_eq!(
            body.amount.parse(body.currency),
            Err(AmountError::NotADecimal)
        );
    }
}
