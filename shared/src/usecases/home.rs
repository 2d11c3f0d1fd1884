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

    /// Puts `item` under its key, replacing what was there.
    pub async fn put(&self, customer: &CustomerId, item: HomeItem) -> Result<(), Unavailable> {
        let key = item.key.clone();
        Ok(self.repo.set_home_item(customer, &key, Some(item)).await?)
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
