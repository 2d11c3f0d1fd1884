//! What the API documents say about each route, as data naming types: the
//! summary, the request body's type, the success status and the answer's
//! type. [`super::requests::operation`] fills it in per route;
//! [`super::spec`] reads it.

use schemars::{JsonSchema, Schema, SchemaGenerator};

/// A schema for `T`: a `$ref` to its definition, added to the generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a [`SchemaFn`].
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What the OpenAPI document says about one route.
#[derive(Clone, Copy)]
pub struct Operation {
    pub summary: &'static str,
    /// The request body's type, for routes that take one.
    pub request: Option<SchemaFn>,
    /// The success status and its body's type.
    pub status: u16,
    pub response: SchemaFn,
    /// The body is also served as an HTML page (`Accept: text/html`).
    pub html: bool,
    /// A static file (HTML, JavaScript, CSS), not JSON.
    pub asset: bool,
    /// A history page: `limit` and `before` in the query.
    pub paged: bool,
    /// May answer 429 with `Retry-After`.
    pub rate_limited: bool,
    /// Other query parameters the route reads.
    pub query: &'static [QueryParam],
}

/// A query parameter: its name, what it means and its schema.
#[derive(Clone, Copy)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> serde_json::Value,
}

impl Operation {
    #[must_use]
    pub fn new(summary: &'static str, status: u16, response: SchemaFn) -> Self {
        Operation {
            summary,
            request: None,
            status,
            response,
            html: false,
            asset: false,
            paged: false,
            rate_limited: false,
            query: &[],
        }
    }

    #[must_use]
    pub fn query(mut self, query: &'static [QueryParam]) -> Self {
        self.query = query;
        self
    }

    #[must_use]
    pub fn reads(mut self, request: SchemaFn) -> Self {
        self.request = Some(request);
        self
    }

    #[must_use]
    pub fn html(mut self) -> Self {
        self.html = true;
        self
    }

    #[must_use]
    pub fn asset(mut self) -> Self {
        self.asset = true;
        self
    }

    #[must_use]
    pub fn paged(mut self) -> Self {
        self.paged = true;
        self
    }

    #[must_use]
    pub fn rate_limited(mut self) -> Self {
        self.rate_limited = true;
        self
    }
}
