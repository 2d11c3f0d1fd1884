//! Bad input gets a 4xx with a machine-readable body, and nothing is
//! written.

use crate::common;

use common::{Api, SHORT, Socket, stack};
use serde_json::json;
use shared::domain::config::OrderingConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 500.0, "grocery", &["rice"]).await;
    let mut store = Socket::connect(&stack, "store:s1").await;
    let at = json!({"lat": 23.7925, "lng": 90.4078});
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "malformed JSON",
            Some("customer:c1"),
            "{\"text\": \"rice\",".into(),
            400,
            "invalid_json",
        ),
        (
            "missing location",
            Some("customer:c1"),
            json!({"text": "rice"}).to_string(),
            400,
            "invalid_body",
        ),
        (
            "missing demand",
            Some("customer:c1"),
            json!({"location": at}).to_string(),
            400,
            "invalid_body",
        ),
        (
            "unknown field",
            Some("customer:c1"),
            json!({"text": "rice", "location": at, "x": 1}).to_string(),
            400,
            "invalid_body",
        ),
        (
            "wrong type",
            Some("customer:c1"),
            json!({"text": 5, "location": at}).to_string(),
            400,
            "invalid_body",
        ),
        (
            "unknown unit",
            Some("customer:c1"),
            json!({"items": [{"name": "rice", "amount": "2", "unit": "bushel"}], "location": at}).to_string(),
            422,
            "unknown_unit",
        ),
        (
            "zero amount",
            Some("customer:c1"),
            json!({"items": [{"name": "rice", "amount": "0", "unit": "kg"}], "location": at}).to_string(),
            422,
            "amount_out_of_range",
        ),
        (
            "latitude 91",
            Some("customer:c1"),
            json!({"text": "rice", "location": {"lat": 91.0, "lng": 90.0}}).to_string(),
            422,
            "invalid_location",
        ),
        (
            "longitude -200",
            Some("customer:c1"),
            json!({"text": "rice", "location": {"lat": 23.0, "lng": -200.0}}).to_string(),
            422,
            "invalid_location",
        ),
        (
            "empty demand text",
            Some("customer:c1"),
            json!({"text": " , ", "location": at}).to_string(),
            422,
            "empty_demand",
        ),
        (
            "empty demand list",
            Some("customer:c1"),
            json!({"items": [], "location": at}).to_string(),
            422,
            "empty_demand",
        ),
        (
            "too many lines",
            Some("customer:c1"),
            json!({"text": "rice\n".repeat(51), "location": at}).to_string(),
            422,
            "too_many_lines",
        ),
        (
            "oversized body",
            Some("customer:c1"),
            json!({"text": "r".repeat(20_000), "location": at}).to_string(),
            413,
            "body_too_large",
        ),
        ("empty body", Some("customer:c1"), String::new(), 400, "missing_body"),
        (
            "no identity",
            None,
            json!({"text": "rice", "location": at}).to_string(),
            401,
            "Unauthorized",
        ),
        (
            "bad identity",
            Some("admin:root"),
            json!({"text": "rice", "location": at}).to_string(),
            401,
            "Unauthorized",
        ),
        (
            "a store ordering",
            Some("store:s1"),
            json!({"text": "rice", "location": at}).to_string(),
            403,
            "forbidden",
        ),
    ];
    for (name, caller, body, status, code) in cases {
        let body = if body.is_empty() { None } else { Some(body) };
        let reply = api.call("POST", "/orders", caller, body).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text);
        if status == 401 {
            // The authorizer in front of the route refuses, as API Gateway does.
            assert_eq!(reply.body["message"], code, "{name}: {}", reply.text);
            continue;
        }
        assert_eq!(reply.body["error"]["code"], code, "{name}: {}", reply.text);
        assert!(reply.body["error"]["message"].is_string(), "{name}");
    }
    // A structured line's refusal names the line's own field.
    for (line, field) in [
        (
            json!({"name": "rice", "amount": "2", "unit": "bushel"}),
            "items[1].unit",
        ),
        (json!({"name": "rice", "amount": "0", "unit": "kg"}), "items[1].amount"),
        (json!({"name": "rice", "unit": "kg"}), "items[1].amount"),
        (json!({"name": " ", "amount": "1", "unit": "kg"}), "items[1].name"),
    ] {
        let body = json!({"items": [{"name": "dal"}, line], "location": at}).to_string();
        let reply = api.call("POST", "/orders", Some("customer:c1"), Some(body)).await;
        assert_eq!(
            (reply.status, reply.body["error"]["field"].clone()),
            (422, json!(field)),
            "{line}: {}",
            reply.text
        );
    }
    let long = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(json!({"text": "rice ".repeat(500), "location": at}).to_string()),
        )
        .await;
    assert_eq!(
        refusal(&long),
        (422, json!("text_too_long"), json!("text")),
        "{}",
        long.text
    );
    // Nothing was half-written: no order exists and no store was alerted.
    assert_eq!(stack.stored_order_count().await.expect("counted"), 0);
    store.expect_silence(SHORT).await;

    // Store profiles are checked too.
    let bad_store = api
        .call(
            "PUT",
            "/stores/s9",
            Some("store:s9"),
            Some(json!({"name": "", "location": at, "category": "grocery"}).to_string()),
        )
        .await;
    assert_eq!(
        (bad_store.status, bad_store.body["error"]["field"].clone()),
        (422, json!("name"))
    );
    let someone_else = api
        .call(
            "PUT",
            "/stores/s1",
            Some("store:s2"),
            Some(json!({"name": "Mine now", "location": at, "category": "grocery"}).to_string()),
        )
        .await;
    assert_eq!(someone_else.status, 403);
    let unknown_route = api.call("GET", "/nowhere", None, None).await;
    assert_eq!(
        (unknown_route.status, unknown_route.body["message"].clone()),
        (404, json!("Not Found"))
    );
    let unknown_order = api.get_order("c1", "01JUNKJUNKJUNKJUNKJUNKJUNK").await;
    assert_eq!(unknown_order.status, 404);
    // An id no order can have names the path parameter, as a store id's does.
    let malformed_order = api.get_order("c1", &"x".repeat(65)).await;
    assert_eq!(
        refusal(&malformed_order),
        (400, json!("invalid_id"), json!("order_id")),
        "{}",
        malformed_order.text
    );
    // A history page's size is 1 to 50, as the OpenAPI document says.
    // (A real order's id in lower case: a ULID, but not as a page gave it.)
    let lowercase = api.order("c1", "1 kg rice").await.order_id().to_lowercase();
    for (path, caller) in [
        ("/customers/me/orders", "customer:c1"),
        ("/stores/s1/orders", "store:s1"),
    ] {
        for bad in ["abc", "0", "-1", "51", "1000"] {
            let page = api
                .call("GET", &format!("{path}?limit={bad}"), Some(caller), None)
                .await;
            assert_eq!(
                refusal(&page),
                (400, json!("invalid_limit"), json!("limit")),
                "{path}?limit={bad}: {}",
                page.text
            );
        }
        // A cursor no page gave (it would silently read from the start).
        for bad in ["xyz", "01JUNK", lowercase.as_str()] {
            let page = api
                .call("GET", &format!("{path}?before={bad}"), Some(caller), None)
                .await;
            assert_eq!(
                refusal(&page),
                (400, json!("invalid_cursor"), json!("before")),
                "{path}?before={bad}: {}",
                page.text
            );
        }
        for good in ["1", "50"] {
            let page = api
                .call("GET", &format!("{path}?limit={good}"), Some(caller), None)
                .await;
            assert_eq!(page.status, 200, "{path}?limit={good}: {}", page.text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parse_route_returns_the_demand_list() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let parse = async |body: serde_json::Value| {
        api.call("POST", "/demand/parse", Some("customer:c1"), Some(body.to_string()))
            .await
    };
    let reply = parse(json!({"text": "2 kg rice\n600 g meat\nspices"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body["items"],
        json!([
            {"name": "rice", "name_bn": "চাল", "tag": "rice", "category": "grocery", "quantity": {"amount": "2", "unit": "kg"}},
            {"name": "meat", "name_bn": "মাংস", "tag": "meat", "category": "meat", "quantity": {"amount": "600", "unit": "g"}},
            {"name": "spices", "name_bn": "মসলা", "tag": "spices", "category": "grocery"},
        ])
    ); // Structured lines as a Bangla keyboard fills them in.
    let bangla = parse(json!({"items": [{"name": "চাল", "amount": "১.৫", "unit": "কেজি"}]})).await;
    assert_eq!(bangla.status, 200, "{}", bangla.text);
    assert_eq!(
        bangla.body["items"][0]["quantity"],
        json!({"amount": "1.5", "unit": "kg"}),
        "{}",
        bangla.text
    );
    let not_a_number = parse(json!({"items": [{"name": "rice", "amount": "two", "unit": "kg"}]})).await;
    assert_eq!(
        (not_a_number.status, not_a_number.body["error"]["field"].clone()),
        (400, json!("items[0].amount")),
        "{}",
        not_a_number.text
    );
}

/// A refusal's status, code and field, to compare at once.
fn refusal(reply: &common::Reply) -> (u16, serde_json::Value, serde_json::Value) {
    (
        reply.status,
        reply.body["error"]["code"].clone(),
        reply.body["error"]["field"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_too_large_for_any_value_is_the_fields_fault_not_the_jsons() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let reply = api
        .call(
            "POST",
            "/demand/parse",
            Some("customer:c1"),
            Some(r#"{"items": [{"name": "rice", "amount": 1e400, "unit": "g"}]}"#.into()),
        )
        .await;
    assert_eq!(
        (
            reply.status,
            reply.body["error"]["code"].as_str(),
            reply.body["error"]["field"].as_str()
        ),
        (400, Some("invalid_body"), Some("items[0].amount")),
        "{}",
        reply.text
    );
}
