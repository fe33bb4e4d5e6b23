//! The OpenAPI 3 document served at `/api/v1/openapi.json`, generated from the
//! handlers' annotations and the wire types' schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{agent, approvals, decisions, events, meta};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Countersign approvals API",
        description = "Review and decide the approval requests that software agents escalate. \
            Every error is `{\"error\":{\"code\",\"message\"}}`; times are RFC 3339 UTC.\n\n\
            Quorum: an approval created with `required_approvals: N` (1 to 5; the server's \
            `--quorum` rules may raise it) stays `pending` until N distinct approvers \
            approve. Each approve answers 200 with the approval as it stands: still \
            `pending` with the approve listed in `approvals` (partial), or `approved` with \
            the `decision` (complete). Any deny denies it. A second approve by the same \
            approver is 409 `already_approved`. Bulk items say the same through their \
            `approval`."
    ),
    paths(
        approvals::list,
        approvals::get_one,
        approvals::stats,
        approvals::changes,
        approvals::audit,
        decisions::approve,
        decisions::deny,
        decisions::bulk_approve,
        decisions::bulk_deny,
        agent::create_approval,
        agent::record_result,
        events::events,
        meta::healthz,
        meta::me,
        meta::openapi,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "approvals", description = "The approval queue and its details"),
        (name = "decisions", description = "Approve and deny, single and bulk"),
        (name = "agent", description = "The policy engine's side of ESCALATE (agent tokens)"),
        (name = "sync", description = "Incremental sync: change feed and change events"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "meta", description = "Health, identity, this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let limits = limits();
    doc.info.description = Some(match doc.info.description.take() {
        Some(d) => format!("{d}\n\n{limits}"),
        None => limits,
    });
    doc
}

/// The limits a client must know, from the constants the server enforces.
fn limits() -> String {
    use countersign_api as api;
    format!(
        "Limits: request body {body} bytes; summary {summary} characters; deny reason \
         {reason} characters; notes {notes} characters; {ids} ids per bulk request; \
         list and changes pages at most {items} items and about {page} bytes of JSON \
         (the server stops adding items before a page passes {page} bytes, but a page \
         always holds at least one item, so a single large approval may make a page of up \
         to {page} bytes plus that approval). Follow `next_cursor` / `has_more` for the rest.",
        body = api::MAX_BODY_BYTES,
        summary = agent::MAX_SUMMARY,
        reason = api::MAX_REASON_CHARS,
        notes = api::MAX_NOTES_CHARS,
        ids = api::MAX_BULK_IDS,
        items = api::MAX_PAGE_LIMIT,
        page = api::MAX_PAGE_BYTES,
    )
}
