//! Conformance cases for the money path: batches with refusals among accepted commands,
//! system accounts made on first use, key records written with their effects (replays,
//! reuse, keys raced within a batch, responses the caller does not keep, purge), sessions checked in the batch,
//! and concurrent opposite transfers.

use std::sync::Arc;

use coffre_domain::audit::{AuditAction, AuditContext};
use coffre_domain::event::{EventObject, EventType};
use coffre_domain::ids::{AccountId, SessionId, TransferId, UserId};
use coffre_domain::ledger::{Account, AccountStatus, Action, CommandResult, Outcome, Refusal};
use coffre_domain::metadata::{Metadata, MetadataFilter};
use coffre_domain::money::{Amount, Currency, Money};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role};
use futures_util::future::join_all;

use super::list_all;
use coffre_domain::throttle::LoginKeys;

use crate::idempotency::RETENTION;
use crate::{
    AuditFilter, CreateUser, EventFilter, EventRenderer, Executed, Fingerprint, IdempotencyKey,
    Keyed, LedgerRequest, NewSession, NewUser, Origin, PageLimit, PartyFilter, PasswordHash,
    REFRESH_TOKEN_TTL, Renderer, Responder, SessionRefused, Store, StoreError, StoredResponse,
    TokenHash, TypeFilter, UserChanges,
};

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn eur_cents(cents: i64) -> Money {
    Money {
        amount: Amount::from_minor(cents).unwrap(),
        currency: eur(),
    }
}

/// A user signed in: what a request to the ledger names.
#[derive(Debug, Clone, Copy)]
struct Person {
    user_id: UserId,
    session_id: SessionId,
}

async fn person(store: &dyn Store, name: &str, role: Role) -> Person {
    let email = Email::parse(&format!("{name}@ledger.test")).unwrap();
    let created = store
        .create_user(
            NewUser {
                email: email.clone(),
                password_hash: PasswordHash::new("$argon2id$v=19$stub".into()),
                role,
            },
            &AuditContext::default(),
        )
        .await
        .unwrap();
    let CreateUser::Created(user) = created else {
        panic!("{created:?}")
    };
    // Unique per user: the user id, zero-padded.
    let mut refresh_token_hash = [0; TokenHash::LEN];
    refresh_token_hash[..16].copy_from_slice(user.id.as_uuid().as_bytes());
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        refresh_token_hash: TokenHash(refresh_token_hash),
        expires_at: Timestamp::from_datetime(Timestamp::now().as_datetime() + REFRESH_TOKEN_TTL),
    };
    let session_id = session.id;
    store
        .create_session(
            session,
            &LoginKeys::new(email.as_str(), "192.0.2.1"),
            &AuditContext::default(),
        )
        .await
        .unwrap();
    Person {
        user_id: user.id,
        session_id,
    }
}

fn keyed(person: Person, action: Action, keyed: Option<Keyed>) -> LedgerRequest {
    LedgerRequest {
        origin: Origin::User {
            session_id: person.session_id,
            user_id: person.user_id,
            idempotency: keyed,
        },
        context: AuditContext {
            actor_id: Some(person.user_id),
            ..AuditContext::default()
        },
        action,
    }
}

fn request(person: Person, action: Action) -> LedgerRequest {
    keyed(person, action, None)
}

/// Renders an event's resource as `{"id": …}`: the store keeps what it is handed (the API's
/// bodies are tested over HTTP).
struct Ids;

impl EventRenderer for Ids {
    fn render(&self, object: &EventObject) -> Result<String, serde_json::Error> {
        let id = match object {
            EventObject::Account(account) => account.id.to_string(),
            EventObject::Transfer(transfer) => transfer.id.to_string(),
            EventObject::Transaction(transaction) => transaction.id.to_string(),
            EventObject::Payment(payment) => payment.id.to_string(),
            EventObject::Hold(hold) => hold.id.to_string(),
        };
        serde_json::to_string(&serde_json::json!({ "id": id }))
    }
}

/// A renderer for tests of the store alone, where the resources' JSON does not matter.
pub fn id_renderer() -> Renderer {
    Arc::new(Ids)
}

/// Every stored event, newest first, as (type, the id its object names).
async fn all_events(store: &dyn Store, filter: &EventFilter) -> Vec<(EventType, String)> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_events(filter, PageLimit::new(2).unwrap(), after)
            .await
            .unwrap();
        after = page.data.last().map(|event| event.id);
        for event in page.data {
            let object: serde_json::Value = serde_json::from_str(&event.object).unwrap();
            events.push((event.event_type, object["id"].as_str().unwrap().to_owned()));
        }
        if !page.has_more {
            return events;
        }
    }
}

async fn run(store: &dyn Store, batch: Vec<LedgerRequest>) -> Vec<Executed> {
    store
        .commit_batch(batch, id_renderer())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

async fn open(store: &dyn Store, owner: Person) -> Account {
    let action = Action::OpenAccount {
        id: AccountId::new(),
        owner_id: owner.user_id,
        currency: eur(),
        name: None,
        metadata: Metadata::default(),
    };
    match run(store, vec![request(owner, action)]).await.remove(0) {
        Executed::Decided {
            result: Ok(Outcome::Account(account)),
            ..
        } => account,
        other => panic!("{other:?}"),
    }
}

fn deposit(admin: Person, account: AccountId, cents: i64) -> LedgerRequest {
    request(
        admin,
        Action::Deposit {
            id: TransferId::new(),
            account_id: account,
            money: eur_cents(cents),
            description: None,
            metadata: Metadata::default(),
        },
    )
}

fn transfer(owner: Person, from: AccountId, to: AccountId, cents: i64) -> LedgerRequest {
    request(
        owner,
        Action::Transfer {
            id: TransferId::new(),
            from,
            to,
            money: eur_cents(cents),
            description: None,
            metadata: Metadata::default(),
        },
    )
}

async fn balance(store: &dyn Store, account: AccountId) -> i64 {
    store
        .find_account(account)
        .await
        .unwrap()
        .unwrap()
        .balance
        .minor()
}

pub async fn ledger_batch_refusals_leave_neighbours_alone(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let bob = person(store, "bob", Role::User).await;
    let a = open(store, alice).await;
    let b = open(store, bob).await;
    // One batch: a deposit, a transfer it funds, one it cannot, and one from Bob's account
    // by Alice, which she may not even see.
    let results = run(
        store,
        vec![
            deposit(admin, a.id, 1_000),
            transfer(alice, a.id, b.id, 600),
            transfer(alice, a.id, b.id, 600),
            transfer(alice, b.id, a.id, 1),
        ],
    )
    .await;
    assert!(matches!(
        results[0].result(),
        Some(Ok(Outcome::Transfer(_)))
    ));
    assert!(matches!(
        results[1].result(),
        Some(Ok(Outcome::Transfer(_)))
    ));
    assert_eq!(results[2].result(), Some(&Err(Refusal::InsufficientFunds)));
    assert_eq!(
        results[3].result(),
        Some(&Err(Refusal::AccountNotFound(b.id)))
    );
    assert_eq!(balance(store, a.id).await, 400);
    assert_eq!(balance(store, b.id).await, 600);

    // The system account was made on first use and carries the other side.
    let all = store
        .list_accounts(None, &MetadataFilter::default(), PageLimit::DEFAULT, None)
        .await
        .unwrap()
        .data;
    let system: Vec<&Account> = all.iter().filter(|account| account.is_system()).collect();
    assert_eq!(system.len(), 1);
    assert_eq!(system[0].balance.minor(), -1_000);

    let entries = store
        .list_entries(a.id, PageLimit::DEFAULT, None)
        .await
        .unwrap()
        .data;
    let lines: Vec<(i64, i64)> = entries
        .iter()
        .map(|entry| (entry.amount.minor(), entry.balance_after.minor()))
        .collect();
    assert_eq!(lines, [(-600, 400), (1_000, 1_000)]);
    let transfers = store
        .list_transfers(
            PartyFilter {
                account_id: Some(a.id),
                party: None,
            },
            &MetadataFilter::default(),
            PageLimit::DEFAULT,
            None,
        )
        .await
        .unwrap();
    assert_eq!(transfers.data.len(), 2);
    // The public events: the openings and the two movements, newest first, nothing of the
    // refused ones.
    let mut moved: Vec<String> = transfers
        .data
        .iter()
        .map(|record| record.transfer.id.to_string())
        .collect();
    moved.sort();
    let published = all_events(store, &EventFilter::default()).await;
    let mut published_moves: Vec<String> = published[..2]
        .iter()
        .map(|(kind, id)| {
            assert_eq!(*kind, EventType::TransferCreated);
            id.clone()
        })
        .collect();
    published_moves.sort();
    assert_eq!(published_moves, moved);
    assert_eq!(
        published[2..],
        [
            (EventType::AccountCreated, b.id.to_string()),
            (EventType::AccountCreated, a.id.to_string()),
        ]
    );
    let events = list_all(store, &AuditFilter::default()).await;
    let actions: Vec<AuditAction> = events.iter().map(|event| event.action).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|action| matches!(action, AuditAction::Transfer | AuditAction::Deposit))
            .count(),
        2,
        "refused commands write no event: {actions:?}"
    );
    let report = store.verify_ledger().await.unwrap();
    assert!(report.ok, "{report}");
    assert_eq!(report.accounts_checked, 3);
}

/// A command whose row the database refuses (here: an account opened with the id of one that
/// exists, which the ledger cannot know, as it never loads the accounts a command opens)
/// fails alone; its neighbours, before and after it, keyed or not, commit as if it had not
/// been sent.
pub async fn ledger_a_row_the_database_refuses_fails_only_its_command(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let bob = person(store, "bob", Role::User).await;
    let a = open(store, alice).await;
    let b = open(store, bob).await;
    let clash = request(
        alice,
        Action::OpenAccount {
            id: a.id,
            owner_id: alice.user_id,
            currency: eur(),
            name: None,
            metadata: Metadata::default(),
        },
    );
    let results = store
        .commit_batch(
            vec![
                deposit(admin, a.id, 1_000),
                deposit_keyed(admin, a.id, "isolated-1", 1),
                transfer(alice, a.id, b.id, 300),
                clash,
                transfer(alice, a.id, b.id, 200),
                deposit_keyed(admin, b.id, "isolated-2", 2),
            ],
            id_renderer(),
        )
        .await;
    assert_eq!(results.len(), 6);
    for (index, result) in results.iter().enumerate() {
        if index == 3 {
            match result {
                Err(StoreError::Constraint { constraint }) => {
                    assert_eq!(constraint, "accounts_pkey");
                }
                other => panic!("the clash should fail alone, got {other:?}"),
            }
        } else {
            assert!(
                matches!(result, Ok(executed) if matches!(executed.result(), Some(Ok(_)))),
                "command {index} should commit: {result:?}"
            );
        }
    }
    assert_eq!(balance(store, a.id).await, 1_000 + 100 - 300 - 200);
    assert_eq!(balance(store, b.id).await, 300 + 200 + 100);
    // The refused command's event went with it: two openings, five movements.
    let published = all_events(store, &EventFilter::default()).await;
    let count = |kind| published.iter().filter(|(k, _)| *k == kind).count();
    assert_eq!(count(EventType::AccountCreated), 2, "{published:?}");
    assert_eq!(count(EventType::TransferCreated), 5, "{published:?}");
    assert_eq!(published.len(), 7);
    // The keys committed with their effects: a retry replays.
    let replay = run(store, vec![deposit_keyed(admin, a.id, "isolated-1", 1)]).await;
    assert!(matches!(replay[0], Executed::Replayed(_)), "{replay:?}");
    let report = store.verify_ledger().await.unwrap();
    assert!(report.ok, "{report}");
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

/// Keeps, for every result, a response of this status whose body names the result; with
/// `None`, keeps nothing.
struct KeepAs(Option<u16>);

impl Responder for KeepAs {
    fn response_to_keep(&self, result: &CommandResult) -> Option<StoredResponse> {
        self.0.map(|status| StoredResponse {
            status,
            body: format!("{result:?}").into_bytes(),
        })
    }
}

fn keep_as(status: u16) -> Arc<dyn Responder> {
    Arc::new(KeepAs(Some(status)))
}

fn deposit_keyed(admin: Person, account: AccountId, text: &str, fingerprint: u8) -> LedgerRequest {
    LedgerRequest {
        origin: Origin::User {
            session_id: admin.session_id,
            user_id: admin.user_id,
            idempotency: Some(Keyed {
                key: key(text),
                fingerprint: Fingerprint([fingerprint; 32]),
                responder: keep_as(201),
            }),
        },
        ..deposit(admin, account, 100)
    }
}

pub async fn ledger_idempotency_records_commit_with_their_effect(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let a = open(store, alice).await;

    // One batch: a keyed deposit, the same key again (they ran at once), and the same key for
    // another request.
    let first = run(
        store,
        vec![
            deposit_keyed(admin, a.id, "k-1", 7),
            deposit_keyed(admin, a.id, "k-1", 7),
            deposit_keyed(admin, a.id, "k-1", 8),
        ],
    )
    .await;
    let Executed::Decided {
        result: Ok(Outcome::Transfer(_)),
        response: Some(answered),
    } = &first[0]
    else {
        panic!("{first:?}")
    };
    assert_eq!(answered.status, 201);
    assert!(
        String::from_utf8(answered.body.clone())
            .unwrap()
            .contains("Transfer")
    );
    assert_eq!(first[1..], [Executed::KeyInUse, Executed::KeyInUse]);
    assert_eq!(balance(store, a.id).await, 100);

    // Later batches: the same request replays the very bytes first answered; another request
    // with the key is refused; another user's key of the same name is theirs.
    let later = run(
        store,
        vec![
            deposit_keyed(admin, a.id, "k-1", 7),
            deposit_keyed(admin, a.id, "k-1", 8),
        ],
    )
    .await;
    assert_eq!(
        later,
        [Executed::Replayed(answered.clone()), Executed::KeyReused]
    );
    assert_eq!(balance(store, a.id).await, 100);

    // A refusal is stored and replayed like a success.
    let overdraw = |fingerprint| {
        keyed(
            alice,
            Action::Withdrawal {
                id: TransferId::new(),
                account_id: a.id,
                money: eur_cents(1_000),
                description: None,
                metadata: Metadata::default(),
            },
            Some(Keyed {
                key: key("k-1"),
                fingerprint: Fingerprint([fingerprint; 32]),
                responder: keep_as(422),
            }),
        )
    };
    let refused = run(store, vec![overdraw(9)]).await;
    let Executed::Decided {
        result: Err(Refusal::InsufficientFunds),
        response: Some(refusal),
    } = &refused[0]
    else {
        panic!("{refused:?}")
    };
    assert_eq!(
        run(store, vec![overdraw(9)]).await,
        [Executed::Replayed(refusal.clone())]
    );
    assert_eq!(balance(store, a.id).await, 100);
}

pub async fn ledger_unkept_responses_store_no_key_and_old_keys_are_purged(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let a = open(store, admin).await;
    let now = Timestamp::now();
    let failing = LedgerRequest {
        origin: Origin::User {
            session_id: admin.session_id,
            user_id: admin.user_id,
            idempotency: Some(Keyed {
                key: key("flaky"),
                fingerprint: Fingerprint([1; 32]),
                responder: Arc::new(KeepAs(None)),
            }),
        },
        ..deposit(admin, a.id, 100)
    };
    let answered = run(store, vec![failing]).await;
    assert!(
        matches!(
            &answered[0],
            Executed::Decided {
                result: Ok(_),
                response: None
            }
        ),
        "{answered:?}"
    );
    // Not stored: the same key runs afresh.
    let again = run(store, vec![deposit_keyed(admin, a.id, "flaky", 1)]).await;
    assert!(matches!(again[0].result(), Some(Ok(_))), "{again:?}");

    let kept = store
        .purge_idempotency_keys(Timestamp::from_datetime(now.as_datetime() - RETENTION))
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing is older than the retention");
    let purged = store
        .purge_idempotency_keys(Timestamp::from_datetime(
            now.as_datetime() + chrono::TimeDelta::minutes(1),
        ))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let after_purge = run(store, vec![deposit_keyed(admin, a.id, "flaky", 2)]).await;
    assert!(
        matches!(after_purge[0].result(), Some(Ok(_))),
        "{after_purge:?}"
    );
}

pub async fn ledger_sessions_are_checked_in_the_batch(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let a = open(store, alice).await;
    let stranger = Person {
        user_id: alice.user_id,
        session_id: admin.session_id,
    };
    let unknown = Person {
        user_id: alice.user_id,
        session_id: SessionId::new(),
    };
    store
        .revoke_session(alice.session_id, &AuditContext::default())
        .await
        .unwrap();
    let results = run(
        store,
        vec![
            deposit(admin, a.id, 100),
            transfer(alice, a.id, a.id, 1),
            request(
                stranger,
                Action::SetStatus {
                    account_id: a.id,
                    status: AccountStatus::Frozen,
                },
            ),
            request(
                unknown,
                Action::SetStatus {
                    account_id: a.id,
                    status: AccountStatus::Frozen,
                },
            ),
        ],
    )
    .await;
    assert!(matches!(results[0].result(), Some(Ok(_))), "{results:?}");
    assert_eq!(
        results[1..],
        [
            Executed::Unauthenticated(SessionRefused::Revoked),
            Executed::Unauthenticated(SessionRefused::Unknown),
            Executed::Unauthenticated(SessionRefused::Unknown),
        ]
    );
    // The role is the one stored now, not the one the session began with.
    person(store, "keeper", Role::Admin).await;
    store
        .update_user(
            admin.user_id,
            UserChanges {
                role: Some(Role::User),
                ..UserChanges::default()
            },
            &AuditContext::default(),
        )
        .await
        .unwrap();
    let demoted = run(store, vec![deposit(admin, a.id, 100)]).await;
    assert!(matches!(demoted[0].result(), Some(Err(_))), "{demoted:?}");
    assert_eq!(balance(store, a.id).await, 100);
}

pub async fn ledger_concurrent_opposite_transfers_conserve(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let bob = person(store, "bob", Role::User).await;
    let a = open(store, alice).await;
    let b = open(store, bob).await;
    run(
        store,
        vec![deposit(admin, a.id, 500), deposit(admin, b.id, 500)],
    )
    .await;
    let batches = (0..40).map(|n| {
        let request = if n % 2 == 0 {
            transfer(alice, a.id, b.id, 70)
        } else {
            transfer(bob, b.id, a.id, 70)
        };
        store.commit_batch(vec![request], id_renderer())
    });
    for mut results in join_all(batches).await {
        let executed = results
            .remove(0)
            .expect("contention is retried, never surfaced");
        assert!(
            matches!(
                executed.result(),
                Some(Ok(_) | Err(Refusal::InsufficientFunds))
            ),
            "{executed:?}"
        );
    }
    assert_eq!(
        balance(store, a.id).await + balance(store, b.id).await,
        1_000
    );
    let report = store.verify_ledger().await.unwrap();
    assert!(report.ok, "{report}");
}

/// The event log's reads: filters by type (exact and prefix) and creation time, pages by id,
/// one event by id, and the purge of old ones in bounded batches.
pub async fn ledger_events_are_listed_filtered_and_purged(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let a = open(store, alice).await;
    let before = Timestamp::now();
    run(
        store,
        vec![deposit(admin, a.id, 10), deposit(admin, a.id, 20)],
    )
    .await;
    let after = Timestamp::now();

    let transfers = all_events(
        store,
        &EventFilter {
            event_type: TypeFilter::parse("transfer.created"),
            ..EventFilter::default()
        },
    )
    .await;
    assert_eq!(transfers.len(), 2);
    let prefixed = all_events(
        store,
        &EventFilter {
            event_type: TypeFilter::parse("account.*"),
            ..EventFilter::default()
        },
    )
    .await;
    assert_eq!(prefixed, [(EventType::AccountCreated, a.id.to_string())]);
    let nothing = all_events(
        store,
        &EventFilter {
            event_type: TypeFilter::parse("payment.*"),
            ..EventFilter::default()
        },
    )
    .await;
    assert!(nothing.is_empty());
    let window = all_events(
        store,
        &EventFilter {
            created_gte: Some(before),
            created_lt: Some(Timestamp::from_datetime(
                after.as_datetime() + chrono::TimeDelta::microseconds(1),
            )),
            ..EventFilter::default()
        },
    )
    .await;
    assert_eq!(window.len(), 2);
    assert!(
        window
            .iter()
            .all(|(kind, _)| *kind == EventType::TransferCreated)
    );
    let earlier = all_events(
        store,
        &EventFilter {
            created_lt: Some(before),
            ..EventFilter::default()
        },
    )
    .await;
    assert_eq!(earlier, [(EventType::AccountCreated, a.id.to_string())]);

    let newest = store
        .list_events(&EventFilter::default(), PageLimit::new(1).unwrap(), None)
        .await
        .unwrap();
    assert!(newest.has_more);
    let found = store.find_event(newest.data[0].id).await.unwrap();
    assert_eq!(found.as_ref(), newest.data.first());
    assert_eq!(
        store
            .find_event(coffre_domain::event::EventId::new())
            .await
            .unwrap(),
        None
    );

    // Nothing is older than a day; everything is older than tomorrow, purged a batch at a time.
    let yesterday = Timestamp::from_datetime(before.as_datetime() - chrono::TimeDelta::days(1));
    assert_eq!(store.purge_events(yesterday).await.unwrap(), 0);
    let tomorrow = Timestamp::from_datetime(after.as_datetime() + chrono::TimeDelta::days(1));
    assert_eq!(store.purge_events(tomorrow).await.unwrap(), 3);
    assert!(all_events(store, &EventFilter::default()).await.is_empty());
}
