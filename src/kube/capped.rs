//! Every response body from the API server read up to a cap. k3s runs as
//! the target user, so the API server answering root's `krc accept` is the
//! user's process: kube's client collects a whole body into memory, and an
//! endless one would fill root's. The client is built from kube's own
//! tower stack with one more layer that wraps each response body in
//! [`http_body_util::Limited`]: the read stops at
//! [`limits::API_BODY`](crate::host::probes::limits::API_BODY) with an
//! error that [`over_cap`] recognises, said as "the API server's answer
//! was larger than 8 MiB".

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::{LengthLimitError, Limited};
use kube::client::{Body, ClientBuilder};
use kube::{Client, Config};

use crate::host::probes::limits;

/// A kube client whose response bodies stop at `cap` bytes. Must be
/// called inside the runtime the client will run on.
pub(crate) fn client(cfg: Config, cap: usize) -> Result<Client, kube::Error> {
    Ok(ClientBuilder::try_from(cfg)?
        .with_layer(&CapBodies(cap))
        .build())
}

/// What a call says when a body passed its cap, if that is why `e` is.
pub(crate) fn over_cap(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<LengthLimitError>() || err.to_string() == "length limit exceeded" {
            return Some(too_large(limits::API_BODY));
        }
        cur = err.source();
    }
    None
}

pub(crate) fn too_large(cap: usize) -> String {
    format!(
        "the API server's answer was larger than {}: krc stopped reading it (k3s runs as the target user; a server that answers this much is not a plain k3s: check it with `kubectl get --raw /version`)",
        limits::shown(cap)
    )
}

/// The layer: each response's body becomes `Limited` to the cap.
struct CapBodies(usize);

impl<S> tower::Layer<S> for CapBodies {
    type Service = Capped<S>;
    fn layer(&self, inner: S) -> Capped<S> {
        Capped { inner, cap: self.0 }
    }
}

#[derive(Clone)]
pub(crate) struct Capped<S> {
    inner: S,
    cap: usize,
}

type Answer<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<Limited<B>>, E>> + Send>>;

impl<S, B> tower::Service<http::Request<Body>> for Capped<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Limited<B>>;
    type Error = S::Error;
    type Future = Answer<B, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let answer = self.inner.call(req);
        let cap = self.cap;
        Box::pin(async move {
            answer
                .await
                .map(|res| res.map(|body| Limited::new(body, cap)))
        })
    }
}
