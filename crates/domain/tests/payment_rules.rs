//! The payment typestate's rules, one by one, through its public API: each transition's exact
//! result (read through `AnyPayment::view`, the form storage and the API see), the bounds of
//! capture and refund at their edges, expiry at its deadline, and every corruption a stored view
//! can carry refused with the field it names.
#![allow(clippy::unwrap_used, clippy::panic, clippy::arithmetic_side_effects)]

use chrono::{DateTime, TimeDelta};
use coffre_domain::ids::{AccountId, PaymentId};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money};
use coffre_domain::payment::{
    AfterRefund, AnyPayment, AuthorizationCode, CorruptPayment, FailureReason, Payment,
    PaymentState, PaymentView, Pending, Terms, TooMuch,
};
use coffre_domain::time::Timestamp;

const AMOUNT: i64 = 1_000;

/// A fixed instant, `secs` after 2026-01-01T00:00:00Z.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(secs),
    )
}

fn amount(minor: i64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

fn terms() -> Terms {
    Terms {
        id: PaymentId::new(),
        payer_account_id: AccountId::new(),
        payee_account_id: AccountId::new(),
        money: Money {
            amount: amount(AMOUNT),
            currency: Currency::parse("EUR").unwrap(),
        },
        created_at: at(0),
        metadata: Metadata::default(),
    }
}

fn pending() -> Payment<Pending> {
    Payment::new(terms())
}

fn code() -> AuthorizationCode {
    AuthorizationCode::new("0123456789abcdef".into())
}

fn reason(text: &str) -> FailureReason {
    FailureReason::parse(text.into()).unwrap()
}

/// What every view shares with its terms.
fn assert_terms(view: &PaymentView, terms: &Terms) {
    assert_eq!(view.id, terms.id);
    assert_eq!(view.payer_account_id, terms.payer_account_id);
    assert_eq!(view.payee_account_id, terms.payee_account_id);
    assert_eq!(view.amount, terms.money.amount);
    assert_eq!(view.currency, terms.money.currency);
    assert_eq!(view.created_at, terms.created_at);
}

#[test]
fn a_new_payment_is_pending_and_holds_nothing() {
    let terms = terms();
    let payment = AnyPayment::Pending(Payment::new(terms.clone()));
    assert_eq!(payment.terms(), &terms);
    assert_eq!(payment.state(), PaymentState::Pending);
    let view = payment.view();
    assert_terms(&view, &terms);
    assert_eq!(view.state, PaymentState::Pending);
    assert_eq!(
        (
            view.authorized_minor,
            view.captured_minor,
            view.refunded_minor
        ),
        (0, 0, 0)
    );
    assert_eq!(view.authorization_code, None);
    assert_eq!(view.failure_reason, None);
    assert_eq!(view.expires_at, None);
    assert_eq!(view.updated_at, at(0));
}

#[test]
fn authorizing_holds_the_whole_amount_until_now_plus_the_ttl() {
    let authorized = pending().authorize(code(), TimeDelta::seconds(30), at(10));
    assert_eq!(authorized.held(), amount(AMOUNT));
    let view = AnyPayment::Authorized(authorized).view();
    assert_eq!(view.state, PaymentState::Authorized);
    assert_eq!(view.authorized_minor, AMOUNT);
    assert_eq!((view.captured_minor, view.refunded_minor), (0, 0));
    assert_eq!(view.authorization_code.as_deref(), Some("0123456789abcdef"));
    assert_eq!(view.failure_reason, None);
    assert_eq!(view.expires_at, Some(at(40)));
    assert_eq!(view.updated_at, at(10));
    assert_eq!(view.created_at, at(0));
}

#[test]
fn a_ttl_past_the_calendar_expires_at_once_rather_than_never() {
    let authorized = pending().authorize(code(), TimeDelta::MAX, at(10));
    assert_eq!(
        AnyPayment::Authorized(authorized.clone()).view().expires_at,
        Some(at(10))
    );
}

#[test]
fn expiry_cancels_with_reason_expired_and_keeps_the_code() {
    let authorized = pending().authorize(code(), TimeDelta::seconds(30), at(0));
    let view = AnyPayment::Canceled(authorized.expire(at(31))).view();
    assert_eq!(view.state, PaymentState::Canceled);
    assert_eq!(view.failure_reason.as_deref(), Some("expired"));
    assert_eq!(view.authorization_code.as_deref(), Some("0123456789abcdef"));
    assert_eq!(
        (
            view.authorized_minor,
            view.captured_minor,
            view.refunded_minor
        ),
        (0, 0, 0)
    );
    assert_eq!(view.expires_at, None);
    assert_eq!(view.updated_at, at(31));
}

#[test]
fn cancel_keeps_the_code_only_if_there_was_one_and_gives_no_reason() {
    let from_pending = AnyPayment::Canceled(pending().cancel(at(5))).view();
    assert_eq!(from_pending.state, PaymentState::Canceled);
    assert_eq!(from_pending.authorization_code, None);
    assert_eq!(from_pending.failure_reason, None);
    assert_eq!(from_pending.updated_at, at(5));

    let authorized = pending().authorize(code(), TimeDelta::seconds(30), at(1));
    let from_authorized = AnyPayment::Canceled(authorized.cancel(at(6))).view();
    assert_eq!(
        from_authorized.authorization_code.as_deref(),
        Some("0123456789abcdef")
    );
    assert_eq!(from_authorized.failure_reason, None);
    assert_eq!(from_authorized.authorized_minor, 0);
    assert_eq!(from_authorized.updated_at, at(6));
}

#[test]
fn failing_records_the_reason_and_holds_nothing() {
    let view = AnyPayment::Failed(pending().fail(reason("card declined"), at(3))).view();
    assert_eq!(view.state, PaymentState::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("card declined"));
    assert_eq!(view.authorization_code, None);
    assert_eq!(
        (
            view.authorized_minor,
            view.captured_minor,
            view.refunded_minor
        ),
        (0, 0, 0)
    );
    assert_eq!(view.updated_at, at(3));
}

#[test]
fn capture_takes_up_to_the_authorized_amount_and_no_more() {
    let authorized = pending().authorize(code(), TimeDelta::seconds(30), at(0));

    let TooMuch(back) = authorized
        .clone()
        .capture(Some(amount(AMOUNT + 1)), at(1))
        .unwrap_err();
    assert_eq!(
        *back, authorized,
        "a refused capture gives the payment back unchanged"
    );

    for (asked, captured) in [(None, AMOUNT), (Some(AMOUNT), AMOUNT), (Some(1), 1)] {
        let payment = authorized
            .clone()
            .capture(asked.map(amount), at(2))
            .unwrap();
        assert_eq!(payment.refundable(), amount(captured));
        let view = AnyPayment::Captured(payment).view();
        assert_eq!(view.state, PaymentState::Captured);
        assert_eq!(view.authorized_minor, AMOUNT);
        assert_eq!(view.captured_minor, captured);
        assert_eq!(view.refunded_minor, 0);
        assert_eq!(view.authorization_code.as_deref(), Some("0123456789abcdef"));
        assert_eq!(view.expires_at, None);
        assert_eq!(view.updated_at, at(2));
    }
}

#[test]
fn refunds_cumulate_up_to_the_captured_amount_exactly() {
    let captured = pending()
        .authorize(code(), TimeDelta::seconds(30), at(0))
        .capture(Some(amount(600)), at(1))
        .unwrap();

    let TooMuch(back) = captured
        .clone()
        .refund(Some(amount(601)), at(2))
        .unwrap_err();
    assert_eq!(*back, captured);

    let (first, after) = captured.refund(Some(amount(100)), at(2)).unwrap();
    assert_eq!(first, amount(100));
    let AfterRefund::Partly(captured) = after else {
        panic!("{after:?}")
    };
    assert_eq!(captured.refundable(), amount(500));
    let view = AnyPayment::Captured(captured.clone()).view();
    assert_eq!(
        (view.captured_minor, view.refunded_minor, view.updated_at),
        (600, 100, at(2))
    );

    let (second, after) = captured.refund(Some(amount(499)), at(3)).unwrap();
    assert_eq!(second, amount(499));
    let AfterRefund::Partly(captured) = after else {
        panic!("{after:?}")
    };
    assert_eq!(captured.refundable(), amount(1));
    assert_eq!(
        AnyPayment::Captured(captured.clone()).view().refunded_minor,
        599
    );

    let TooMuch(captured) = captured.refund(Some(amount(2)), at(4)).unwrap_err();
    let (last, after) = captured.refund(Some(amount(1)), at(5)).unwrap();
    assert_eq!(last, amount(1));
    let AfterRefund::Fully(refunded) = after else {
        panic!("{after:?}")
    };
    let view = AnyPayment::Refunded(refunded).view();
    assert_eq!(view.state, PaymentState::Refunded);
    assert_eq!(
        (
            view.authorized_minor,
            view.captured_minor,
            view.refunded_minor
        ),
        (AMOUNT, 600, 600)
    );
    assert_eq!(view.authorization_code.as_deref(), Some("0123456789abcdef"));
    assert_eq!(view.updated_at, at(5));
}

#[test]
fn a_refund_without_an_amount_returns_what_remains() {
    let captured = pending()
        .authorize(code(), TimeDelta::seconds(30), at(0))
        .capture(None, at(1))
        .unwrap();
    let (all, after) = captured.clone().refund(None, at(2)).unwrap();
    assert_eq!(all, amount(AMOUNT));
    assert!(matches!(after, AfterRefund::Fully(_)), "{after:?}");

    let (_, after) = captured.refund(Some(amount(250)), at(2)).unwrap();
    let AfterRefund::Partly(captured) = after else {
        panic!("{after:?}")
    };
    let (rest, after) = captured.refund(None, at(3)).unwrap();
    assert_eq!(rest, amount(750));
    let AfterRefund::Fully(refunded) = after else {
        panic!("{after:?}")
    };
    assert_eq!(AnyPayment::Refunded(refunded).view().refunded_minor, AMOUNT);
}

#[test]
fn states_have_one_name_each() {
    let names = [
        (PaymentState::Pending, "pending"),
        (PaymentState::Authorized, "authorized"),
        (PaymentState::Captured, "captured"),
        (PaymentState::Refunded, "refunded"),
        (PaymentState::Failed, "failed"),
        (PaymentState::Canceled, "canceled"),
    ];
    for (state, name) in names {
        assert_eq!(state.as_str(), name);
        assert_eq!(state.to_string(), name);
        assert_eq!(PaymentState::parse(name), Some(state));
    }
    assert_eq!(PaymentState::parse("Pending"), None);
    assert_eq!(PaymentState::parse(""), None);
}

/// One payment in each state the types allow.
fn every_state() -> Vec<AnyPayment> {
    let authorized = pending().authorize(code(), TimeDelta::seconds(30), at(1));
    let captured = authorized
        .clone()
        .capture(Some(amount(400)), at(2))
        .unwrap();
    let captured_all = authorized.clone().capture(None, at(2)).unwrap();
    let (_, partly) = captured.clone().refund(Some(amount(100)), at(3)).unwrap();
    let AfterRefund::Partly(partly) = partly else {
        panic!("{partly:?}")
    };
    let (_, fully) = captured.clone().refund(None, at(3)).unwrap();
    let AfterRefund::Fully(fully) = fully else {
        panic!("{fully:?}")
    };
    vec![
        AnyPayment::Pending(pending()),
        AnyPayment::Authorized(authorized.clone()),
        AnyPayment::Captured(captured),
        AnyPayment::Captured(captured_all),
        AnyPayment::Captured(partly),
        AnyPayment::Refunded(fully),
        AnyPayment::Failed(pending().fail(reason("card declined"), at(1))),
        AnyPayment::Canceled(pending().cancel(at(1))),
        AnyPayment::Canceled(authorized.clone().cancel(at(2))),
        AnyPayment::Canceled(authorized.expire(at(40))),
    ]
}

#[test]
fn every_state_round_trips_through_its_view() {
    for payment in every_state() {
        let view = payment.view();
        assert_eq!(view.clone().into_payment(), Ok(payment), "{view:?}");
    }
}

/// Reads `view` back after `edit`, expecting the refusal to name `what`.
fn refused(payment: &AnyPayment, edit: impl FnOnce(&mut PaymentView), what: &'static str) {
    let mut view = payment.view();
    edit(&mut view);
    let expected = CorruptPayment {
        id: view.id,
        state: view.state,
        what,
    };
    assert_eq!(view.clone().into_payment(), Err(expected), "{view:?}");
}

#[test]
fn a_corrupt_pending_or_failed_or_canceled_view_is_refused() {
    let [pending, authorized, captured, ..] = <[AnyPayment; 10]>::try_from(every_state()).unwrap();
    let failed = AnyPayment::Failed(Payment::new(terms()).fail(reason("declined"), at(1)));
    let canceled = AnyPayment::Canceled(Payment::new(terms()).cancel(at(1)));

    refused(&pending, |v| v.authorized_minor = AMOUNT, "amounts");
    refused(&pending, |v| v.captured_minor = 1, "amounts");
    refused(&pending, |v| v.refunded_minor = 1, "amounts");
    refused(
        &pending,
        |v| v.authorization_code = Some("c".into()),
        "amounts",
    );
    refused(
        &pending,
        |v| v.failure_reason = Some(String::new()),
        "failure_reason",
    );

    refused(&failed, |v| v.captured_minor = 1, "amounts");
    refused(&failed, |v| v.refunded_minor = 1, "amounts");
    refused(&failed, |v| v.failure_reason = None, "failure_reason");
    refused(&canceled, |v| v.captured_minor = 1, "amounts");
    refused(&canceled, |v| v.refunded_minor = 1, "amounts");

    // A state's name with another state's amounts.
    refused(&authorized, |v| v.state = PaymentState::Pending, "amounts");
    refused(&captured, |v| v.state = PaymentState::Failed, "amounts");
    refused(&captured, |v| v.state = PaymentState::Canceled, "amounts");
}

#[test]
fn a_corrupt_authorized_view_is_refused() {
    let authorized = &every_state()[1];
    refused(authorized, |v| v.authorized_minor = AMOUNT - 1, "amounts");
    refused(authorized, |v| v.captured_minor = 1, "amounts");
    refused(authorized, |v| v.refunded_minor = 1, "amounts");
    refused(
        authorized,
        |v| v.authorization_code = None,
        "authorization_code",
    );
    refused(authorized, |v| v.expires_at = None, "expires_at");
}

#[test]
fn a_corrupt_captured_or_refunded_view_is_refused() {
    let states = every_state();
    let (captured, refunded) = (&states[2], &states[5]);
    // Captured means some of it is still refundable.
    refused(captured, |v| v.refunded_minor = v.captured_minor, "amounts");
    refused(
        captured,
        |v| v.refunded_minor = v.captured_minor + 1,
        "amounts",
    );
    refused(
        captured,
        |v| v.authorization_code = None,
        "authorization_code",
    );
    refused(
        captured,
        |v| v.captured_minor = AMOUNT + 1,
        "captured_amount",
    );
    refused(captured, |v| v.refunded_minor = -1, "refunded_amount");
    // All of it captured is a valid capture.
    let mut all = captured.view();
    all.captured_minor = AMOUNT;
    assert!(all.into_payment().is_ok());

    // Refunded means all of it came back.
    refused(
        refunded,
        |v| v.refunded_minor = v.captured_minor - 1,
        "amounts",
    );
    refused(
        refunded,
        |v| v.authorization_code = None,
        "authorization_code",
    );
    refused(
        refunded,
        |v| {
            v.captured_minor = AMOUNT + 1;
            v.refunded_minor = AMOUNT + 1;
        },
        "captured_amount",
    );
    refused(
        refunded,
        |v| {
            v.captured_minor = 0;
            v.refunded_minor = 0;
        },
        "captured_amount",
    );
    let mut all = refunded.view();
    all.captured_minor = AMOUNT;
    all.refunded_minor = AMOUNT;
    assert!(all.into_payment().is_ok());
}
