//! People who log in: their role, their email and their password, each parsed once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};
use validator::ValidateEmail;

use crate::ids::UserId;
use crate::time::Timestamp;

/// A person allowed to log in, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// Counts toward the admins that must remain: an admin who can still log in.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && !self.disabled
    }
}

/// `user` < `manager` < `admin`: each role can do all the one below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Manager,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::User, Self::Manager, Self::Admin]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An email address, trimmed and lower-cased, so equality is the case-insensitive comparison
/// `EMAIL_TAKEN` needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email must be at most {max} characters", max = Email::MAX_CHARS)]
    TooLong,
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_CHARS: usize = 254;

    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let normalized = text.trim().to_lowercase();
        if normalized.chars().count() > Self::MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        if !normalized.validate_email() {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed: 12 to 128 characters. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {min} characters", min = Password::MIN_CHARS)]
    TooShort,
    #[error("password must be at most {max} characters", max = Password::MAX_CHARS)]
    TooLong,
}

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(text: String) -> Result<Self, PasswordError> {
        let chars = text.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(text))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::User < Role::Manager && Role::Manager < Role::Admin);
        for role in [Role::User, Role::Manager, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(
            serde_json::to_string(&Role::Manager).unwrap(),
            "\"manager\""
        );
    }

    #[test]
    fn only_an_enabled_admin_is_an_active_admin() {
        let user = |role, disabled| User {
            id: UserId::new(),
            email: Email::parse("a@example.com").unwrap(),
            role,
            disabled,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        };
        assert!(user(Role::Admin, false).is_active_admin());
        assert!(!user(Role::Admin, true).is_active_admin());
        assert!(!user(Role::Manager, false).is_active_admin());
        assert!(!user(Role::User, true).is_active_admin());
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
        assert_eq!(email, Email::parse("alice.smith@example.com").unwrap());
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@@x.io",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn passwords_are_counted_in_characters_and_never_printed() {
        assert_eq!(
            Password::parse("a".repeat(11)),
            Err(PasswordError::TooShort)
        );
        assert!(Password::parse("a".repeat(12)).is_ok());
        assert!(Password::parse("é".repeat(128)).is_ok());
        assert_eq!(
            Password::parse("a".repeat(129)),
            Err(PasswordError::TooLong)
        );
        let password = Password::parse("correct horse battery".into()).unwrap();
        assert_eq!(format!("{password:?}"), "Password(..)");
    }
}
