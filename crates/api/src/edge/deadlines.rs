//! The request body's deadline: a client that announces a body and sends it slowly (or not
//! at all) would otherwise hold its in-flight slot, and its connection, until the request
//! timeout. The body must have arrived [`BODY_READ_TIMEOUT`] after the request's head did;
//! past it, reading the body fails and the request answers 400 `MALFORMED_REQUEST`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// How long a body may take to arrive, from the end of the request's head. The largest body
/// (64 KiB) needs only 13 KB/s to make it.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Reading the body outlived [`BODY_READ_TIMEOUT`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the body did not arrive within {} s", BODY_READ_TIMEOUT.as_secs())]
pub struct BodyDeadlinePassed;

/// Gives the request's body its deadline.
pub async fn body_deadline(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(BODY_READ_TIMEOUT)),
    });
    next.run(Request::from_parts(parts, body)).await
}

struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyDeadlinePassed)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
