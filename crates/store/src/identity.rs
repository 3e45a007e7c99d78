//! People, their sessions and their refresh tokens, as the store hands them over and takes them.

use std::fmt;

use chrono::TimeDelta;
pub use coffre_domain::batch::SessionRefused;
use coffre_domain::batch::SessionState;
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role, User};

/// How long a session's refresh tokens stay usable after login. Rotation does not extend it:
/// one login buys this much, however often the token is refreshed.
pub const REFRESH_TOKEN_TTL: TimeDelta = TimeDelta::days(30);

/// A password hash in PHC string format (`$argon2id$v=19$...`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The SHA-256 of a refresh token: the only form in which a refresh token is stored. Never
/// printed, since a log line holding it would let a reader recognise the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub const LEN: usize = 32;

    /// The hash from its stored bytes, if there are exactly 32 of them.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A registration, its password already hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub password_hash: PasswordHash,
    pub role: Role,
}

/// What [`Store::create_user`](crate::Store::create_user) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateUser {
    Created(User),
    /// Another user has this email (emails are stored lower-cased, so this is
    /// case-insensitive).
    EmailTaken,
}

/// What a login needs to check a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub user: User,
    pub password_hash: PasswordHash,
}

/// A successful login: the session and the hash of its first refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_token_hash: TokenHash,
    /// When its refresh tokens stop working: login time plus [`REFRESH_TOKEN_TTL`].
    pub expires_at: Timestamp,
}

/// What the per-request check needs: the session's state and its user as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuth {
    pub user: User,
    pub revoked: bool,
    pub expires_at: Timestamp,
}

impl SessionAuth {
    /// The session as the domain's rule sees it.
    pub fn state(&self) -> SessionState {
        SessionState {
            user_id: self.user.id,
            role: self.user.role,
            user_disabled: self.user.disabled,
            revoked: self.revoked,
            expires_at: self.expires_at,
        }
    }

    /// The per-request rule ([`SessionState::admit`]), for a request's extractor: the user the
    /// session lets in.
    pub fn admit(
        session: Option<Self>,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<User, SessionRefused> {
        let session = session.ok_or(SessionRefused::Unknown)?;
        SessionState::admit(Some(&session.state()), user_id, now)?;
        Ok(session.user)
    }
}

/// What [`Store::rotate_refresh_token`](crate::Store::rotate_refresh_token) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The presented token is now used and the next one is live, for the same session.
    Rotated { user: User, session_id: SessionId },
    /// The presented token had already been used: its session is now revoked.
    Reused,
    /// Unknown token, or its session is revoked or expired, or its user disabled.
    Invalid,
}

/// An admin's change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

impl UserChanges {
    /// `user` as these changes leave it at `now`, or `None` if they change nothing.
    pub fn applied_to(&self, user: &User, now: Timestamp) -> Option<User> {
        let role = self.role.unwrap_or(user.role);
        let disabled = self.disabled.unwrap_or(user.disabled);
        (role != user.role || disabled != user.disabled).then(|| User {
            role,
            disabled,
            updated_at: now,
            ..user.clone()
        })
    }
}

/// What [`Store::update_user`](crate::Store::update_user) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateUser {
    /// The user as it now is (unchanged if the changes changed nothing).
    Updated(User),
    NotFound,
    /// Refused: no active admin would remain.
    LastAdmin,
}

/// What [`Store::ensure_admin`](crate::Store::ensure_admin) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureAdmin {
    Created(User),
    /// The existing user with that email, now an enabled admin with the given password.
    Promoted(User),
}

/// Why a session was revoked, as stored in `sessions.revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRevocation {
    Logout,
    RefreshTokenReused,
    UserDisabled,
    /// `coffre admin create` replaced the password: whoever held the old one is out.
    PasswordReset,
}

impl SessionRevocation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::UserDisabled => "user_disabled",
            Self::PasswordReset => "password_reset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_that_change_nothing_are_none() {
        let admin = User {
            id: UserId::new(),
            email: Email::parse("root@example.com").unwrap(),
            role: Role::Admin,
            disabled: false,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        };
        let later = Timestamp::now();
        assert_eq!(UserChanges::default().applied_to(&admin, later), None);
        let same = UserChanges {
            role: Some(Role::Admin),
            disabled: Some(false),
        };
        assert_eq!(same.applied_to(&admin, later), None);
        let demote = UserChanges {
            role: Some(Role::Manager),
            disabled: None,
        };
        let demoted = demote.applied_to(&admin, later).unwrap();
        assert_eq!((demoted.role, demoted.updated_at), (Role::Manager, later));
        assert!(admin.is_active_admin() && !demoted.is_active_admin());
    }

    #[test]
    fn secrets_are_never_printed() {
        let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
        assert_eq!(format!("{:?}", TokenHash([7; 32])), "TokenHash(..)");
    }

    #[test]
    fn token_hashes_are_exactly_32_bytes() {
        assert_eq!(TokenHash::from_slice(&[1; 32]), Some(TokenHash([1; 32])));
        assert_eq!(TokenHash::from_slice(&[1; 31]), None);
        assert_eq!(TokenHash::from_slice(&[1; 33]), None);
    }
}
