//! The API documents, served by the running stack: every route in the
//! OpenAPI document is served, and every route served is in it.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::api::routes::HttpRoute;
use shared::domain::config::OrderingConfig;

use serde_json::json;

use crate::common::{Api, spec, stack};

/// The gateway's answer to a request no route matches.
fn is_route_miss(status: u16, body: &Value) -> bool {
    status == 404 && body.get("message").and_then(Value::as_str) == Some("Not Found")
}

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served_and_every_route_served_is_in_it() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let document = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(document.status, 200, "{}", document.text);
    assert!(
        document.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        document.text
    );

    // A path nobody routes is the gateway's miss, so the check below can tell.
    let miss = api.call("GET", "/no/such/route", Some("customer:c1"), None).await;
    assert!(is_route_miss(miss.status, &miss.body), "{}", miss.text);

    let mut described = BTreeSet::new();
    for (path, methods) in document.body["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            let method = method.to_uppercase();
            described.insert(format!("{method} {path}"));
            let public = operation["security"].as_array().is_some_and(Vec::is_empty);
            // Each `{param}` filled with a plausible id.
            let concrete: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let caller = (!public).then_some("customer:c1");
            let reply = api.call(&method, &concrete, caller, None).await;
            assert!(
                !is_route_miss(reply.status, &reply.body),
                "{method} {path} is in the document but not served: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    // The gateway routes exactly the route table.
    let served: BTreeSet<String> = HttpRoute::ALL.iter().map(|r| r.key().to_string()).collect();
    assert_eq!(described, served);

    let asyncapi = api.call("GET", "/asyncapi.json", None, None).await;
    assert_eq!(asyncapi.status, 200, "{}", asyncapi.text);
    assert_eq!(asyncapi.body["asyncapi"], "3.0.0", "{}", asyncapi.text);
}

#[tokio::test]
async fn the_checker_refuses_a_missing_field_a_wrong_type_and_an_undescribed_field() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let spec = spec::load(&api).await;
    let fails = |status: u16, body: Value| {
        !spec
            .response_failures("POST", "/orders/{order_id}/decline", status, &body)
            .is_empty()
    };
    let order_id = "01M88YC7V65F5797YRBB1JG912";
    assert!(!fails(200, json!({ "order_id": order_id, "declined": true })));
    assert!(fails(200, json!({ "order_id": order_id })));
    assert!(fails(200, json!({ "order_id": order_id, "declined": "yes" })));
    assert!(fails(
        200,
        json!({ "order_id": order_id, "declined": true, "extra": 1 })
    ));
    assert!(!fails(
        409,
        json!({ "error": { "code": "wrong_state", "message": "no" } })
    ));
    assert!(fails(409, json!({ "error": { "code": "wrong_state" } })));
    assert!(!fails(401, json!({ "message": "Unauthorized" })));
}
