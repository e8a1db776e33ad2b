//! What the demo seeding needs to know about a database: whether it is empty.

use sqlx::{AnyConnection, Row};

use super::StoreError;

/// How many persons, cards and accounts a database holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Population {
    pub persons: i64,
    pub cards: i64,
    pub accounts: i64,
}

impl Population {
    /// No person, no card, no account.
    pub fn is_empty(self) -> bool {
        self.persons == 0 && self.cards == 0 && self.accounts == 0
    }
}

pub async fn population(conn: &mut AnyConnection) -> Result<Population, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM persons) AS persons, \
         (SELECT COUNT(*) FROM cards) AS cards, \
         (SELECT COUNT(*) FROM accounts) AS accounts",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Population {
        persons: row.try_get("persons")?,
        cards: row.try_get("cards")?,
        accounts: row.try_get("accounts")?,
    })
}
