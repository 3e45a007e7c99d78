//! Access tokens (HS256 JWTs) and refresh tokens (opaque random strings stored only as a hash).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::user::Role;
use coffre_store::TokenHash;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::JwtSecret;

/// The `iss` every token carries and every check demands.
pub const ISSUER: &str = "coffre";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 30;
/// Refresh tokens carry 256 random bits.
const REFRESH_TOKEN_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sid: SessionId,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
}

/// What a valid access token says. The role in it is informational: every request reads the
/// current role from the database, so a demotion bites before the token expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// Why an access token was refused; the two map to `INVALID_TOKEN` and `TOKEN_EXPIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is not valid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

/// The JWT library refused the key or failed to sign; neither depends on the client's input.
#[derive(Debug, thiserror::Error)]
#[error("the access token key or signature failed")]
pub struct CryptoFailed;

/// Signs and checks access tokens with one key.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    pub fn new(secret: &JwtSecret, ttl_secs: u64) -> Result<Self, CryptoFailed> {
        // Only HS256 is accepted: a token naming any other algorithm (none, HS512, RS256 with
        // our key as a "public key") is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()).map_err(|_| CryptoFailed)?,
            decoding: DecodingKey::from_secret(secret.as_bytes()).map_err(|_| CryptoFailed)?,
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        })
    }

    /// A token for this session, valid from `now` (Unix seconds) for the configured lifetime.
    pub fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        role: Role,
        now: i64,
    ) -> Result<String, CryptoFailed> {
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            role: role.as_str().to_owned(),
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            iss: ISSUER.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| CryptoFailed)
    }

    /// Beyond the signature, `exp`, `nbf` and `iss` (checked by the library), a token must
    /// not claim to be issued in the future, nor to live longer than this server issues
    /// tokens for: a correctly signed token that does either was not made by `issue` (a
    /// leaked key, or a clock gone wrong), and must not open a door for centuries.
    pub fn check(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                return Err(TokenError::Expired);
            }
            Err(_) => return Err(TokenError::Invalid),
        };
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(i64::MAX);
        if claims.iat > chrono::Utc::now().timestamp().saturating_add(leeway) {
            return Err(TokenError::Invalid);
        }
        match claims.exp.checked_sub(claims.iat) {
            Some(lifetime) if lifetime <= self.ttl_secs => Ok(AccessClaims {
                user_id: claims.sub,
                session_id: claims.sid,
            }),
            _ => Err(TokenError::Invalid),
        }
    }
}

/// A fresh refresh token: the string handed to the client once, and the hash that is stored.
pub fn new_refresh_token() -> (String, TokenHash) {
    let bytes: [u8; REFRESH_TOKEN_BYTES] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// The stored form of a refresh token as a client presents it. Looking the hash up by equality
/// leaks nothing useful through timing: an attacker controls the input, not its digest.
pub fn refresh_token_hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";

    fn tokens() -> AccessTokens {
        AccessTokens::new(&JwtSecret::new(SECRET.to_vec()).unwrap(), 900).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(alg: Algorithm, key: &[u8], claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(key).unwrap(),
        )
        .unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        let now = now();
        json!({
            "sub": UserId::new(), "sid": SessionId::new(), "role": "user",
            "iat": now, "exp": now + 900, "iss": "coffre",
        })
    }

    #[test]
    fn an_issued_token_checks_and_names_its_user_and_session() {
        let tokens = tokens();
        let (user, session) = (UserId::new(), SessionId::new());
        let token = tokens.issue(user, session, Role::Admin, now()).unwrap();
        assert_eq!(
            tokens.check(&token),
            Ok(AccessClaims {
                user_id: user,
                session_id: session
            })
        );
    }

    #[test]
    fn a_token_past_exp_plus_leeway_is_expired_and_one_within_it_is_not() {
        let tokens = tokens();
        let old = tokens
            .issue(
                UserId::new(),
                SessionId::new(),
                Role::User,
                now() - 900 - 31,
            )
            .unwrap();
        assert_eq!(tokens.check(&old), Err(TokenError::Expired));
        let recent = tokens
            .issue(
                UserId::new(),
                SessionId::new(),
                Role::User,
                now() - 900 - 20,
            )
            .unwrap();
        assert!(tokens.check(&recent).is_ok());
    }

    #[test]
    fn another_key_another_algorithm_or_no_signature_is_refused() {
        let tokens = tokens();
        let claims = valid_claims();
        assert!(
            tokens
                .check(&sign(Algorithm::HS256, SECRET, &claims))
                .is_ok()
        );
        let foreign = sign(
            Algorithm::HS256,
            b"another-key-another-key-another-key!",
            &claims,
        );
        assert_eq!(tokens.check(&foreign), Err(TokenError::Invalid));
        let hs512 = sign(Algorithm::HS512, SECRET, &claims);
        assert_eq!(tokens.check(&hs512), Err(TokenError::Invalid));

        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(
            tokens.check(&format!("{header}.{body}.")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let tokens = tokens();
        let token = tokens
            .issue(UserId::new(), SessionId::new(), Role::User, now())
            .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut claims = valid_claims();
        claims["role"] = json!("admin");
        let forged_body = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts[1] = &forged_body;
        assert_eq!(tokens.check(&parts.join(".")), Err(TokenError::Invalid));
    }

    #[test]
    fn missing_or_mistyped_required_claims_are_refused() {
        let tokens = tokens();
        for claim in ["exp", "iss", "sub"] {
            let mut claims = valid_claims();
            claims.as_object_mut().unwrap().remove(claim);
            let token = sign(Algorithm::HS256, SECRET, &claims);
            assert_eq!(tokens.check(&token), Err(TokenError::Invalid), "{claim}");
        }
        let mut string_exp = valid_claims();
        string_exp["exp"] = json!((now() + 900).to_string());
        let token = sign(Algorithm::HS256, SECRET, &string_exp);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));

        let mut other_issuer = valid_claims();
        other_issuer["iss"] = json!("someone-else");
        let token = sign(Algorithm::HS256, SECRET, &other_issuer);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_not_yet_valid_issued_in_the_future_or_living_too_long_is_refused() {
        let tokens = tokens();
        let now = now();
        let mut not_yet = valid_claims();
        not_yet["nbf"] = json!(now + 3_600);
        let token = sign(Algorithm::HS256, SECRET, &not_yet);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));
        let mut started = valid_claims();
        started["nbf"] = json!(now - 10);
        started["iat"] = json!(now);
        started["exp"] = json!(now + 900);
        assert!(
            tokens
                .check(&sign(Algorithm::HS256, SECRET, &started))
                .is_ok()
        );

        let mut future = valid_claims();
        future["iat"] = json!(now + 3_600);
        future["exp"] = json!(now + 3_600 + 900);
        let token = sign(Algorithm::HS256, SECRET, &future);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));
        // Within the clock-skew leeway, a slightly fast issuer is fine.
        let mut skewed = valid_claims();
        skewed["iat"] = json!(now + 5);
        skewed["exp"] = json!(now + 5 + 900);
        assert!(
            tokens
                .check(&sign(Algorithm::HS256, SECRET, &skewed))
                .is_ok()
        );

        let mut centuries = valid_claims();
        centuries["exp"] = json!(now + 300 * 365 * 24 * 3_600);
        let token = sign(Algorithm::HS256, SECRET, &centuries);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));
        let mut one_second_too_long = valid_claims();
        one_second_too_long["iat"] = json!(now);
        one_second_too_long["exp"] = json!(now + 901);
        let token = sign(Algorithm::HS256, SECRET, &one_second_too_long);
        assert_eq!(tokens.check(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_256_random_bits_and_stored_only_as_their_hash() {
        let (first, first_hash) = new_refresh_token();
        let (second, _) = new_refresh_token();
        assert_ne!(first, second);
        assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 32);
        // What is stored is the SHA-256 of the string the client holds, never the string.
        let digest: [u8; 32] = Sha256::digest(first.as_bytes()).into();
        assert_eq!(first_hash.0, digest);
        assert_eq!(refresh_token_hash(&first), first_hash);
    }
}
