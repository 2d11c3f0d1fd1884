//! Store onboarding and operators, end to end over HTTP and WebSocket: a
//! store applies, an operator approves it, it goes online and wins an
//! order; a pending or suspended store is never matched, a suspended one's
//! socket is closed and it can neither reconnect nor accept; reinstating
//! makes it matchable again. Bad applications get stable codes.

use crate::common;

use std::time::Duration;

use common::{Api, CUSTOMER_LAT, CUSTOMER_LNG, LONG, Socket, customer_point, stack, token_for};
use futures_util::StreamExt;
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;
use shared::domain::customer::PhoneNumber;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const OPERATOR: Option<&str> = Some("operator:o1");
const APPLICANT: Option<&str> = Some("customer:shopkeeper");

fn application(phone: &str) -> Value {
    let at = customer_point().offset(0.0, 300.0);
    json!({
        "phone": phone,
        "name": "Karim Store",
        "location": { "lat": at.lat(), "lng": at.lng() },
        "category": "grocery",
        "tags": ["rice", "dal"],
        "language": "bn",
        "delivery_options": [{"kind": "pickup", "ready_in_minutes": 15}],
    })
}

/// Places an order for rice by a fresh customer; returns the answer.
async fn order_rice(api: &Api, customer: &str) -> Value {
    let body = json!({"text": "2 kg rice", "location": {"lat": CUSTOMER_LAT, "lng": CUSTOMER_LNG}});
    let reply = api
        .call(
            "POST",
            "/orders",
            Some(&format!("customer:{customer}")),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body
}

/// The status a `$connect` as `caller` is refused with (None: accepted).
async fn refused_connect(stack: &local_stack::RunningStack, caller: &str) -> Option<u16> {
    let url = format!("{}?token={}", stack.ws_url(), token_for(&stack.issuer(), caller));
    match connect_async(url).await {
        Ok(_) => None,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Some(r.status().as_u16()),
        Err(e) => panic!("connect failed otherwise: {e}"),
    }
}

/// Waits until the server closes the socket (a close frame or the end of
/// the stream); panics if it stays open for `wait`.
async fn expect_closed(socket: &mut Socket, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.stream.next()).await {
            Err(_) => panic!("the socket stayed open for {wait:?}"),
            Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_applies_is_approved_trades_is_suspended_and_reinstated() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);

    // The application: 202, a new store id, pending.
    let applied = api
        .call(
            "POST",
            "/store-applications",
            APPLICANT,
            Some(application("01711 000-001").to_string()),
        )
        .await;
    assert_eq!(applied.status, 202, "{}", applied.text);
    assert_eq!(applied.body["status"], "pending");
    let id = applied.body["store_id"].as_str().expect("store id").to_string();
    let store = format!("store:{id}");

    // Pending: not matched, cannot go online, cannot accept.
    let order = order_rice(&api, "before-approval").await;
    assert_eq!(
        order["status"], "unfulfilled",
        "a pending store is not matched: {order}"
    );
    assert_eq!(
        refused_connect(&stack, &store).await,
        Some(403),
        "a pending store cannot go online"
    );

    // The operator sees it, with the number to call.
    let listed = api.call("GET", "/operator/stores?status=pending", OPERATOR, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let applications = listed.body["applications"].as_array().expect("applications");
    assert_eq!(applications.len(), 1, "{}", listed.text);
    assert_eq!(applications[0]["store"]["id"], id.as_str());
    assert_eq!(applications[0]["store"]["status"], "pending");
    assert_eq!(applications[0]["store"]["language"], "bn");
    assert_eq!(applications[0]["phone"], "+8801711000001");
    assert_eq!(applications[0]["applicant"], "shopkeeper");
    assert_eq!(listed.body["next_after"], Value::Null);
    // Nobody else may list or decide.
    for who in [APPLICANT, Some(store.as_str())] {
        assert_eq!(api.call("GET", "/operator/stores", who, None).await.status, 403);
        let approve = api
            .call("POST", &format!("/operator/stores/{id}/approve"), who, None)
            .await;
        assert_eq!(approve.status, 403, "{}", approve.text);
    }

    // Approved: active, off the list, and the number now signs in as the store.
    let approved = api
        .call("POST", &format!("/operator/stores/{id}/approve"), OPERATOR, None)
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["store"]["status"], "active");
    let again = api
        .call("POST", &format!("/operator/stores/{id}/approve"), OPERATOR, None)
        .await;
    assert_eq!(
        (again.status, again.body["error"]["code"].clone()),
        (409, json!("not_pending"))
    );
    let listed = api.call("GET", "/operator/stores", OPERATOR, None).await;
    assert_eq!(listed.body["applications"], json!([]));
    let account = stack
        .account_of(&PhoneNumber::new("+8801711000001").expect("phone"))
        .await
        .expect("account");
    assert_eq!(account.store.as_ref().map(|s| s.as_str()), Some(id.as_str()));

    // It goes online, is offered an order and wins it.
    let mut socket = Socket::connect(&stack, &store).await;
    let first = order_rice(&api, "first-buyer").await;
    let offer = socket.expect("offer", LONG).await;
    assert_eq!(offer["order_id"], first["order_id"]);
    let first_id = first["order_id"].as_str().expect("id");
    let won = api
        .call("POST", &format!("/orders/{first_id}/accept"), Some(&store), None)
        .await;
    assert_eq!(won.status, 200, "{}", won.text);

    // An offer it has not answered yet when it is suspended.
    let second = order_rice(&api, "second-buyer").await;
    socket.expect("offer", LONG).await;
    let second_id = second["order_id"].as_str().expect("id");

    // Suspended: its socket closes, it cannot reconnect or accept, and it is
    // not matched; registering again does not reinstate it.
    let suspended = api
        .call(
            "POST",
            &format!("/operator/stores/{id}/suspend"),
            OPERATOR,
            Some(json!({"reason": "customers reported short weights"}).to_string()),
        )
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(suspended.body["store"]["status"], "suspended");
    assert_eq!(suspended.body["sockets_closed"], 1);
    expect_closed(&mut socket, LONG).await;
    assert_eq!(refused_connect(&stack, &store).await, Some(403));
    let late = api
        .call("POST", &format!("/orders/{second_id}/accept"), Some(&store), None)
        .await;
    assert_eq!(
        (late.status, late.body["error"]["code"].clone()),
        (403, json!("store_not_active"))
    );
    // Nor is it listed the offer it can no longer accept.
    let listed = api
        .call("GET", &format!("/stores/{id}/offers"), Some(&store), None)
        .await;
    assert_eq!(
        (listed.status, listed.body["error"]["code"].clone()),
        (403, json!("store_not_active")),
        "{}",
        listed.text
    );
    let unmatched = order_rice(&api, "while-suspended").await;
    assert_eq!(unmatched["status"], "unfulfilled", "a suspended store is not matched");
    let body = application("01711000001");
    let mut profile = body.as_object().expect("object").clone();
    profile.remove("phone");
    let re_registered = api
        .call(
            "PUT",
            &format!("/stores/{id}"),
            Some(&store),
            Some(Value::Object(profile).to_string()),
        )
        .await;
    assert_eq!(re_registered.status, 200, "{}", re_registered.text);
    assert_eq!(re_registered.body["status"], "suspended");
    let twice = api
        .call(
            "POST",
            &format!("/operator/stores/{id}/suspend"),
            OPERATOR,
            Some(json!({"reason": "again"}).to_string()),
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["error"]["code"].clone()),
        (409, json!("already_suspended"))
    );

    // Reinstated: it goes online and is matched again.
    let reinstated = api
        .call("POST", &format!("/operator/stores/{id}/reinstate"), OPERATOR, None)
        .await;
    assert_eq!(reinstated.status, 200, "{}", reinstated.text);
    assert_eq!(reinstated.body["store"]["status"], "active");
    let not_suspended = api
        .call("POST", &format!("/operator/stores/{id}/reinstate"), OPERATOR, None)
        .await;
    assert_eq!(not_suspended.status, 409);
    let mut socket = Socket::connect(&stack, &store).await;
    let third = order_rice(&api, "third-buyer").await;
    let offer = socket.expect("offer", LONG).await;
    assert_eq!(offer["order_id"], third["order_id"]);

    // Unknown stores: 404.
    for action in ["approve", "reinstate"] {
        let missing = api
            .call("POST", &format!("/operator/stores/s-nobody/{action}"), OPERATOR, None)
            .await;
        assert_eq!(missing.status, 404, "{action}: {}", missing.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_applications_and_operator_calls_get_stable_codes() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let apply = |who: Option<&'static str>, body: Value| {
        let api = &api;
        async move {
            api.call("POST", "/store-applications", who, Some(body.to_string()))
                .await
        }
    };
    let expect = |reply: common::Reply, status: u16, code: &str, field: Option<&str>| {
        assert_eq!(reply.status, status, "{}", reply.text);
        assert_eq!(reply.body["error"]["code"], code, "{}", reply.text);
        assert_eq!(reply.body["error"]["field"].as_str(), field, "{}", reply.text);
    };
    let with = |field: &str, value: Value| {
        let mut body = application("01711000002");
        body[field] = value;
        body
    };
    let mut no_phone = application("01711000002");
    no_phone.as_object_mut().expect("object").remove("phone");
    expect(apply(APPLICANT, no_phone).await, 400, "invalid_body", Some("phone"));
    expect(
        apply(APPLICANT, with("phone", json!("12345"))).await,
        422,
        "invalid_phone",
        Some("phone"),
    );
    expect(
        apply(APPLICANT, with("phone", json!(1711000002))).await,
        400,
        "invalid_body",
        Some("phone"),
    );
    expect(
        apply(APPLICANT, with("name", json!("  "))).await,
        422,
        "invalid_store",
        Some("name"),
    );
    expect(
        apply(APPLICANT, with("location", json!({"lat": 123.0, "lng": 90.4}))).await,
        422,
        "invalid_location",
        Some("location.lat"),
    );
    expect(
        apply(APPLICANT, with("colour", json!("green"))).await,
        400,
        "invalid_body",
        Some("colour"),
    );
    expect(
        apply(APPLICANT, with("delivery_options", json!([]))).await,
        422,
        "invalid_store",
        Some("delivery_options"),
    );
    let reply = api.call("POST", "/store-applications", APPLICANT, None).await;
    expect(reply, 400, "missing_body", None);
    // Who may apply: signed-in customers only.
    let guest = api.call("POST", "/auth/guest", None, None).await;
    let guest_id = guest.body["customer_id"].as_str().expect("guest id");
    let guest_caller: &'static str = Box::leak(format!("customer:{guest_id}").into_boxed_str());
    expect(
        apply(Some(guest_caller), application("01711000002")).await,
        403,
        "sign_in_required",
        None,
    );
    expect(
        apply(Some("store:s1"), application("01711000002")).await,
        403,
        "forbidden",
        None,
    );
    expect(
        apply(OPERATOR, application("01711000002")).await,
        403,
        "forbidden",
        None,
    );
    assert_eq!(apply(None, application("01711000002")).await.status, 401);
    // Three a day per customer; the fourth waits.
    for _ in 0..3 {
        assert_eq!(apply(APPLICANT, application("01711000002")).await.status, 202);
    }
    let limited = api
        .http
        .post(format!("{}/store-applications", api.base))
        .bearer_auth(token_for(&api.issuer(), "customer:shopkeeper"))
        .header("content-type", "application/json")
        .body(application("01711000002").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let refused = api
        .call(
            "POST",
            "/store-applications",
            APPLICANT,
            Some(application("01711000002").to_string()),
        )
        .await;
    expect(refused, 429, "rate_limited", None);

    // Operator calls: the listing's query and the suspension's reason.
    let listed = api.call("GET", "/operator/stores?status=active", OPERATOR, None).await;
    expect(listed, 400, "invalid_status", Some("status"));
    let listed = api.call("GET", "/operator/stores?limit=0", OPERATOR, None).await;
    expect(listed, 400, "invalid_limit", Some("limit"));
    let page = api.call("GET", "/operator/stores?limit=2", OPERATOR, None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["applications"].as_array().map(Vec::len), Some(2));
    let after = page.body["next_after"].as_str().expect("a next page").to_string();
    let rest = api
        .call(
            "GET",
            &format!("/operator/stores?status=pending&after={after}"),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(
        rest.body["applications"].as_array().map(Vec::len),
        Some(1),
        "{}",
        rest.text
    );
    assert_eq!(rest.body["next_after"], Value::Null);
    let id = rest.body["applications"][0]["store"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let suspend = |body: Value| {
        let api = &api;
        let path = format!("/operator/stores/{id}/suspend");
        async move { api.call("POST", &path, OPERATOR, Some(body.to_string())).await }
    };
    expect(
        suspend(json!({"reason": "  "})).await,
        422,
        "invalid_reason",
        Some("reason"),
    );
    expect(
        suspend(json!({"reason": "x".repeat(501)})).await,
        422,
        "invalid_reason",
        Some("reason"),
    );
    expect(suspend(json!({})).await, 400, "invalid_body", Some("reason"));
    // A pending store may be suspended (an application found fraudulent);
    // it then leaves the pending list and can no longer be approved.
    assert_eq!(suspend(json!({"reason": "fake shop"})).await.status, 200);
    let approve = api
        .call("POST", &format!("/operator/stores/{id}/approve"), OPERATOR, None)
        .await;
    expect(approve, 409, "not_pending", None);
    let listed = api.call("GET", "/operator/stores", OPERATOR, None).await;
    assert_eq!(listed.body["applications"].as_array().map(Vec::len), Some(2));
}
