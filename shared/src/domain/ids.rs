//! Identifiers and the caller behind a request.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("an id is 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'")]
pub struct InvalidId;

fn check_id(raw: &str) -> Result<(), InvalidId> {
    let ok =
        !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(InvalidId) }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$"))]
        pub struct $name(String);

        impl $name {
            /// Checks the character set and length.
            pub fn new(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                check_id(&raw)?;
                Ok(Self(raw))
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::new(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A store's id.
    StoreId
);
id_type!(
    /// A customer's id (a guest gets one too).
    CustomerId
);
id_type!(
    /// An order's id: a ULID, so ids sort by creation time.
    OrderId
);
id_type!(
    /// A store's promotion (an offer of an item at a price): a ULID.
    PromotionId
);
id_type!(
    /// An operator's id: the people who run the service (approve and
    /// suspend stores).
    OperatorId
);

/// An API Gateway WebSocket connection id: base64-like text such as
/// `L0SM9cOFvHcCIhw=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = "^[A-Za-z0-9_=+/-]{1,128}$"))]
pub struct ConnectionId(String);

impl ConnectionId {
    /// 1 to 128 characters of the base64 alphabet (standard or URL-safe).
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidId> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'));
        if ok { Ok(Self(raw)) } else { Err(InvalidId) }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = InvalidId;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> String {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl OrderId {
    /// A fresh, time-ordered id.
    #[must_use]
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
}

impl PromotionId {
    /// A fresh, time-ordered id.
    #[must_use]
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
}

impl StoreId {
    /// A fresh id for a store that applies: `s-` and a lowercase ULID, so
    /// ids sort by application time.
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("s-{}", ulid::Ulid::new().to_string().to_lowercase()))
    }
}

impl OperatorId {
    /// A fresh operator id: `o-` and a lowercase ULID.
    #[must_use]
    pub fn generate() -> Self {
        Self(format!("o-{}", ulid::Ulid::new().to_string().to_lowercase()))
    }
}

/// Guests' ids start with this: a guest has proven nothing about who they
/// are, so stricter limits apply.
const GUEST_PREFIX: &str = "g-";

impl CustomerId {
    /// A new guest's id.
    #[must_use]
    pub fn new_guest() -> CustomerId {
        CustomerId(format!(
            "{GUEST_PREFIX}{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
    }

    /// A new customer who signed in with a verified number: never a
    /// guest's prefix.
    #[must_use]
    pub fn new_account() -> CustomerId {
        CustomerId(format!("c-{}", ulid::Ulid::new().to_string().to_lowercase()))
    }

    /// Whether the id was made for a guest. A guest who verified a number
    /// keeps the id (and their orders): whether they are still treated as
    /// a guest is the customer's verified number's business, not the id's.
    #[must_use]
    pub fn is_guest(&self) -> bool {
        self.0.starts_with(GUEST_PREFIX)
    }
}

/// Who is calling: every request and socket belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Caller {
    Customer(CustomerId),
    Store(StoreId),
    Operator(OperatorId),
}

impl Caller {
    /// Parses the `kind:id` form tokens carry in `sub` (`customer:c1`,
    /// `store:s1`, `operator:o1`).
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        match raw.split_once(':') {
            Some(("customer", id)) => Ok(Caller::Customer(CustomerId::new(id)?)),
            Some(("store", id)) => Ok(Caller::Store(StoreId::new(id)?)),
            Some(("operator", id)) => Ok(Caller::Operator(OperatorId::new(id)?)),
            _ => Err(InvalidId),
        }
    }

    /// Whether this caller is the store `id` itself.
    #[must_use]
    pub fn is_store(&self, id: &StoreId) -> bool {
        matches!(self, Caller::Store(own) if own == id)
    }

    /// The `kind:id` key connections are stored under.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Caller::Customer(id) => format!("customer:{id}"),
            Caller::Store(id) => format!("store:{id}"),
            Caller::Operator(id) => format!("operator:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(StoreId::new("s-1_a").is_ok());
        assert!(StoreId::new("").is_err());
        assert!(StoreId::new("a/b").is_err());
        assert!(StoreId::new("x".repeat(65)).is_err());
        assert_eq!(
            Caller::parse("store:s1"),
            Ok(Caller::Store(StoreId::new("s1").expect("valid")))
        );
        assert!(Caller::parse("admin:x").is_err());
    }
}
