//! Free text a client names things with (an account's name, a transfer's description): bounded,
//! non-blank and free of control characters, so it prints safely in logs and other UIs.

use std::fmt;

use serde::Serialize;

/// A string of 1 to `MAX` characters that is not only white space and holds no control
/// character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(String);

pub type AccountName = Text<100>;
pub type Description = Text<500>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty or only white space")]
    Blank,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl<const MAX: usize> Text<MAX> {
    pub fn parse(text: String) -> Result<Self, TextError> {
        if text.trim().is_empty() {
            Err(TextError::Blank)
        } else if text.chars().count() > MAX {
            Err(TextError::TooLong { max: MAX })
        } else if text.chars().any(char::is_control) {
            Err(TextError::ControlCharacter)
        } else {
            Ok(Self(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_non_blank_and_printable() {
        assert_eq!(
            AccountName::parse("Savings".into()).unwrap().as_str(),
            "Savings"
        );
        assert_eq!(AccountName::parse("  ".into()), Err(TextError::Blank));
        assert_eq!(AccountName::parse(String::new()), Err(TextError::Blank));
        assert_eq!(
            AccountName::parse("é".repeat(101)),
            Err(TextError::TooLong { max: 100 })
        );
        assert!(AccountName::parse("é".repeat(100)).is_ok());
        assert_eq!(
            Description::parse("rent\u{1b}[31m".into()),
            Err(TextError::ControlCharacter)
        );
    }
}
