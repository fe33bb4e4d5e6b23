//! The OpenAPI 3 document served at `/api/v1/openapi.json`, generated from the
//! handlers' annotations and the wire types' schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{agent, approvals, audit_head, decisions, devices, events, meta};

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
            `approval`.\n\n\
            Tokens: every request is checked against its token's state. An unknown token \
            is 401 `unauthorized`; a revoked one (`countersign-server revoke-token`, or \
            revoking the device key it registered) is 401 `token_revoked`; one past its \
            expiry (`add-token --expires`) is 401 `token_expired`. Clients treat the last \
            two as \"signed out: sign in again\".\n\n\
            Agent scope: an agent token is bound to the agent ids it may speak for \
            (`add-token --agent`; a token without a binding is bound to its subject). \
            Creating an approval for another `agent.id` is 403 `agent_not_allowed`; the \
            list, detail, audit, stats, change feed and events of an agent token cover its \
            bound agent ids only (anything else is 404 like a missing approval), and so \
            does recording a result. Approver tokens read the whole org."
    ),
    paths(
        approvals::list,
        approvals::get_one,
        approvals::stats,
        approvals::changes,
        approvals::audit,
        audit_head::head,
        audit_head::server_key,
        decisions::approve,
        decisions::deny,
        decisions::bulk_approve,
        decisions::bulk_deny,
        devices::register,
        devices::list,
        devices::revoke,
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
        (name = "devices", description = "Approvers' device keys, which sign decisions (receipts)"),
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

/// The document as served. JSON rather than utoipa's type: the edits below produce
/// schemas utoipa's own types do not read back.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    let limits = limits();
    doc.info.description = Some(match doc.info.description.take() {
        Some(d) => format!("{d}\n\n{limits}\n\n{STRICT_BODIES}"),
        None => format!("{limits}\n\n{STRICT_BODIES}"),
    });
    // The derives describe the Rust types; what the server enforces on input beyond
    // them (strict bodies, the forms of ids and keys) is stated here, from the same
    // rules, so a client or a fuzzer reading the document sees what is refused.
    let mut value = serde_json::to_value(&doc).unwrap_or_else(|e| {
        // Plain data with string keys: cannot fail, but never panic in a handler.
        tracing::error!(error = %e, "OpenAPI document does not serialise");
        serde_json::Value::Null
    });
    strict::close_request_objects(&mut value);
    strict::describe_parameters(&mut value);
    strict::rate_limited_responses(&mut value);
    value
}

const STRICT_BODIES: &str = "Request bodies are JSON objects (an array in place of any \
    object is refused), and a key the server does not know is refused at any depth \
    (`additionalProperties: false` on every object a request body contains, except the \
    free-form `params`, `output` and `risk` extras). Responses are open: a client must \
    ignore keys it does not know, since newer servers add fields.";

/// Edits of the generated document, on its JSON form.
mod strict {
    use serde_json::{json, Map, Value};

    /// Every object schema reachable from a request body, which states no
    /// `additionalProperties` of its own, gets `additionalProperties: false`: the
    /// extractor refuses unknown keys at every depth (`crate::strict_json`). A schema
    /// that keeps extra keys (`RiskSnapshot`, flattened) already says so and is left.
    pub fn close_request_objects(doc: &mut Value) {
        let mut pending: Vec<String> = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for op in paths
                .values()
                .filter_map(Value::as_object)
                .flat_map(|p| p.values())
            {
                if let Some(content) = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                {
                    for media in content.values() {
                        collect_refs(media.get("schema"), &mut pending);
                    }
                }
            }
        }
        let mut done: Vec<String> = Vec::new();
        while let Some(name) = pending.pop() {
            if done.contains(&name) {
                continue;
            }
            let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else {
                continue;
            };
            close(schema);
            collect_refs(Some(schema), &mut pending);
            done.push(name);
        }
    }

    /// `additionalProperties: false` on this object schema and the inline objects in it.
    fn close(schema: &mut Value) {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        let is_object = obj.contains_key("properties")
            || obj.get("type").is_some_and(|t| {
                t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object")))
            });
        if is_object && !obj.contains_key("additionalProperties") {
            obj.insert("additionalProperties".into(), Value::Bool(false));
        }
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.values_mut().for_each(close);
        }
        if let Some(items) = obj.get_mut("items") {
            close(items);
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = obj.get_mut(key).and_then(Value::as_array_mut) {
                list.iter_mut().for_each(close);
            }
        }
    }

    /// The component names `$ref`'d anywhere under `schema`.
    fn collect_refs(schema: Option<&Value>, out: &mut Vec<String>) {
        match schema {
            Some(Value::Object(m)) => {
                if let Some(name) = m
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_string());
                }
                m.values().for_each(|v| collect_refs(Some(v), out));
            }
            Some(Value::Array(a)) => a.iter().for_each(|v| collect_refs(Some(v), out)),
            _ => {}
        }
    }

    /// Every operation that takes a bearer token may answer 429 `rate_limited` with
    /// `Retry-After` (`crate::limits`).
    pub fn rate_limited_responses(doc: &mut Value) {
        let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
            return;
        };
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(Map::values_mut)
            .filter(|op| op.get("security").is_some())
        {
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                responses.insert(
                    "429".into(),
                    json!({
                        "description": "Over this token's rate limit (code `rate_limited`); \
                            retry after the seconds in Retry-After",
                        "headers": {"Retry-After": {
                            "description": "Seconds to wait before retrying",
                            "required": true,
                            "schema": {"type": "integer", "minimum": 1}
                        }},
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }}
                    }),
                );
            }
        }
    }

    /// `schema`, or an empty value, which the server reads as absent (`?from=&to=`).
    fn or_empty(schema: Value) -> Value {
        json!({"anyOf": [schema, {"type": "string", "maxLength": 0}]})
    }

    /// The forms the server checks on path parameters and headers, from the rules in
    /// `countersign-api` and the idempotency store.
    pub fn describe_parameters(doc: &mut Value) {
        let id = json!({"type": "string", "pattern": "^appr-[a-z0-9_-]{1,64}$"});
        let org = json!({
            "type": "string",
            "pattern": format!("^[A-Za-z0-9._-]{{1,{}}}$", countersign_api::MAX_ORG_ID_LEN),
        });
        let key = json!({
            "type": "string",
            "pattern": format!("^[!-~]{{1,{}}}$", crate::db::idempotency::MAX_KEY_LEN),
        });
        let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
            return;
        };
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(Map::values_mut)
        {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params {
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                let schema = match (p.get("in").and_then(Value::as_str), name) {
                    (Some("path"), "id") => id.clone(),
                    (Some("path"), "org") => org.clone(),
                    (Some("header"), countersign_api::IDEMPOTENCY_HEADER) => key.clone(),
                    // Read as strings so a bad one gets a clear message; documented as
                    // what they must hold.
                    (Some("query"), "after") => {
                        or_empty(json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}))
                    }
                    (Some("query"), "wait") => or_empty(json!({
                        "type": "integer", "minimum": 0, "maximum": u64::MAX,
                        "description": "Seconds; more than 60 waits 60."
                    })),
                    (Some("query"), "limit") => json!({
                        "type": "integer", "minimum": 1,
                        "maximum": countersign_api::MAX_PAGE_LIMIT
                    }),
                    (Some("query"), "from" | "to") => or_empty(json!({
                        "anyOf": [
                            {"type": "string", "format": "date"},
                            {"type": "string", "format": "date-time"}
                        ]
                    })),
                    _ => continue,
                };
                p["schema"] = schema;
            }
        }
        // The identifiers an agent chooses have one spelling (`is_canonical_identifier`).
        let ident = json!({
            "type": "string",
            "pattern": format!(
                "^[a-z0-9][a-z0-9_.:/-]{{0,{}}}$",
                countersign_api::MAX_IDENTIFIER_LEN - 1
            ),
        });
        for field in ["action", "reason_code"] {
            if let Some(p) = doc.pointer_mut(&format!(
                "/components/schemas/CreateApprovalRequest/properties/{field}"
            )) {
                *p = ident.clone();
            }
        }
        // Bulk bodies: the server refuses an empty, oversized or repeating id list.
        for name in ["BulkApproveRequest", "BulkDenyRequest"] {
            if let Some(ids) = doc.pointer_mut(&format!(
                "/components/schemas/{name}/properties/approval_ids"
            )) {
                ids["minItems"] = json!(1);
                ids["maxItems"] = json!(countersign_api::MAX_BULK_IDS);
                ids["uniqueItems"] = json!(true);
            }
        }
    }
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
         to {page} bytes plus that approval). Follow `next_cursor` / `has_more` for the rest. \
         `agent.id`, `action` and `reason_code` are 1 to {ident} of `[a-z0-9_.:/-]`, starting \
         with a lowercase letter or digit; text fields refuse control characters (tab and \
         line breaks only in multi-line ones) and invisible or direction-changing ones; \
         integers in `params`, `output` and the `risk` extras must lie within \
         ±(2^53 − 1) (I-JSON). Each token has a request budget, and a smaller one for new \
         approvals: over it, 429 `rate_limited` with `Retry-After` in seconds.",
        body = api::MAX_BODY_BYTES,
        summary = agent::MAX_SUMMARY,
        reason = api::MAX_REASON_CHARS,
        notes = api::MAX_NOTES_CHARS,
        ids = api::MAX_BULK_IDS,
        items = api::MAX_PAGE_LIMIT,
        page = api::MAX_PAGE_BYTES,
        ident = api::MAX_IDENTIFIER_LEN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(doc: &serde_json::Value, name: &str) -> serde_json::Value {
        doc["components"]["schemas"][name].clone()
    }

    #[test]
    fn request_objects_are_closed_at_every_depth_and_risk_stays_open() {
        let doc = document();
        for name in [
            "CreateApprovalRequest",
            "AgentRef",
            "TraceStep",
            "DenyRequest",
        ] {
            assert_eq!(schema(&doc, name)["additionalProperties"], false, "{name}");
        }
        assert_eq!(
            schema(&doc, "RiskSnapshot")["additionalProperties"],
            serde_json::json!({})
        );
        // Response-only types are not touched.
        assert!(schema(&doc, "ChangesPage")
            .get("additionalProperties")
            .is_none());
        assert!(doc["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("ignore keys it does not know")));
    }

    #[test]
    fn authenticated_operations_document_429_with_retry_after() {
        let doc = document();
        let r = &doc["paths"]["/api/v1/orgs/{org}/approvals"]["post"]["responses"]["429"];
        assert_eq!(r["headers"]["Retry-After"]["required"], true, "{r}");
        assert!(doc["paths"]["/healthz"]["get"]["responses"]
            .get("429")
            .is_none());
        assert_eq!(
            schema(&doc, "CreateApprovalRequest")["properties"]["action"]["pattern"],
            "^[a-z0-9][a-z0-9_.:/-]{0,127}$"
        );
    }

    #[test]
    fn id_and_org_parameters_carry_their_form() {
        let doc = document();
        let params = &doc["paths"]["/api/v1/orgs/{org}/approvals/{id}/deny"]["post"]["parameters"];
        let by_name = |n: &str| {
            params
                .as_array()
                .and_then(|a| a.iter().find(|p| p["name"] == n))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            by_name("id")["schema"]["pattern"],
            "^appr-[a-z0-9_-]{1,64}$"
        );
        assert_eq!(
            by_name("org")["schema"]["pattern"],
            "^[A-Za-z0-9._-]{1,128}$"
        );
        assert_eq!(
            by_name("Idempotency-Key")["schema"]["pattern"],
            "^[!-~]{1,200}$"
        );
    }
}
