//! Extractors whose rejections are JSON `{"error":{...}}` bodies, so axum's default
//! plain-text rejections never reach a client.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use countersign_api::codes;
use serde::de::DeserializeOwned;

use crate::db::idempotency::{is_valid_key, MAX_KEY_LEN};
use crate::error::ApiError;

/// A JSON body. An empty body reads as `{}` so `POST .../approve` needs no body.
/// Every body is a JSON object, and it is read strictly (see [`crate::strict_json`]):
/// an array in place of any object, or a key the type does not know at any depth, is
/// a 400, so no endpoint can accept either by forgetting a check.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim().to_string();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    format!("expected Content-Type: application/json, got {essence:?}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        let text: &[u8] = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => b"{}",
            Some(b'{') => &bytes,
            // Only objects: serde would read an array in field order as a struct.
            Some(_) => {
                return Err(
                    match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                        Ok(_) => ApiError::validation("the request body must be a JSON object"),
                        Err(e) => json_error(e),
                    },
                )
            }
        };
        crate::strict_json::from_slice(text)
            .map(ApiJson)
            .map_err(json_error)
    }
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {} bytes",
                crate::routes::BODY_LIMIT
            ),
        )
    } else {
        ApiError::bad_request(codes::INVALID_BODY, format!("could not read the body: {r}"))
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::validation(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(codes::INVALID_JSON, format!("malformed JSON: {e}"))
        }
    }
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|r: QueryRejection| ApiError::bad_request(codes::INVALID_QUERY, r.body_text()))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|r: PathRejection| ApiError::bad_request(codes::INVALID_PATH, r.body_text()))
    }
}

/// The optional `Idempotency-Key` header: 1 to 200 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(countersign_api::IDEMPOTENCY_HEADER) else {
            return Ok(IdempotencyKey(None));
        };
        let bad = || {
            ApiError::bad_request(
                codes::INVALID_IDEMPOTENCY_KEY,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        };
        let key = v.to_str().map_err(|_| bad())?;
        if !is_valid_key(key) {
            return Err(bad());
        }
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}
