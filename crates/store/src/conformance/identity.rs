//! Conformance cases for users, sessions, refresh tokens, login throttling and the last-admin
//! guard.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use coffre_domain::audit::{AuditAction, AuditContext, AuditEvent, ResourceType};
use coffre_domain::ids::{SessionId, UserId};
use coffre_domain::throttle::{LoginKeys, ThrottlePolicy};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role};
use futures_util::future::{join, join_all};
use serde_json::json;

use super::list_all;
use crate::{
    AuditFilter, CreateUser, EnsureAdmin, NewSession, NewUser, PURGE_BATCH_ROWS, PageLimit,
    PasswordHash, PurgedLogins, REFRESH_TOKEN_TTL, RefreshOutcome, Store, TokenHash, UpdateUser,
    User, UserChanges,
};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";
const IP: &str = "203.0.113.7";

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn hash_of(text: &str) -> PasswordHash {
    PasswordHash::new(format!("{HASH}{text}"))
}

fn as_actor(actor: UserId) -> AuditContext {
    AuditContext {
        actor_id: Some(actor),
        ip_address: Some(IP.into()),
        user_agent: Some("conformance/1.0".into()),
        request_id: Some("req-identity".into()),
    }
}

fn anonymous() -> AuditContext {
    AuditContext {
        actor_id: None,
        ..as_actor(UserId::new())
    }
}

/// A distinct token hash per number.
fn token(n: u32) -> TokenHash {
    let mut bytes = [0xA5; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    TokenHash(bytes)
}

async fn register(store: &dyn Store, address: &str, role: Role) -> User {
    let new = NewUser {
        email: email(address),
        password_hash: hash_of(address),
        role,
    };
    match store.create_user(new, &anonymous()).await.unwrap() {
        CreateUser::Created(user) => user,
        CreateUser::EmailTaken => panic!("{address} is taken"),
    }
}

async fn admin(store: &dyn Store, address: &str) -> User {
    match store
        .ensure_admin(email(address), hash_of(address), &anonymous())
        .await
        .unwrap()
    {
        EnsureAdmin::Created(user) | EnsureAdmin::Promoted(user) => user,
    }
}

async fn login(store: &dyn Store, user: &User, refresh_token: TokenHash) -> SessionId {
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        refresh_token_hash: refresh_token,
        expires_at: Timestamp::from_datetime(Timestamp::now().as_datetime() + REFRESH_TOKEN_TTL),
    };
    let id = session.id;
    let keys = LoginKeys::new(user.email.as_str(), IP);
    store
        .create_session(session, &keys, &anonymous())
        .await
        .unwrap();
    id
}

async fn events_of(store: &dyn Store, action: AuditAction) -> Vec<AuditEvent> {
    let filter = AuditFilter {
        action: Some(action),
        ..AuditFilter::default()
    };
    let mut events = list_all(store, &filter).await;
    events.reverse();
    events
}

async fn assert_chain_sound(store: &dyn Store) {
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.ok, "the audit chain verifies: {report:?}");
}

fn set_role(role: Role) -> UserChanges {
    UserChanges {
        role: Some(role),
        disabled: None,
    }
}

fn set_disabled(disabled: bool) -> UserChanges {
    UserChanges {
        role: None,
        disabled: Some(disabled),
    }
}

async fn update(store: &dyn Store, id: UserId, changes: UserChanges, by: UserId) -> UpdateUser {
    store.update_user(id, changes, &as_actor(by)).await.unwrap()
}

async fn active_admins(store: &dyn Store) -> Vec<User> {
    let users = store
        .list_users(PageLimit::new(100).unwrap(), None, &AuditContext::default())
        .await
        .unwrap();
    assert!(!users.has_more);
    users
        .data
        .into_iter()
        .filter(User::is_active_admin)
        .collect()
}

pub async fn identity_create_user_and_email_taken(store: &dyn Store) {
    let ctx = anonymous();
    let new = NewUser {
        email: email("alice@example.com"),
        password_hash: hash_of("alice"),
        role: Role::User,
    };
    let CreateUser::Created(alice) = store.create_user(new.clone(), &ctx).await.unwrap() else {
        panic!("alice is created");
    };
    assert_eq!(alice.email.as_str(), "alice@example.com");
    assert_eq!((alice.role, alice.disabled), (Role::User, false));
    assert_eq!(alice.created_at, alice.updated_at);
    assert_eq!(
        store.find_user(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.find_user(UserId::new()).await.unwrap(), None);

    let again = store.create_user(new, &ctx).await.unwrap();
    assert_eq!(again, CreateUser::EmailTaken);
    // Email::parse lower-cases, so this reaches the unique constraint with the same address.
    let shouting = NewUser {
        email: email("  ALICE@Example.COM "),
        password_hash: hash_of("mallory"),
        role: Role::Admin,
    };
    assert_eq!(
        store.create_user(shouting, &ctx).await.unwrap(),
        CreateUser::EmailTaken
    );

    // Concurrent registrations of one address: exactly one wins.
    let racers = join_all((0..5).map(|n| {
        store.create_user(
            NewUser {
                email: email("bob@example.com"),
                password_hash: hash_of(&n.to_string()),
                role: Role::User,
            },
            &ctx,
        )
    }))
    .await;
    let created = racers
        .into_iter()
        .map(Result::unwrap)
        .filter(|outcome| matches!(outcome, CreateUser::Created(_)))
        .count();
    assert_eq!(created, 1);

    let registered = events_of(store, AuditAction::Register).await;
    assert_eq!(registered.len(), 2, "EmailTaken writes nothing");
    let event = &registered[0];
    assert_eq!(event.resource_type, ResourceType::User);
    assert_eq!(event.resource_id, Some(alice.id.to_string()));
    assert_eq!(
        event.new_value,
        Some(json!({"email": "alice@example.com", "role": "user"}))
    );
    assert_eq!(event.old_value, None);
    assert_eq!(
        event.actor_id,
        Some(alice.id),
        "a registration acts as itself"
    );
    assert_eq!(event.ip_address.as_deref(), Some(IP));
    assert_eq!(event.request_id.as_deref(), Some("req-identity"));
    assert_chain_sound(store).await;
}

pub async fn identity_find_login(store: &dyn Store) {
    let alice = register(store, "alice@example.com", Role::Manager).await;
    let record = store
        .find_login(&email("Alice@Example.com"))
        .await
        .unwrap()
        .expect("alice's login record");
    assert_eq!(record.user, alice);
    assert_eq!(record.password_hash, hash_of("alice@example.com"));
    assert_eq!(
        store.find_login(&email("bob@example.com")).await.unwrap(),
        None
    );

    let root = admin(store, "root@example.com").await;
    update(store, alice.id, set_disabled(true), root.id).await;
    let disabled = store
        .find_login(&alice.email)
        .await
        .unwrap()
        .expect("a disabled user still has a login record");
    assert!(disabled.user.disabled);
}

pub async fn identity_sessions_create_check_and_revoke(store: &dyn Store) {
    let alice = register(store, "alice@example.com", Role::User).await;
    let before = Timestamp::now();
    let session_id = login(store, &alice, token(1)).await;

    let auth = store
        .session_auth(session_id)
        .await
        .unwrap()
        .expect("the session exists");
    assert_eq!(auth.user, alice);
    assert!(!auth.revoked);
    assert!(auth.expires_at > before);
    assert!(auth.expires_at.as_datetime() <= Timestamp::now().as_datetime() + REFRESH_TOKEN_TTL);
    assert_eq!(store.session_auth(SessionId::new()).await.unwrap(), None);

    let logins = events_of(store, AuditAction::Login).await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].resource_type, ResourceType::Session);
    assert_eq!(logins[0].resource_id, Some(session_id.to_string()));
    assert_eq!(logins[0].actor_id, Some(alice.id));

    let ctx = as_actor(alice.id);
    store.revoke_session(session_id, &ctx).await.unwrap();
    let auth = store.session_auth(session_id).await.unwrap().unwrap();
    assert!(auth.revoked);
    // Idempotent: a second logout, or one of an unknown session, changes and writes nothing.
    store.revoke_session(session_id, &ctx).await.unwrap();
    store.revoke_session(SessionId::new(), &ctx).await.unwrap();

    let logouts = events_of(store, AuditAction::Logout).await;
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0].resource_type, ResourceType::Session);
    assert_eq!(logouts[0].resource_id, Some(session_id.to_string()));
    assert_eq!(logouts[0].actor_id, Some(alice.id));

    // The revoked session's refresh token no longer works.
    let outcome = store
        .rotate_refresh_token(&token(1), &token(2), Timestamp::now(), &ctx)
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert_chain_sound(store).await;
}

pub async fn identity_refresh_rotation_and_reuse(store: &dyn Store) {
    let alice = register(store, "alice@example.com", Role::User).await;
    let session_id = login(store, &alice, token(0)).await;
    let ctx = anonymous();
    let now = Timestamp::now();

    let rotated = store
        .rotate_refresh_token(&token(0), &token(1), now, &ctx)
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshOutcome::Rotated {
            user: alice.clone(),
            session_id
        }
    );
    let rotated = store
        .rotate_refresh_token(&token(1), &token(2), now, &ctx)
        .await
        .unwrap();
    assert!(matches!(rotated, RefreshOutcome::Rotated { .. }));
    assert!(
        !store
            .session_auth(session_id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );

    // token(0) was used: presenting it again revokes the whole session.
    let reused = store
        .rotate_refresh_token(&token(0), &token(3), now, &ctx)
        .await
        .unwrap();
    assert_eq!(reused, RefreshOutcome::Reused);
    assert!(
        store
            .session_auth(session_id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    // The session's live token dies with it (Invalid: its session is revoked) ...
    let live = store
        .rotate_refresh_token(&token(2), &token(4), now, &ctx)
        .await
        .unwrap();
    assert_eq!(live, RefreshOutcome::Invalid);
    // ... while a used one keeps answering Reused, and each reuse is recorded.
    let reused = store
        .rotate_refresh_token(&token(1), &token(5), now, &ctx)
        .await
        .unwrap();
    assert_eq!(reused, RefreshOutcome::Reused);
    // The replacement offered with a refused token was never stored.
    let never_stored = store
        .rotate_refresh_token(&token(3), &token(6), now, &ctx)
        .await
        .unwrap();
    assert_eq!(never_stored, RefreshOutcome::Invalid);
    let unknown = store
        .rotate_refresh_token(&token(99), &token(100), now, &ctx)
        .await
        .unwrap();
    assert_eq!(unknown, RefreshOutcome::Invalid);

    let reuses = events_of(store, AuditAction::RefreshTokenReused).await;
    assert_eq!(reuses.len(), 2);
    for event in &reuses {
        assert_eq!(event.resource_type, ResourceType::Session);
        assert_eq!(event.resource_id, Some(session_id.to_string()));
    }

    // Expiry is judged at the `now` given; a rotation does not extend the session.
    let session_id = login(store, &alice, token(10)).await;
    let expires_at = store
        .session_auth(session_id)
        .await
        .unwrap()
        .unwrap()
        .expires_at;
    let just_before = Timestamp::from_datetime(expires_at.as_datetime() - TimeDelta::seconds(1));
    let rotated = store
        .rotate_refresh_token(&token(10), &token(11), just_before, &ctx)
        .await
        .unwrap();
    assert!(matches!(rotated, RefreshOutcome::Rotated { .. }));
    assert_eq!(
        store
            .session_auth(session_id)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        expires_at
    );
    let expired = store
        .rotate_refresh_token(&token(11), &token(12), expires_at, &ctx)
        .await
        .unwrap();
    assert_eq!(expired, RefreshOutcome::Invalid);

    // A disabled user's tokens are refused.
    let bob = register(store, "bob@example.com", Role::User).await;
    let root = admin(store, "root@example.com").await;
    login(store, &bob, token(20)).await;
    update(store, bob.id, set_disabled(true), root.id).await;
    update(store, bob.id, set_disabled(false), root.id).await;
    let disabled_once = store
        .rotate_refresh_token(&token(20), &token(21), Timestamp::now(), &ctx)
        .await
        .unwrap();
    assert_eq!(
        disabled_once,
        RefreshOutcome::Invalid,
        "disabling revoked the session for good"
    );
    assert_chain_sound(store).await;
}

pub async fn identity_concurrent_rotation_has_one_winner(store: &dyn Store) {
    const CLAIMS: u32 = 10;
    let alice = register(store, "alice@example.com", Role::User).await;
    let session_id = login(store, &alice, token(0)).await;
    let ctx = anonymous();
    let now = Timestamp::now();
    let presented = token(0);
    let nexts: Vec<TokenHash> = (1..=CLAIMS).map(token).collect();
    let outcomes = join_all(
        nexts
            .iter()
            .map(|next| store.rotate_refresh_token(&presented, next, now, &ctx)),
    )
    .await;
    let outcomes: Vec<RefreshOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let rotated = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, RefreshOutcome::Rotated { .. }))
        .count();
    let reused = outcomes
        .iter()
        .filter(|outcome| **outcome == RefreshOutcome::Reused)
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    assert_eq!(reused, 9, "every loser is a reuse: {outcomes:?}");
    assert!(
        store
            .session_auth(session_id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(
        events_of(store, AuditAction::RefreshTokenReused)
            .await
            .len(),
        9
    );
    assert_chain_sound(store).await;
}

/// Records one failure and checks the wait it leaves against `expected` (seconds, if any):
/// exact when the store answers within the same second.
/// One wrong password, as the login route runs it: claimed at `now` (it must be let through),
/// then recorded.
async fn fail_at(
    store: &dyn Store,
    keys: &LoginKeys,
    typed: &str,
    user_id: Option<UserId>,
    now: Timestamp,
) {
    assert_eq!(store.claim_login_attempt(keys, now).await.unwrap(), None);
    store
        .record_login_failure(typed, user_id, &anonymous())
        .await
        .unwrap();
}

fn secs_after(base: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_datetime(base.as_datetime() + TimeDelta::seconds(secs))
}

pub async fn identity_login_throttle_grows(store: &dyn Store) {
    let victim = register(store, "victim@example.com", Role::User).await;
    let keys = LoginKeys::new(victim.email.as_str(), IP);
    let t0 = Timestamp::now();

    // Five free failures on the (email, IP) pair, and a sixth attempt, which sets a 1 s wait.
    fail_at(store, &keys, "Victim@Example.com", Some(victim.id), t0).await;
    for _ in 1..6 {
        fail_at(store, &keys, "victim@example.com", Some(victim.id), t0).await;
    }
    assert_eq!(store.claim_login_attempt(&keys, t0).await.unwrap(), Some(1));
    // A refused claim charges nothing: still 1 s.
    assert_eq!(store.claim_login_attempt(&keys, t0).await.unwrap(), Some(1));
    // Each wait run out lets one more attempt through, which doubles the wait.
    let mut elapsed = 0;
    for (waited, next) in [(1, 2), (2, 4), (4, 8)] {
        elapsed += waited;
        let now = secs_after(t0, elapsed);
        fail_at(store, &keys, "victim@example.com", Some(victim.id), now).await;
        assert_eq!(
            store.claim_login_attempt(&keys, now).await.unwrap(),
            Some(next)
        );
    }
    let now = secs_after(t0, elapsed);
    // Another account from the same IP is not held back by this pair.
    let other = LoginKeys::new("other@example.com", IP);
    assert_eq!(store.claim_login_attempt(&other, now).await.unwrap(), None);

    // A success (claimed once its wait ran out) clears the pair.
    let later = secs_after(t0, elapsed + 8);
    assert_eq!(store.claim_login_attempt(&keys, later).await.unwrap(), None);
    login(store, &victim, token(1)).await;
    assert_eq!(store.claim_login_attempt(&keys, later).await.unwrap(), None);

    // One IP spraying many accounts: its own key blocks after 20 failures, whatever the email.
    let sprayer = "198.51.100.9";
    for n in 0..21 {
        let keys = LoginKeys::new(&format!("target{n}@example.com"), sprayer);
        fail_at(store, &keys, &format!("target{n}@example.com"), None, t0).await;
    }
    let fresh_email = LoginKeys::new("never-tried@example.com", sprayer);
    assert_eq!(
        store.claim_login_attempt(&fresh_email, t0).await.unwrap(),
        Some(1)
    );

    let failures = events_of(store, AuditAction::LoginFailed).await;
    assert_eq!(failures.len(), 9 + 21);
    assert_eq!(failures[0].resource_type, ResourceType::User);
    assert_eq!(failures[0].resource_id, Some(victim.id.to_string()));
    assert_eq!(
        failures[0].new_value,
        Some(json!({"email": "Victim@Example.com"})),
        "the email as typed"
    );
    assert_eq!(failures[0].actor_id, None);
    assert_eq!(failures[9].resource_id, None, "no user behind that email");
    assert_chain_sound(store).await;
}

/// Many guesses at once: each claim sees the charges of those before it, so exactly as many get
/// through as one after another would (the free allowance, plus the one that sets the wait).
pub async fn identity_parallel_login_claims_respect_the_throttle(store: &dyn Store) {
    let keys = LoginKeys::new("target@example.com", IP);
    let now = Timestamp::now();
    let claims = join_all((0..30).map(|_| store.claim_login_attempt(&keys, now))).await;
    let through = claims
        .into_iter()
        .map(Result::unwrap)
        .filter(Option::is_none)
        .count();
    let allowed = ThrottlePolicy::EMAIL_AND_IP.free_failures + 1;
    assert_eq!(through, usize::try_from(allowed).unwrap());
}

pub async fn identity_update_user_audits_and_revokes(store: &dyn Store) {
    let root = admin(store, "root@example.com").await;
    let alice = register(store, "alice@example.com", Role::User).await;

    let UpdateUser::Updated(promoted) =
        update(store, alice.id, set_role(Role::Manager), root.id).await
    else {
        panic!("alice is promoted");
    };
    assert_eq!((promoted.role, promoted.disabled), (Role::Manager, false));
    assert!(promoted.updated_at >= alice.updated_at);
    assert_eq!(
        store.find_user(alice.id).await.unwrap(),
        Some(promoted.clone())
    );
    let changes = events_of(store, AuditAction::PermissionChanged).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].resource_type, ResourceType::User);
    assert_eq!(changes[0].resource_id, Some(alice.id.to_string()));
    assert_eq!(changes[0].old_value, Some(json!({"role": "user"})));
    assert_eq!(changes[0].new_value, Some(json!({"role": "manager"})));
    assert_eq!(changes[0].actor_id, Some(root.id));

    // Changes that change nothing write nothing.
    let same = update(store, alice.id, set_role(Role::Manager), root.id).await;
    assert_eq!(same, UpdateUser::Updated(promoted.clone()));
    let nothing = update(store, alice.id, UserChanges::default(), root.id).await;
    assert_eq!(nothing, UpdateUser::Updated(promoted.clone()));
    assert_eq!(
        events_of(store, AuditAction::PermissionChanged).await.len(),
        1
    );

    let first = login(store, &alice, token(1)).await;
    let second = login(store, &alice, token(2)).await;
    let UpdateUser::Updated(disabled) = update(store, alice.id, set_disabled(true), root.id).await
    else {
        panic!("alice is disabled");
    };
    assert!(disabled.disabled);
    for session in [first, second] {
        let auth = store.session_auth(session).await.unwrap().unwrap();
        assert!(auth.revoked && auth.user.disabled);
    }
    let disables = events_of(store, AuditAction::UserDisabled).await;
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0].resource_id, Some(alice.id.to_string()));
    assert_eq!(disables[0].old_value, Some(json!({"disabled": false})));
    assert_eq!(disables[0].new_value, Some(json!({"disabled": true})));

    let both = UserChanges {
        role: Some(Role::User),
        disabled: Some(false),
    };
    let UpdateUser::Updated(restored) = update(store, alice.id, both, root.id).await else {
        panic!("alice is restored");
    };
    assert_eq!((restored.role, restored.disabled), (Role::User, false));
    assert_eq!(events_of(store, AuditAction::UserEnabled).await.len(), 1);
    assert_eq!(
        events_of(store, AuditAction::PermissionChanged).await.len(),
        2
    );
    // Enabling does not bring revoked sessions back.
    assert!(store.session_auth(first).await.unwrap().unwrap().revoked);

    let unknown = update(store, UserId::new(), set_role(Role::Admin), root.id).await;
    assert_eq!(unknown, UpdateUser::NotFound);
    assert_chain_sound(store).await;
}

pub async fn identity_last_admin_is_kept(store: &dyn Store) {
    let root = admin(store, "root@example.com").await;
    assert_eq!(
        update(store, root.id, set_role(Role::Manager), root.id).await,
        UpdateUser::LastAdmin
    );
    assert_eq!(
        update(store, root.id, set_disabled(true), root.id).await,
        UpdateUser::LastAdmin
    );
    let both = UserChanges {
        role: Some(Role::User),
        disabled: Some(true),
    };
    assert_eq!(
        update(store, root.id, both, root.id).await,
        UpdateUser::LastAdmin
    );
    assert_eq!(store.find_user(root.id).await.unwrap(), Some(root.clone()));
    assert!(
        events_of(store, AuditAction::PermissionChanged)
            .await
            .is_empty()
    );

    // A disabled admin is no admin to fall back on.
    let second = admin(store, "second@example.com").await;
    assert!(matches!(
        update(store, second.id, set_disabled(true), root.id).await,
        UpdateUser::Updated(_)
    ));
    assert_eq!(
        update(store, root.id, set_role(Role::User), root.id).await,
        UpdateUser::LastAdmin
    );
    // Once the second is back, either may step down, but not both.
    assert!(matches!(
        update(store, second.id, set_disabled(false), root.id).await,
        UpdateUser::Updated(_)
    ));
    assert!(matches!(
        update(store, root.id, set_role(Role::User), root.id).await,
        UpdateUser::Updated(_)
    ));
    assert_eq!(
        update(store, second.id, set_role(Role::Manager), second.id).await,
        UpdateUser::LastAdmin
    );
    assert_eq!(active_admins(store).await.len(), 1);
    assert_chain_sound(store).await;
}

pub async fn identity_concurrent_demotions_keep_an_admin(store: &dyn Store) {
    const ROUNDS: usize = 20;
    // Each round pits the survivor of the last against a fresh admin: exactly two active
    // admins remove each other at once (by demotion in even rounds, disabling in odd ones).
    let mut survivor = admin(store, "first@example.com").await;
    for round in 0..ROUNDS {
        let fresh = admin(store, &format!("admin{round}@example.com")).await;
        assert_eq!(active_admins(store).await.len(), 2);
        let removal = if round % 2 == 0 {
            set_role(Role::Manager)
        } else {
            set_disabled(true)
        };
        let (by_survivor, by_fresh) = join(
            store.update_user(fresh.id, removal, &as_actor(survivor.id)),
            store.update_user(survivor.id, removal, &as_actor(fresh.id)),
        )
        .await;
        let (by_survivor, by_fresh) = (by_survivor.unwrap(), by_fresh.unwrap());
        let refused = [&by_survivor, &by_fresh]
            .iter()
            .filter(|outcome| ***outcome == UpdateUser::LastAdmin)
            .count();
        assert!(
            refused >= 1,
            "round {round}: {by_survivor:?} / {by_fresh:?}"
        );
        let admins = active_admins(store).await;
        assert_eq!(admins.len(), 1, "round {round}: {admins:?}");
        assert!(admins[0].id == survivor.id || admins[0].id == fresh.id);
        survivor = admins[0].clone();
    }
    assert_chain_sound(store).await;
}

pub async fn identity_ensure_admin_creates_then_promotes(store: &dyn Store) {
    let ctx = anonymous();
    let created = store
        .ensure_admin(email("Root@Example.com"), hash_of("first"), &ctx)
        .await
        .unwrap();
    let EnsureAdmin::Created(root) = created else {
        panic!("root is created: {created:?}");
    };
    assert_eq!(root.email.as_str(), "root@example.com");
    assert_eq!((root.role, root.disabled), (Role::Admin, false));
    let registered = events_of(store, AuditAction::Register).await;
    assert_eq!(registered.len(), 1);
    assert_eq!(
        registered[0].new_value,
        Some(json!({"email": "root@example.com", "role": "admin"}))
    );

    let alice = register(store, "alice@example.com", Role::User).await;
    update(store, alice.id, set_disabled(true), root.id).await;
    let promoted = store
        .ensure_admin(alice.email.clone(), hash_of("new password"), &ctx)
        .await
        .unwrap();
    let EnsureAdmin::Promoted(promoted) = promoted else {
        panic!("alice is promoted: {promoted:?}");
    };
    assert_eq!(promoted.id, alice.id);
    assert_eq!((promoted.role, promoted.disabled), (Role::Admin, false));
    let record = store.find_login(&alice.email).await.unwrap().unwrap();
    assert_eq!(record.user, promoted);
    assert_eq!(record.password_hash, hash_of("new password"));
    let changes = events_of(store, AuditAction::PermissionChanged).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].resource_id, Some(alice.id.to_string()));
    assert_eq!(changes[0].old_value, Some(json!({"role": "user"})));
    assert_eq!(changes[0].new_value, Some(json!({"role": "admin"})));
    assert_eq!(events_of(store, AuditAction::UserEnabled).await.len(), 1);

    // Again: still the same admin, the password replaced, no role event, and whoever held a
    // session from the old password is out.
    let session = login(store, &promoted, TokenHash([7; 32])).await;
    let again = store
        .ensure_admin(alice.email.clone(), hash_of("third"), &ctx)
        .await
        .unwrap();
    assert!(matches!(again, EnsureAdmin::Promoted(ref user) if user.id == alice.id));
    let record = store.find_login(&alice.email).await.unwrap().unwrap();
    assert_eq!(record.password_hash, hash_of("third"));
    assert!(store.session_auth(session).await.unwrap().unwrap().revoked);
    assert_eq!(
        events_of(store, AuditAction::PermissionChanged).await.len(),
        1
    );
    assert_eq!(events_of(store, AuditAction::Register).await.len(), 2);
    // Each replacement of the password leaves a trace, without the hash.
    let resets = events_of(store, AuditAction::PasswordReset).await;
    assert_eq!(resets.len(), 2);
    assert!(
        resets
            .iter()
            .all(|event| event.resource_id == Some(alice.id.to_string())
                && event.old_value.is_none()
                && event.new_value.is_none())
    );
    assert_chain_sound(store).await;
}

pub async fn identity_list_users_newest_first(store: &dyn Store) {
    let empty = store
        .list_users(PageLimit::default(), None, &AuditContext::default())
        .await
        .unwrap();
    assert!(empty.data.is_empty() && !empty.has_more);

    let mut users = Vec::new();
    for n in 1..=5 {
        users.push(register(store, &format!("user{n}@example.com"), Role::User).await);
    }
    let ids = |page: &crate::Page<User>| page.data.iter().map(|user| user.id).collect::<Vec<_>>();
    let limit = PageLimit::new(2).unwrap();

    let first = store
        .list_users(limit, None, &AuditContext::default())
        .await
        .unwrap();
    assert_eq!(ids(&first), [users[4].id, users[3].id]);
    assert!(first.has_more);
    assert_eq!(first.data[0], users[4]);
    let second = store
        .list_users(limit, Some(users[3].id), &AuditContext::default())
        .await
        .unwrap();
    assert_eq!(ids(&second), [users[2].id, users[1].id]);
    assert!(second.has_more);
    let third = store
        .list_users(limit, Some(users[1].id), &AuditContext::default())
        .await
        .unwrap();
    assert_eq!(ids(&third), [users[0].id]);
    assert!(!third.has_more);

    let exact = store
        .list_users(PageLimit::new(5).unwrap(), None, &AuditContext::default())
        .await
        .unwrap();
    assert_eq!(exact.data.len(), 5);
    assert!(!exact.has_more, "a page that holds everything has no more");
    let after_oldest = store
        .list_users(limit, Some(users[0].id), &AuditContext::default())
        .await
        .unwrap();
    assert!(after_oldest.data.is_empty() && !after_oldest.has_more);
    let unknown = store
        .list_users(limit, Some(UserId::new()), &AuditContext::default())
        .await
        .unwrap();
    assert!(unknown.data.is_empty() && !unknown.has_more);

    let all: BTreeSet<UserId> = store
        .list_users(PageLimit::default(), None, &AuditContext::default())
        .await
        .unwrap()
        .data
        .iter()
        .map(|user| user.id)
        .collect();
    assert_eq!(all, users.iter().map(|user| user.id).collect());

    // Every page read is on the record, naming whom it showed.
    let reads = events_of(store, AuditAction::Read).await;
    assert_eq!(reads.len(), 8);
    let newest = reads.iter().max_by_key(|event| event.seq).unwrap();
    assert_eq!(newest.resource_type, ResourceType::User);
    let shown = newest.new_value.as_ref().unwrap()["ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(shown, 5);
}

/// A session that expires at `expires_at`, with refresh token `refresh_token`.
async fn session_until(
    store: &dyn Store,
    user: &User,
    refresh_token: TokenHash,
    expires_at: Timestamp,
) -> SessionId {
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        refresh_token_hash: refresh_token,
        expires_at,
    };
    let id = session.id;
    let keys = LoginKeys::new(user.email.as_str(), IP);
    store
        .create_session(session, &keys, &anonymous())
        .await
        .unwrap();
    id
}

pub async fn identity_expired_logins_are_purged_in_batches(store: &dyn Store) {
    let user = register(store, "purged@example.com", Role::User).await;
    let now = Timestamp::now();
    let past = Timestamp::from_datetime(now.as_datetime() - TimeDelta::seconds(1));
    let expired = session_until(store, &user, token(1), past).await;
    let live = login(store, &user, token(2)).await;
    let keys = LoginKeys::new("someone@example.com", "192.0.2.1");
    assert_eq!(store.claim_login_attempt(&keys, now).await.unwrap(), None);

    let purged = store.purge_expired_logins(Timestamp::now()).await.unwrap();
    assert_eq!(
        purged,
        PurgedLogins {
            sessions: 1,
            refresh_tokens: 1,
            login_throttle: 0,
        },
        "the throttle rows are still within their window"
    );
    assert!(!purged.maybe_more());
    assert!(store.session_auth(expired).await.unwrap().is_none());
    assert!(store.session_auth(live).await.unwrap().is_some());
    let presented = store
        .rotate_refresh_token(&token(1), &token(3), Timestamp::now(), &anonymous())
        .await
        .unwrap();
    assert!(
        matches!(presented, RefreshOutcome::Invalid),
        "{presented:?}"
    );

    // Once every policy has forgotten them, the three throttle rows go.
    let later = Timestamp::from_datetime(now.as_datetime() + TimeDelta::hours(1));
    let purged = store.purge_expired_logins(later).await.unwrap();
    assert_eq!((purged.sessions, purged.login_throttle), (0, 3));
    assert!(store.session_auth(live).await.unwrap().is_some());

    // Bounded: one batch at a time.
    let backlog = u32::from(PURGE_BATCH_ROWS) + 1;
    for n in 0..backlog {
        session_until(store, &user, token(100 + n), past).await;
    }
    let first = store.purge_expired_logins(Timestamp::now()).await.unwrap();
    assert_eq!(first.sessions, u64::from(PURGE_BATCH_ROWS));
    assert!(first.maybe_more());
    let second = store.purge_expired_logins(Timestamp::now()).await.unwrap();
    assert_eq!(second.sessions, 1);
    assert!(!second.maybe_more());
    assert!(store.session_auth(live).await.unwrap().is_some());
    assert_chain_sound(store).await;
}
