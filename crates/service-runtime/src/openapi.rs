//! What every binary's OpenAPI document has in common: the `meta` paths
//! (`/metrics`, `/api/openapi.json`) and how the document is rendered and
//! served.

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// Prometheus metrics in the text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[allow(dead_code)]
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
#[allow(dead_code)]
fn openapi_json() {}

#[derive(OpenApi)]
#[openapi(paths(metrics, openapi_json))]
struct MetaPaths;

/// `document` with the shared `meta` paths added, as JSON.
pub fn render(mut document: utoipa::openapi::OpenApi) -> String {
    document.merge(MetaPaths::openapi());
    let Ok(mut json) = serde_json::to_value(&document) else {
        return "{}".to_owned();
    };
    allow_empty_optional_query_values(&mut json);
    json.to_string()
}

/// Marks every optional query parameter `allowEmptyValue: true`: the
/// binaries read `?name=` as if `name` were absent (the old service's rule,
/// which clients that build query strings from forms rely on). utoipa has
/// no attribute for it, so the rendered document is amended.
fn allow_empty_optional_query_values(document: &mut serde_json::Value) {
    let Some(paths) = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|path| path.values_mut());
    for operation in operations {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters
            .iter_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            let optional = parameter.get("required") != Some(&serde_json::Value::Bool(true));
            if optional && parameter.get("in") == Some(&serde_json::Value::from("query")) {
                parameter.insert("allowEmptyValue".to_owned(), serde_json::Value::Bool(true));
            }
        }
    }
}

/// `GET /api/openapi.json` answering `document` (see [`render`]).
pub fn respond(document: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn optional_query_parameters_allow_an_empty_value() {
        let mut document = json!({"paths": {"/r": {"get": {"parameters": [
            {"name": "start_date", "in": "query", "required": true},
            {"name": "page", "in": "query", "required": false},
            {"name": "limit", "in": "query"},
            {"name": "x-id", "in": "header", "required": false},
        ]}}}});
        allow_empty_optional_query_values(&mut document);
        let parameters = &document["paths"]["/r"]["get"]["parameters"];
        assert_eq!(parameters[0].get("allowEmptyValue"), None);
        assert_eq!(parameters[1]["allowEmptyValue"], true);
        assert_eq!(parameters[2]["allowEmptyValue"], true);
        assert_eq!(parameters[3].get("allowEmptyValue"), None);
    }
}
