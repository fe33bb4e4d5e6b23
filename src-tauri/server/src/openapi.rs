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
            Every error is `{\"error\":{\"code\",\"message\"}}`; times are RFC 3339 UTC."
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
    ApiDoc::openapi()
}
