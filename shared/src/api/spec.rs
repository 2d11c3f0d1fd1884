//! The API described by its types: OpenAPI 3.1 for HTTP, AsyncAPI 3 for
//! the WebSocket API.

use serde_json::{Value, json};

pub fn openapi() -> Value {
    json!({})
}

pub fn asyncapi() -> Value {
    json!({})
}
