//! Property tests: printing and parsing money are inverses, and no input makes parsing panic.
#![allow(clippy::unwrap_used)]

use coffre_domain::money::{Amount, Currency};
use proptest::prelude::*;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "JPY", "BHD", "USD", "CLF"])
        .prop_map(|code| Currency::parse(code).unwrap())
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
        if let Ok(amount) = Amount::parse(&text, currency) {
            prop_assert!(amount.minor() > 0 && amount.minor() <= Amount::MAX_MINOR);
        }
    }

    #[test]
    fn near_miss_numbers_parse_consistently(
        currency in currency(),
        text in "-?[0-9]{0,22}(\\.[0-9]{0,5})?(e[0-9])?",
    ) {
        if let Ok(amount) = Amount::parse(&text, currency) {
            prop_assert!(amount.minor() > 0 && amount.minor() <= Amount::MAX_MINOR);
            let reprinted = amount.format(currency);
            prop_assert_eq!(Amount::parse(&reprinted, currency), Ok(amount));
        }
    }
}
