//! A command for the ledger engine, read from its request in API.md's order of checks, once for
//! every route that sends one: the token's signature, then the `Idempotency-Key`, the body and
//! whatever the route checks in it; any of these failing answers only once the session lets the
//! bearer in (authentication answers before anything else). A command that passes them all
//! reads its session in the ledger batch's transaction instead (DESIGN.md §2).

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use coffre_domain::ledger::Action;
use coffre_store::{Fingerprint, IdempotencyKey};
use http::StatusCode;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::auth::caller::Bearer;
use crate::engine;
use crate::error::ApiError;
use crate::idempotency::{Fingerprinted, KeyHeader, RequestFingerprint};
use crate::state::AppState;

/// Whether the route requires an `Idempotency-Key` (API.md "Idempotency") or only accepts one.
pub(crate) trait KeyRule {
    fn check(key: KeyHeader) -> Result<Option<IdempotencyKey>, ApiError>;
}

pub(crate) enum KeyRequired {}

impl IntoParams for KeyRequired {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![key_parameter(Required::True)]
    }
}

impl KeyRule for KeyRequired {
    fn check(key: KeyHeader) -> Result<Option<IdempotencyKey>, ApiError> {
        key.required().map(Some)
    }
}

pub(crate) enum KeyOptional {}

impl IntoParams for KeyOptional {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![key_parameter(Required::False)]
    }
}

/// The `Idempotency-Key` header as the OpenAPI document declares it.
fn key_parameter(required: Required) -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(required)
        .description(Some(
            "1 to 255 printable ASCII characters, scoped to the caller",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[!-~]{1,255}$")),
        ))
        .build()
}

impl KeyRule for KeyOptional {
    fn check(key: KeyHeader) -> Result<Option<IdempotencyKey>, ApiError> {
        Ok(key.0)
    }
}

/// The body of a route that takes none: the fingerprint is the method and path, and a body sent
/// anyway is not read.
pub(crate) struct NoBody;

/// How a command's body is read, with the request's fingerprint.
pub(crate) trait CommandBody: Sized {
    fn read(
        request: Request,
        state: &AppState,
    ) -> impl Future<Output = Result<(Self, Fingerprint), ApiError>> + Send;
}

impl<T: DeserializeOwned + Send> CommandBody for T {
    async fn read(request: Request, state: &AppState) -> Result<(Self, Fingerprint), ApiError> {
        let Fingerprinted { body, fingerprint } =
            Fingerprinted::from_request(request, state).await?;
        Ok((body, fingerprint))
    }
}

impl CommandBody for NoBody {
    async fn read(request: Request, state: &AppState) -> Result<(Self, Fingerprint), ApiError> {
        let (mut parts, _) = request.into_parts();
        let RequestFingerprint(fingerprint) =
            RequestFingerprint::from_request_parts(&mut parts, state).await?;
        Ok((Self, fingerprint))
    }
}

/// A command's request: body `B`, key rule `K`. Its handler builds the [`Action`] from the body
/// and submits it.
pub(crate) struct Command<B, K = KeyOptional> {
    bearer: Bearer,
    /// The route's `{id}`, `""` on a route without one.
    id: String,
    sent: Result<(Option<IdempotencyKey>, B, Fingerprint), ApiError>,
    key: PhantomData<K>,
}

impl<B: CommandBody, K: KeyRule> FromRequest<AppState> for Command<B, K> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        // A bad token and a path that is not UTF-8 answer at once; neither needs the session.
        let bearer = Bearer::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let id = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_owned())
            .unwrap_or_default();
        let key = KeyHeader::from_request_parts(&mut parts, state)
            .await
            .and_then(K::check);
        // Read even when the key is wrong, as any body is: the connection stays usable.
        let read = B::read(Request::from_parts(parts, body), state).await;
        let sent = key.and_then(|key| read.map(|(body, fingerprint)| (key, body, fingerprint)));
        Ok(Self {
            bearer,
            id,
            sent,
            key: PhantomData,
        })
    }
}

impl<B, K> Command<B, K> {
    /// Builds the action from the body and the route's `{id}`, and submits it. `success` is as
    /// [`engine::submit`] takes it.
    pub(crate) async fn submit(
        self,
        state: &AppState,
        success: StatusCode,
        build: impl FnOnce(B, &str) -> Result<Action, ApiError>,
    ) -> Result<Response, ApiError> {
        let (ready, action) = self.prepare(state, build).await?;
        ready.submit(state, action, success).await
    }

    /// The checks of [`Command::submit`] without submitting, for a handler that has more to
    /// check once the session is read: `build`'s value and the command ready to be submitted.
    pub(crate) async fn prepare<T>(
        self,
        state: &AppState,
        build: impl FnOnce(B, &str) -> Result<T, ApiError>,
    ) -> Result<(Ready, T), ApiError> {
        let id = self.id;
        let prepared = self.sent.and_then(|(key, body, fingerprint)| {
            build(body, &id).map(|value| (key, fingerprint, value))
        });
        let (key, fingerprint, value) = self.bearer.first(state, prepared).await?;
        let ready = Ready {
            bearer: self.bearer,
            key,
            fingerprint,
        };
        Ok((ready, value))
    }
}

/// A command whose request passed its checks.
pub(crate) struct Ready {
    bearer: Bearer,
    key: Option<IdempotencyKey>,
    fingerprint: Fingerprint,
}

impl Ready {
    pub(crate) fn bearer(&self) -> &Bearer {
        &self.bearer
    }

    pub(crate) async fn submit(
        self,
        state: &AppState,
        action: Action,
        success: StatusCode,
    ) -> Result<Response, ApiError> {
        engine::submit(
            state,
            &self.bearer,
            self.key,
            self.fingerprint,
            action,
            success,
        )
        .await
    }
}
