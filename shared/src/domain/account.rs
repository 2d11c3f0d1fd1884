//! Accounts: what one verified phone number may sign in as. A number holds
//! at most one customer, one store and one operator; sign-in names the role
//! it wants, and only a role the number holds is granted.

use serde::{Deserialize, Serialize};

use super::ids::{Caller, CustomerId, OperatorId, StoreId};

/// The role a sign-in asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Store,
    Operator,
}

/// The roles one phone number holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The customer this number signs in as (a guest who upgraded keeps
    /// their guest id here, so their orders and home stay theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// The store whose staff this number is (set when an operator approves
    /// the store's application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreId>,
    /// Set for the people who run the service (by the operator CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorId>,
}

impl Account {
    /// The caller this number signs in as for `role`, if it holds it.
    #[must_use]
    pub fn caller(&self, role: Role) -> Option<Caller> {
        match role {
            Role::Customer => self.customer.clone().map(Caller::Customer),
            Role::Store => self.store.clone().map(Caller::Store),
            Role::Operator => self.operator.clone().map(Caller::Operator),
        }
    }

    /// Whether the number holds no role yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.customer.is_none() && self.store.is_none() && self.operator.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_signs_in_only_as_what_it_holds() {
        let account = Account {
            customer: Some(CustomerId::new("c1").expect("id")),
            ..Account::default()
        };
        assert_eq!(
            account.caller(Role::Customer),
            Some(Caller::Customer(CustomerId::new("c1").expect("id")))
        );
        assert_eq!(account.caller(Role::Store), None);
        assert_eq!(account.caller(Role::Operator), None);
        assert!(!account.is_empty());
        assert!(Account::default().is_empty());
    }
}
