//! Conformance cases for the money path: batches with refusals among accepted commands,
//! system accounts made on first use, idempotency claims (takeover after the lease, lost
//! claims, release, purge), and concurrent opposite transfers.

use std::sync::Arc;

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext};
use coffre_domain::ids::{AccountId, TransferId};
use coffre_domain::ledger::{Account, Action, Command, Outcome, Refusal};
use coffre_domain::money::{Amount, Currency, Money};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, Role};
use futures_util::future::join_all;

use super::list_all;
use crate::idempotency::{CLAIM_LEASE, RETENTION};
use crate::{
    AuditFilter, ClaimOutcome, CreateUser, Executed, Fingerprint, IdempotencyKey, Idempotent,
    LedgerRequest, NewUser, PageLimit, PartyFilter, PasswordHash, Render, Store, StoredResponse,
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

async fn person(store: &dyn Store, name: &str, role: Role) -> Actor {
    let created = store
        .create_user(
            NewUser {
                email: Email::parse(&format!("{name}@ledger.test")).unwrap(),
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
    Actor {
        user_id: user.id,
        role,
    }
}

fn request(actor: Actor, action: Action) -> LedgerRequest {
    LedgerRequest {
        command: Command {
            actor: Some(actor),
            context: AuditContext {
                actor_id: Some(actor.user_id),
                ..AuditContext::default()
            },
            action,
        },
        idempotency: None,
    }
}

async fn run(store: &dyn Store, batch: Vec<LedgerRequest>) -> Vec<Executed> {
    store.execute(batch).await.unwrap()
}

async fn open(store: &dyn Store, owner: Actor) -> Account {
    let action = Action::OpenAccount {
        id: AccountId::new(),
        owner_id: owner.user_id,
        currency: eur(),
        name: None,
    };
    match run(store, vec![request(owner, action)]).await.remove(0) {
        Executed::Decided {
            result: Ok(Outcome::Account(account)),
            ..
        } => account,
        other => panic!("{other:?}"),
    }
}

fn deposit(admin: Actor, account: AccountId, cents: i64) -> LedgerRequest {
    request(
        admin,
        Action::Deposit {
            id: TransferId::new(),
            account_id: account,
            money: eur_cents(cents),
            description: None,
        },
    )
}

fn transfer(owner: Actor, from: AccountId, to: AccountId, cents: i64) -> LedgerRequest {
    request(
        owner,
        Action::Transfer {
            id: TransferId::new(),
            from,
            to,
            money: eur_cents(cents),
            description: None,
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
        .list_accounts(None, PageLimit::DEFAULT, None)
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
            PageLimit::DEFAULT,
            None,
        )
        .await
        .unwrap();
    assert_eq!(transfers.data.len(), 2);
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

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn render_as(status: u16) -> Render {
    Arc::new(move |result| StoredResponse {
        status,
        body: format!("{result:?}").into_bytes(),
    })
}

pub async fn ledger_idempotency_claims_replays_and_takeovers(store: &dyn Store) {
    let admin = person(store, "admin", Role::Admin).await;
    let alice = person(store, "alice", Role::User).await;
    let a = open(store, alice).await;
    let now = Timestamp::now();
    let fingerprint = Fingerprint([7; 32]);
    let other = Fingerprint([8; 32]);

    let ClaimOutcome::Claimed(first) = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), fingerprint, now)
        .await
        .unwrap()
    else {
        panic!("a new key is claimed")
    };
    let again = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), fingerprint, now)
        .await
        .unwrap();
    assert_eq!(again, ClaimOutcome::InFlight);
    let reused = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), other, now)
        .await
        .unwrap();
    assert_eq!(reused, ClaimOutcome::Reused);
    // Keys are per user.
    let alices = store
        .claim_idempotency_key(alice.user_id, &key("k-1"), other, now)
        .await
        .unwrap();
    assert!(matches!(alices, ClaimOutcome::Claimed(_)));

    // The first request's process died: after the lease, a retry takes the key over, and the
    // old claim can no longer complete anything.
    let later = Timestamp::from_datetime(now.as_datetime() + CLAIM_LEASE);
    let ClaimOutcome::Claimed(second) = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), fingerprint, later)
        .await
        .unwrap()
    else {
        panic!("an expired claim is taken over")
    };
    let with_claim = |claim| LedgerRequest {
        idempotency: Some(Idempotent {
            claim,
            render: render_as(201),
        }),
        ..deposit(admin, a.id, 100)
    };
    let stale = run(store, vec![with_claim(first)]).await;
    assert_eq!(stale, [Executed::ClaimLost]);
    assert_eq!(balance(store, a.id).await, 0);

    let done = run(store, vec![with_claim(second)]).await;
    let Some(Ok(Outcome::Transfer(_))) = done[0].result() else {
        panic!("{done:?}")
    };
    // The caller gets the very response the key stored.
    let Executed::Decided {
        response: Some(answered),
        ..
    } = &done[0]
    else {
        panic!("{done:?}")
    };
    assert_eq!(balance(store, a.id).await, 100);
    let replay = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), fingerprint, later)
        .await
        .unwrap();
    let ClaimOutcome::Replay(stored) = replay else {
        panic!("{replay:?}")
    };
    assert_eq!(stored.status, 201);
    assert_eq!(&stored, answered);
    assert!(String::from_utf8(stored.body).unwrap().contains("Transfer"));
    // A completed key stays completed, however old its claim.
    let much_later = Timestamp::from_datetime(later.as_datetime() + CLAIM_LEASE * 10);
    let still = store
        .claim_idempotency_key(admin.user_id, &key("k-1"), fingerprint, much_later)
        .await
        .unwrap();
    assert!(matches!(still, ClaimOutcome::Replay(_)));
}

pub async fn ledger_idempotency_release_and_purge(store: &dyn Store) {
    let user = person(store, "user", Role::User).await;
    let now = Timestamp::now();
    let fingerprint = Fingerprint([1; 32]);
    let ClaimOutcome::Claimed(claim) = store
        .claim_idempotency_key(user.user_id, &key("released"), fingerprint, now)
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    store.release_idempotency_key(&claim).await.unwrap();
    // Released, the key is free even for another request.
    let fresh = store
        .claim_idempotency_key(user.user_id, &key("released"), Fingerprint([2; 32]), now)
        .await
        .unwrap();
    assert!(matches!(fresh, ClaimOutcome::Claimed(_)));

    let kept = store
        .purge_idempotency_keys(Timestamp::from_datetime(now.as_datetime() - RETENTION))
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing is older than the retention");
    let purged = store
        .purge_idempotency_keys(Timestamp::from_datetime(
            now.as_datetime() + chrono::TimeDelta::seconds(1),
        ))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let after_purge = store
        .claim_idempotency_key(user.user_id, &key("released"), fingerprint, now)
        .await
        .unwrap();
    assert!(matches!(after_purge, ClaimOutcome::Claimed(_)));
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
        store.execute(vec![request])
    });
    for result in join_all(batches).await {
        let executed = result.expect("contention is retried, never surfaced");
        assert!(
            matches!(
                executed[0].result(),
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
