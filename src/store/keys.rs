//! Every column that holds a sealed (encrypted) value, for re-encryption.

use sqlx::Row;

use super::{Store, StoreError, Tx};

/// A column of sealed values, found by a text key column.
#[derive(Clone, Copy, Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
}

impl SealedColumn {
    /// The associated data a value of this column is sealed with:
    /// `table.column:<row key>`, so a value copied to another row or column
    /// does not open.
    pub fn aad(&self, key: &str) -> String {
        format!("{}.{}:{key}", self.table, self.column)
    }
}

/// Every sealed column of the schema. A new sealed column must be listed
/// here, or `sscard keys rotate` would leave it under an old key.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "accounts",
        key: "id",
        column: "totp_secret_sealed",
    },
    super::citizens::OUTBOX_MOBILE_COLUMN,
    super::citizens::OUTBOX_TEXT_COLUMN,
    super::registry::ID_NUMBER_SEALED,
    super::registry::MOBILE_SEALED,
    super::registry::ADDRESS_SEALED,
    super::registry::BANK_ACCOUNT_SEALED,
    super::cases::FORM_SEALED,
    super::slips::SIGNING_KEYS.private_key_sealed(),
    super::banks::SIGNING_KEYS.private_key_sealed(),
    super::feedback::RATING_COMMENT_SEALED,
    super::feedback::QUESTION_SEALED,
    super::batches::ID_NUMBER_SEALED,
];

/// The next page of (key, sealed value) after `after`, in key order.
pub async fn sealed_page(
    store: &Store,
    column: &SealedColumn,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let SealedColumn { table, key, column } = column;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {key} AS row_key, {column} AS sealed FROM {table} \
         WHERE {column} IS NOT NULL AND {key} > $1 ORDER BY {key} LIMIT $2"
    )))
    .bind(after.to_owned())
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("row_key")?, row.try_get("sealed")?)))
        .collect()
}

/// Replaces one sealed value if it is still `old`; returns whether it did.
pub async fn reseal(
    tx: &mut Tx,
    column: &SealedColumn,
    key: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let SealedColumn {
        table,
        key: key_column,
        column,
    } = column;
    let result = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET {column} = $1 WHERE {key_column} = $2 AND {column} = $3"
    )))
    .bind(new.to_owned())
    .bind(key.to_owned())
    .bind(old.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::SEALED_COLUMNS;

    /// Every `*_sealed` column the migrations create is listed for
    /// re-encryption, so `sscard keys rotate` leaves none under an old key.
    #[test]
    fn every_sealed_column_of_the_schema_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the migrations folder") {
            let sql = std::fs::read_to_string(entry.expect("an entry").path()).expect("a file");
            let mut table = String::new();
            for line in sql.lines() {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                    table = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                } else if let Some(column) = line
                    .split_whitespace()
                    .next()
                    .filter(|word| word.ends_with("_sealed") && !line.starts_with("--"))
                {
                    found.push((table.clone(), column.to_owned()));
                }
            }
        }
        assert!(
            found.len() >= 7,
            "the scan sees the sealed columns: {found:?}"
        );
        for (table, column) in found {
            assert!(
                SEALED_COLUMNS
                    .iter()
                    .any(|sealed| sealed.table == table && sealed.column == column),
                "{table}.{column} is sealed but not in SEALED_COLUMNS"
            );
        }
    }
}
