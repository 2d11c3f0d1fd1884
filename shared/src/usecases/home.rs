//! The customer's own records: the virtual home and the order history.

use super::Unavailable;
use crate::domain::customer::HomeItem;
use crate::domain::ids::{CustomerId, OrderId};
use crate::domain::order::Order;
use crate::ports::{CustomerRepo, OrderRepo};

/// A customer's home and history.
pub struct Home<'a, R> {
    pub(super) repo: &'a R,
}

impl<R: CustomerRepo + OrderRepo> Home<'_, R> {
    /// The customer's virtual home.
    pub async fn items(&self, customer: &CustomerId) -> Result<Vec<HomeItem>, Unavailable> {
        Ok(self.repo.home_of(customer).await?)
    }

    /// Puts `item` in place of the item under `key` (removing that one, and
    /// keeping the new one under its own key).
    pub async fn replace(&self, customer: &CustomerId, key: &str, item: HomeItem) -> Result<(), Unavailable> {
        self.repo.set_home_item(customer, key, None).await?;
        let new_key = item.key.clone();
        self.repo.set_home_item(customer, &new_key, Some(item)).await?;
        Ok(())
    }

    /// Removes one home item.
    pub async fn remove(&self, customer: &CustomerId, key: &str) -> Result<(), Unavailable> {
        Ok(self.repo.set_home_item(customer, key, None).await?)
    }

    /// The customer's orders, newest first: `limit` of them (1 to 50),
    /// older than `before` when given.
    pub async fn history(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, Unavailable> {
        Ok(self
            .repo
            .recent_orders_of_customer(customer, limit.clamp(1, 50), before)
            .await?)
    }
}
