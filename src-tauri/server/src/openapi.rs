//! The OpenAPI 3 document served at `/api/v1/openapi.json`, generated from the
//! handlers' annotations and the wire types' schemas.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Countersign approvals API",
        description = "Review and decide the approval requests that software agents escalate."
    ),
    components(schemas(
        countersign_api::Approval,
        countersign_api::ApprovalList,
        countersign_api::ChangesPage,
        countersign_api::DecisionResponse,
        countersign_api::BulkResponse,
        countersign_api::Stats,
        countersign_api::AuditTrail,
        countersign_api::ErrorResponse,
        countersign_api::ChangeNotice,
        countersign_api::WhoAmI,
    ))
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
