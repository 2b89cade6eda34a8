//! `/key`: pyjwt-key-fetcher's `get_key` over HTTP. The public JWK a token (or `iss` + `kid`)
//! refers to, found the way `/verify` finds it, without verifying anything.

use std::borrow::Cow;

use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::{Endpoint, rejection_response};
use super::{AppState, decision_log, token_source};
use crate::verify::Rejection;

/// Query parameters of `/key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyQuery {
    token: Option<String>,
    iss: Option<String>,
    kid: Option<String>,
}

/// `/key`: the public JWK a token (or `iss` + `kid`) refers to, without verifying anything;
/// the request id is echoed as on `/verify`.
pub(super) async fn key(state: AppState, req: HttpRequest) -> HttpResponse {
    let request_id = decision_log::request_id(&req);
    let mut response = key_answer(state, req).await;
    response.headers_mut().insert(
        HeaderName::from_static(decision_log::REQUEST_ID_HEADER),
        decision_log::request_id_header(&request_id),
    );
    response
}

async fn key_answer(state: AppState, req: HttpRequest) -> HttpResponse {
    let query = match web::Query::<KeyQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => {
            return rejection_response(
                &Rejection::Malformed(format!("bad query: {e}")),
                Endpoint::Key,
            );
        }
    };
    let found = match (
        &query.iss,
        &query.kid,
        query
            .token
            .as_deref()
            .map(Cow::Borrowed)
            .or_else(|| token_source::find_token(&req, &state.rules.token_sources)),
    ) {
        (Some(iss), Some(kid), _) => state.verifier.key_by_id(iss, kid).await,
        (None, None, Some(token)) => state.verifier.key_for_token(&token).await,
        (Some(_), None, _) | (None, Some(_), _) => {
            return rejection_response(
                &Rejection::Malformed("give both iss and kid".into()),
                Endpoint::Key,
            );
        }
        (None, None, None) => return rejection_response(&Rejection::MissingToken, Endpoint::Key),
    };
    match found {
        Ok(info) => HttpResponse::Ok().json(json!({
            "issuer": &*info.issuer,
            "kid": info.key.kid,
            "algorithms": info.key.algorithms,
            "jwk": info.key.jwk,
        })),
        Err(rejected) => rejection_response(&rejected.rejection, Endpoint::Key),
    }
}
