//! The handlers' one door to the ledger engine: a command goes in with its session and key, to
//! be checked in the batch's transaction; its result is rendered once, into the bytes both
//! answered now and stored for replays.

use std::sync::Arc;

use axum::response::Response;
use coffre_domain::ledger::{Action, CommandResult, Outcome, Refusal};
use coffre_store::{
    Executed, Fingerprint, IdempotencyKey, Keyed, LedgerRequest, Origin, Responder, StoreError,
    StoredResponse,
};
use http::StatusCode;
use serde::Serialize;

use crate::auth::caller::Bearer;
use crate::code::ErrorCode;
use crate::edge::metrics;
use crate::envelope;
use crate::error::ApiError;
use crate::idempotency::{self, final_response};
use crate::routes::bodies::{AccountBody, HoldBody, PaymentBody, TransactionBody, TransferBody};
use crate::state::AppState;

/// Runs `action` for `bearer`, whose session the batch reads in its own transaction. With a
/// key, a repeat of a completed request replays its first response instead, and the response
/// is stored in the effect's own transaction.
/// `success` is the status of an accepted command whose outcome is an account or a payment
/// (201 when it creates one, 200 when it changes one); a movement or a transaction always
/// answers 201.
pub(crate) async fn submit(
    state: &AppState,
    bearer: &Bearer,
    key: Option<IdempotencyKey>,
    fingerprint: Fingerprint,
    action: Action,
    success: StatusCode,
) -> Result<Response, ApiError> {
    let rendering = Arc::new(Rendering {
        success,
        request_id: bearer.client.request_id.as_str().to_owned(),
    });
    let action_name = action.name();
    let request = LedgerRequest {
        origin: Origin::User {
            session_id: bearer.session_id,
            user_id: bearer.user_id,
            idempotency: key.map(|key| Keyed {
                key,
                fingerprint,
                responder: rendering.clone(),
            }),
        },
        context: bearer.audit(),
        action,
    };
    match state.dispatcher().enqueue(request).await? {
        Executed::Decided { result, response } => {
            metrics::ledger_command(action_name, &outcome(&result));
            // A key's response was rendered in its transaction; the rest are rendered here.
            let response = response.unwrap_or_else(|| rendering.render(&result));
            if response.status < 500 {
                return Ok(final_response(response));
            }
            // Not stored (API.md keeps no 5xx): answer through the error path, which logs the
            // cause.
            Err(match result {
                Err(refusal) => ApiError::Refused(refusal),
                Ok(_) => ApiError::Store(StoreError::Internal(
                    "the response could not be rendered".into(),
                )),
            })
        }
        Executed::Replayed(stored) => Ok(idempotency::replayed(stored)),
        Executed::KeyReused => Err(ApiError::IdempotencyKeyReused),
        Executed::KeyInUse => Err(ApiError::IdempotencyKeyInUse),
        Executed::Unauthenticated(refused) => Err(refused.into()),
    }
}

/// How one request's result is answered: the status of an accepted account or payment, and
/// the request id a refusal's envelope names.
struct Rendering {
    success: StatusCode,
    request_id: String,
}

impl Rendering {
    /// The one rendering of a command's result. A refusal renders as its error envelope, naming
    /// the request that first made it.
    fn render(&self, result: &CommandResult) -> StoredResponse {
        let (success, request_id) = (self.success, self.request_id.as_str());
        match result {
            Ok(Outcome::Account(account)) => json(success, &AccountBody::from(account)),
            Ok(Outcome::Transfer(transfer)) => {
                json(StatusCode::CREATED, &TransferBody::from(transfer))
            }
            Ok(Outcome::Payment(payment)) => json(success, &PaymentBody::from(payment)),
            Ok(Outcome::Hold(hold)) => json(success, &HoldBody::from(hold)),
            Ok(Outcome::Transaction(transaction)) => {
                json(StatusCode::CREATED, &TransactionBody::from(transaction))
            }
            // The payment is now failed, and the request says why.
            Ok(Outcome::AuthorizationDeclined(_)) => error(Refusal::InsufficientFunds, request_id),
            Err(refusal) => error(refusal.clone(), request_id),
        }
    }
}

impl Responder for Rendering {
    /// API.md: a key keeps its first response, except a 5xx, after which the same request may
    /// run again.
    fn response_to_keep(&self, result: &CommandResult) -> Option<StoredResponse> {
        Some(self.render(result)).filter(|response| response.status < 500)
    }
}

/// `ok`, or the refusal's error code in lower case, for the metrics.
fn outcome(result: &CommandResult) -> String {
    match result {
        Ok(Outcome::AuthorizationDeclined(_)) => {
            ErrorCode::InsufficientFunds.as_str().to_ascii_lowercase()
        }
        Ok(_) => "ok".to_owned(),
        Err(refusal) => ApiError::Refused(refusal.clone())
            .code()
            .as_str()
            .to_ascii_lowercase(),
    }
}

fn error(refusal: Refusal, request_id: &str) -> StoredResponse {
    let error = ApiError::Refused(refusal);
    let code = error.code();
    StoredResponse {
        status: code.status().as_u16(),
        body: envelope::render(code, &error.public_message(), error.details(), request_id),
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> StoredResponse {
    match serde_json::to_vec(body) {
        Ok(body) => StoredResponse {
            status: status.as_u16(),
            body,
        },
        Err(error) => {
            tracing::error!(%error, "could not serialize a response body");
            StoredResponse {
                status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
                body: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use coffre_domain::money::Currency;

    use super::*;

    #[test]
    fn a_key_keeps_every_response_but_a_5xx() {
        let rendering = Rendering {
            success: StatusCode::CREATED,
            request_id: "req-1".to_owned(),
        };
        let refused = Err(Refusal::InsufficientFunds);
        assert_eq!(
            rendering.response_to_keep(&refused),
            Some(rendering.render(&refused))
        );
        let broken = Err(Refusal::SystemAccountMissing(
            Currency::parse("EUR").unwrap(),
        ));
        assert_eq!(rendering.render(&broken).status, 500);
        assert_eq!(rendering.response_to_keep(&broken), None);
    }
}
