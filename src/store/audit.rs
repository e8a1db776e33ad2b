//! The audit trail: every change appends one entry inside its own
//! transaction, and the entries are chained with SM3 so that an altered,
//! deleted, inserted or reordered entry is found by [`verify`].
//!
//! The trail is split into [`SHARDS`] independent chains so that appends do
//! not serialise every write of the system: an entry goes to the shard chosen
//! by the first byte of SM3(object), so one object's history is one ordered
//! chain. `audit_heads` holds, per shard, the last issued sequence number and
//! that entry's hash; appending takes the shard's head row with
//! `UPDATE … RETURNING`, which locks only that row on PostgreSQL until the
//! change commits (on SQLite the write transaction already holds the database).
//!
//! Entry hash = SM3(prev_hash || 0x1f || canonical encoding), where prev_hash
//! is the previous entry's hash (the shard's genesis hash for seq 1) as 32 raw
//! bytes and the canonical encoding (see [`AuditRecord::canonical_bytes`])
//! covers every stored column but `hash`, shard and seq included.
//!
//! Limit: the hash is unkeyed, so someone who can rewrite a whole shard from
//! the tampered entry onwards *and* its head leaves a consistent chain. Sealing
//! the heads periodically outside the database is the next step.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Backend, Store, StoreError, Tx, format_time};

/// The number of independent chains.
pub const SHARDS: i64 = 16;

/// Rows read per query while verifying, so the table is never loaded whole.
const PAGE: i64 = 500;

/// Domain-separation tag at the start of every canonical encoding.
const ENCODING_TAG: &[u8] = b"sscard-audit-entry-v1";

/// The separator between the previous hash and the encoding (ASCII unit separator).
const SEPARATOR: u8 = 0x1f;

/// How a recorded attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made.
    Succeeded,
    /// The change was refused by a rule or a permission.
    Refused,
    /// The change was attempted and failed.
    Failed,
}

impl Outcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "succeeded" => Ok(Self::Succeeded),
            "refused" => Ok(Self::Refused),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt {
                what: format!("audit outcome `{other}`"),
                reason: "expected succeeded, refused or failed".to_owned(),
            }),
        }
    }
}

/// One audit entry as a use case writes it: who (account and role), when,
/// from where, what, on which object, and how it ended. `detail` must never
/// hold an unmasked personal identifier.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub occurred_at: DateTime<Utc>,
    /// The account, e.g. `system`, `cli:root`, `account:<uuid>`.
    pub actor: String,
    /// The role the actor acted in, e.g. `system`, `operator`.
    pub actor_role: String,
    /// The client's network address, `-` when not over the network.
    pub client_address: String,
    /// A stable dotted code, e.g. `calendar.import`.
    pub action: &'static str,
    /// The object changed, e.g. `calendar:2027`; it chooses the chain.
    pub object: String,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
}

/// One stored row of `audit_log`, exactly as its text is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub shard: i64,
    pub seq: i64,
    pub id: String,
    pub occurred_at: String,
    pub actor: String,
    pub actor_role: String,
    pub client_address: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub detail_json: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The unambiguous encoding of every stored column but `hash` and
    /// `prev_hash` (which is hashed in front of it): a tag, then shard and seq
    /// as 8-byte big-endian integers, then each text column as an 8-byte
    /// big-endian length followed by its UTF-8 bytes, in a fixed order. No
    /// two different rows encode alike, however their text is split.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let texts = [
            &self.id,
            &self.occurred_at,
            &self.actor,
            &self.actor_role,
            &self.client_address,
            &self.action,
            &self.object,
            &self.outcome,
            &self.detail_json,
        ];
        let mut out = Vec::with_capacity(
            ENCODING_TAG.len() + 16 + texts.iter().map(|t| 8 + t.len()).sum::<usize>(),
        );
        out.extend_from_slice(ENCODING_TAG);
        out.extend_from_slice(&self.shard.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        for text in texts {
            out.extend_from_slice(&(text.len() as u64).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    /// The hash this row should carry, in lower-case hex; `None` when its
    /// `prev_hash` is not 64 hex digits (so it cannot be any entry's hash).
    pub fn compute_hash(&self) -> Option<String> {
        let mut prev = [0u8; 32];
        hex::decode_to_slice(&self.prev_hash, &mut prev).ok()?;
        let mut input = Vec::with_capacity(32 + 1 + 256);
        input.extend_from_slice(&prev);
        input.push(SEPARATOR);
        input.extend_from_slice(&self.canonical_bytes());
        Some(hex::encode(sm3(&input)))
    }
}

fn sm3(data: &[u8]) -> [u8; 32] {
    sscard_crypto::sm3(data)
}

/// The chain an object's entries go to: the first byte of SM3(object) mod 16.
pub fn shard_of(object: &str) -> i64 {
    i64::from(sm3(object.as_bytes())[0]) % SHARDS
}

/// The hash a shard's chain starts from (the `prev_hash` of its seq 1):
/// SM3("sscard-audit-genesis:<shard>") in lower-case hex.
pub fn genesis_hash(shard: i64) -> String {
    hex::encode(sm3(format!("sscard-audit-genesis:{shard}").as_bytes()))
}

/// Appends `entry` to its object's chain inside the caller's transaction and
/// returns the stored row. The shard's head row stays locked until the
/// transaction ends, so append last, just before committing.
pub async fn append(tx: &mut Tx, entry: &AuditEntry) -> Result<AuditRecord, StoreError> {
    let shard = shard_of(&entry.object);
    let head = sqlx::query(
        "UPDATE audit_heads SET seq = seq + 1 WHERE shard = $1 RETURNING seq, head_hash",
    )
    .bind(shard)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::Corrupt {
        what: format!("audit chain head {shard}"),
        reason: "missing from audit_heads".to_owned(),
    })?;
    let mut record = AuditRecord {
        shard,
        seq: head.try_get("seq")?,
        id: uuid::Uuid::new_v4().to_string(),
        occurred_at: format_time(entry.occurred_at),
        actor: entry.actor.clone(),
        actor_role: entry.actor_role.clone(),
        client_address: entry.client_address.clone(),
        action: entry.action.to_owned(),
        object: entry.object.clone(),
        outcome: entry.outcome.as_str().to_owned(),
        detail_json: entry.detail.to_string(),
        prev_hash: head.try_get("head_hash")?,
        hash: String::new(),
    };
    record.hash = record.compute_hash().ok_or_else(|| StoreError::Corrupt {
        what: format!("audit chain head {shard}"),
        reason: format!("head hash `{}` is not 64 hex digits", record.prev_hash),
    })?;
    sqlx::query(
        "INSERT INTO audit_log (shard, seq, id, occurred_at, actor, actor_role, client_address, \
         action, object, outcome, detail_json, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(record.shard)
    .bind(record.seq)
    .bind(record.id.clone())
    .bind(record.occurred_at.clone())
    .bind(record.actor.clone())
    .bind(record.actor_role.clone())
    .bind(record.client_address.clone())
    .bind(record.action.clone())
    .bind(record.object.clone())
    .bind(record.outcome.clone())
    .bind(record.detail_json.clone())
    .bind(record.prev_hash.clone())
    .bind(record.hash.clone())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_heads SET head_hash = $1 WHERE shard = $2 AND seq = $3")
        .bind(record.hash.clone())
        .bind(shard)
        .bind(record.seq)
        .execute(&mut **tx)
        .await?;
    Ok(record)
}

/// The result of checking every chain.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// Rows read.
    pub entries: u64,
    /// Chains checked.
    pub shards: i64,
    /// Every problem found, by shard and seq.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One problem in one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditProblem {
    pub shard: i64,
    /// The entry concerned (for head problems: the head's seq).
    pub seq: i64,
    /// The entry concerned, when there is one (for a gap: the entry after
    /// it; for a deleted tail: the last remaining entry).
    pub entry_id: Option<String>,
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The row's content does not give its stored hash: it was edited.
    Altered,
    /// Its `prev_hash` is not the hash of the entry before it: an entry was
    /// inserted here or the order was changed.
    BrokenLink,
    /// Sequence numbers `first..=last` are missing before this entry: deleted.
    Missing { first: i64, last: i64 },
    /// Its object belongs to another chain: the row was moved.
    WrongShard { expected: i64 },
    /// A sequence number below 1, never issued by a head: inserted.
    BadSeq,
    /// The head has issued up to `head_seq` but the chain ends at `last_seq`:
    /// the newest entries were deleted.
    TailMissing { head_seq: i64, last_seq: i64 },
    /// Entries `head_seq + 1..=last_seq` were never issued by the head: inserted.
    BeyondHead { head_seq: i64, last_seq: i64 },
    /// The head's hash is not the hash of the last entry.
    HeadHashMismatch,
    /// The shard has no head row.
    HeadMissing,
    /// The row's shard is not one of the chains.
    UnknownShard,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shard, seq) = (self.shard, self.seq);
        let id = self.entry_id.as_deref().unwrap_or("无");
        match &self.kind {
            ProblemKind::Altered => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：内容与其哈希值不符，记录已被改动。"
            ),
            ProblemKind::BrokenLink => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：前一哈希值与上一条记录不衔接，此处有记录被插入或顺序被调换。"
            ),
            ProblemKind::Missing { first, last } => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：之前缺少{}，记录已被删除。",
                seq_range(*first, *last)
            ),
            ProblemKind::WrongShard { expected } => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：其对象应属于第 {expected} 条链，记录被移动。"
            ),
            ProblemKind::BadSeq => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：序号不是链头分配的，记录被插入。"
            ),
            ProblemKind::TailMissing { head_seq, last_seq } => write!(
                f,
                "第 {shard} 条链：链头已登记到第 {head_seq} 号，但记录止于第 {last_seq} 号（末条记录 {id}），{}已被删除。",
                seq_range(last_seq + 1, *head_seq)
            ),
            ProblemKind::BeyondHead { head_seq, last_seq } => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：链头只登记到第 {head_seq} 号，{}未经链头登记，记录被插入。",
                seq_range(head_seq + 1, *last_seq)
            ),
            ProblemKind::HeadHashMismatch => write!(
                f,
                "第 {shard} 条链第 {seq} 号记录 {id}：链头哈希值与该末条记录不符，链头或末条记录已被改动。"
            ),
            ProblemKind::HeadMissing => write!(f, "第 {shard} 条链：链头缺失。"),
            ProblemKind::UnknownShard => write!(
                f,
                "链号 {shard} 第 {seq} 号记录 {id}：链号不在 0–{} 之间，记录被插入。",
                SHARDS - 1
            ),
        }
    }
}

fn seq_range(first: i64, last: i64) -> String {
    if first == last {
        format!("第 {first} 号记录")
    } else {
        format!("第 {first}–{last} 号记录")
    }
}

/// The columns of `audit_log` as [`record`] reads them.
macro_rules! columns {
    () => {
        "shard, seq, id, occurred_at, actor, actor_role, client_address, \
         action, object, outcome, detail_json, prev_hash, hash"
    };
}

fn record(row: &sqlx::any::AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        shard: row.try_get("shard")?,
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        actor: row.try_get("actor")?,
        actor_role: row.try_get("actor_role")?,
        client_address: row.try_get("client_address")?,
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        outcome: row.try_get("outcome")?,
        detail_json: row.try_get("detail_json")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// What to look for in the trail; every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// The actor exactly as stored, e.g. `account:<uuid>`, `cli:root`, `system`.
    pub actor: Option<String>,
    /// The action exactly, e.g. `account.create`.
    pub action: Option<String>,
    /// The object's beginning, e.g. `account:` or `calendar:2027`.
    pub object_prefix: Option<String>,
    pub outcome: Option<Outcome>,
}

/// One page of a search, newest first, and how many entries match in all.
#[derive(Clone, Debug)]
pub struct AuditPage {
    pub total: u64,
    pub records: Vec<AuditRecord>,
}

impl Store {
    /// The entries matching `filter`, newest first (ties in the order of
    /// their chains), `limit` of them after skipping `offset`.
    pub async fn search_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<AuditPage, StoreError> {
        let mut conditions = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        // Each `?` of a condition becomes the next placeholder, bound to `value`.
        let mut condition = |template: &str, value: &str| {
            let mut sql = String::new();
            for (i, part) in template.split('?').enumerate() {
                if i > 0 {
                    binds.push(value.to_owned());
                    sql.push_str(&format!("${}", binds.len()));
                }
                sql.push_str(part);
            }
            conditions.push(sql);
        };
        if let Some(from) = filter.from {
            condition("occurred_at >= ?", &format_time(from));
        }
        if let Some(until) = filter.until {
            condition("occurred_at < ?", &format_time(until));
        }
        if let Some(actor) = &filter.actor {
            condition("actor = ?", actor);
        }
        if let Some(action) = &filter.action {
            condition("action = ?", action);
        }
        if let Some(prefix) = &filter.object_prefix {
            // Portable and exact (LIKE's case rules differ between the engines).
            condition("SUBSTR(object, 1, LENGTH(?)) = ?", prefix);
        }
        if let Some(outcome) = filter.outcome {
            condition("outcome = ?", outcome.as_str());
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };

        let count_sql = format!("SELECT COUNT(*) AS total FROM audit_log{where_clause}");
        let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
        for value in &binds {
            count = count.bind(value.clone());
        }
        let total: i64 = count.fetch_one(self.pool()).await?.try_get("total")?;

        let page_sql = format!(
            concat!(
                "SELECT ",
                columns!(),
                " FROM audit_log{} ORDER BY occurred_at DESC, shard DESC, seq DESC LIMIT ${} OFFSET ${}"
            ),
            where_clause,
            binds.len() + 1,
            binds.len() + 2
        );
        let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
        for value in &binds {
            page = page.bind(value.clone());
        }
        let rows = page
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(self.pool())
            .await?;
        Ok(AuditPage {
            total: u64::try_from(total).unwrap_or_default(),
            records: rows.iter().map(record).collect::<Result<_, _>>()?,
        })
    }

    /// Every action code in the trail, in order.
    pub async fn audit_actions(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT action FROM audit_log ORDER BY action")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("action").map_err(StoreError::from))
            .collect()
    }
}

/// Checks every chain: each row's hash against its content, the sequence
/// without gaps, each `prev_hash` against the entry before, and the head
/// against the last entry. Each shard is read in one read-only snapshot,
/// page by page in seq order, so appends may go on meanwhile.
pub async fn verify(store: &Store) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport {
        shards: SHARDS,
        ..AuditReport::default()
    };
    for shard in 0..SHARDS {
        let mut tx = begin_snapshot(store).await?;
        verify_shard(&mut tx, shard, &mut report).await?;
        tx.rollback().await?;
    }
    let stray = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM audit_log WHERE shard < 0 OR shard >= $1 ORDER BY shard, seq LIMIT $2"
    ))
    .bind(SHARDS)
    .bind(PAGE)
    .fetch_all(store.pool())
    .await?;
    for row in &stray {
        let row = record(row)?;
        report.entries += 1;
        report.problems.push(AuditProblem {
            shard: row.shard,
            seq: row.seq,
            entry_id: Some(row.id),
            kind: ProblemKind::UnknownShard,
        });
    }
    Ok(report)
}

/// A read transaction that sees one consistent state of the database.
async fn begin_snapshot(store: &Store) -> Result<Tx, StoreError> {
    let tx = match store.backend() {
        // A deferred transaction in WAL mode reads one snapshot.
        Backend::Sqlite => store.pool().begin().await?,
        Backend::Postgres => {
            store
                .pool()
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        }
    };
    Ok(tx)
}

async fn verify_shard(tx: &mut Tx, shard: i64, report: &mut AuditReport) -> Result<(), StoreError> {
    let head = sqlx::query("SELECT seq, head_hash FROM audit_heads WHERE shard = $1")
        .bind(shard)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| -> Result<(i64, String), StoreError> {
            Ok((row.try_get("seq")?, row.try_get("head_hash")?))
        })
        .transpose()?;

    let mut expected_seq = 1;
    let mut last_hash = genesis_hash(shard);
    let mut last: Option<(i64, String)> = None; // seq and id of the last entry read
    let mut beyond_head: Option<(i64, String)> = None; // first entry past the head
    let mut cursor: Option<i64> = None;
    loop {
        let rows = match cursor {
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM audit_log WHERE shard = $1 ORDER BY seq LIMIT $2"
                ))
                .bind(shard)
                .bind(PAGE)
                .fetch_all(&mut **tx)
                .await?
            }
            Some(after) => {
                sqlx::query(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM audit_log WHERE shard = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                ))
                .bind(shard)
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut **tx)
                .await?
            }
        };
        let full_page = i64::try_from(rows.len()).is_ok_and(|n| n == PAGE);
        for row in &rows {
            let row = record(row)?;
            report.entries += 1;
            let problem = |kind| AuditProblem {
                shard,
                seq: row.seq,
                entry_id: Some(row.id.clone()),
                kind,
            };
            if row.seq < expected_seq {
                report.problems.push(problem(ProblemKind::BadSeq));
            } else {
                if row.seq > expected_seq {
                    report.problems.push(problem(ProblemKind::Missing {
                        first: expected_seq,
                        last: row.seq - 1,
                    }));
                } else if row.prev_hash != last_hash {
                    // After a gap the link is broken anyway; report it only here.
                    report.problems.push(problem(ProblemKind::BrokenLink));
                }
                expected_seq = row.seq + 1;
                last_hash.clone_from(&row.hash);
                last = Some((row.seq, row.id.clone()));
            }
            if row.compute_hash().as_deref() != Some(row.hash.as_str()) {
                report.problems.push(problem(ProblemKind::Altered));
            }
            let expected = shard_of(&row.object);
            if expected != shard {
                report
                    .problems
                    .push(problem(ProblemKind::WrongShard { expected }));
            }
            if beyond_head.is_none() && head.as_ref().is_some_and(|(seq, _)| row.seq > *seq) {
                beyond_head = Some((row.seq, row.id.clone()));
            }
            cursor = Some(row.seq);
        }
        if !full_page {
            break;
        }
    }

    let Some((head_seq, head_hash)) = head else {
        report.problems.push(AuditProblem {
            shard,
            seq: 0,
            entry_id: None,
            kind: ProblemKind::HeadMissing,
        });
        return Ok(());
    };
    let (last_seq, last_id) = last.map_or((0, None), |(seq, id)| (seq, Some(id)));
    if head_seq > last_seq {
        report.problems.push(AuditProblem {
            shard,
            seq: head_seq,
            entry_id: last_id,
            kind: ProblemKind::TailMissing { head_seq, last_seq },
        });
    } else if let Some((seq, id)) = beyond_head {
        report.problems.push(AuditProblem {
            shard,
            seq,
            entry_id: Some(id),
            kind: ProblemKind::BeyondHead { head_seq, last_seq },
        });
    } else if head_hash != last_hash {
        report.problems.push(AuditProblem {
            shard,
            seq: head_seq,
            entry_id: last_id,
            kind: ProblemKind::HeadHashMismatch,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditRecord {
        let mut record = AuditRecord {
            shard: 3,
            seq: 7,
            id: "0b6f3c1e-0000-4000-8000-000000000001".to_owned(),
            occurred_at: "2026-03-02T08:00:00.000000Z".to_owned(),
            actor: "cli:root".to_owned(),
            actor_role: "operator".to_owned(),
            client_address: "-".to_owned(),
            action: "calendar.import".to_owned(),
            object: "calendar:2027".to_owned(),
            outcome: "succeeded".to_owned(),
            detail_json: r#"{"year":2027}"#.to_owned(),
            prev_hash: genesis_hash(3),
            hash: String::new(),
        };
        record.hash = record.compute_hash().unwrap();
        record
    }

    #[test]
    fn sm3_matches_the_standard_test_vector() {
        // GB/T 32905-2016, example 1.
        assert_eq!(
            hex::encode(sm3(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn the_migration_seeds_every_head_with_its_genesis_hash() {
        let migration = include_str!("../../migrations/0001_foundation.sql");
        for shard in 0..SHARDS {
            let literal = format!("({shard:>2}, 0, '{}')", genesis_hash(shard));
            assert!(
                migration.contains(&literal),
                "migration lacks the head of shard {shard}: {literal}"
            );
        }
        assert_eq!(
            migration.matches(", 0, '").count(),
            usize::try_from(SHARDS).unwrap(),
            "exactly one head per shard"
        );
    }

    #[test]
    fn shifting_a_field_boundary_changes_the_hash() {
        let original = sample();
        let mut shifted = original.clone();
        // "cli:root" + "operator" → "cli:roo" + "toperator": same concatenation.
        shifted.actor = "cli:roo".to_owned();
        shifted.actor_role = "toperator".to_owned();
        assert_ne!(original.canonical_bytes(), shifted.canonical_bytes());
        assert_ne!(original.compute_hash(), shifted.compute_hash());

        let mut moved = original.clone();
        moved.action = "calendar.import\u{1f}".to_owned();
        moved.object = "alendar:2027".to_owned();
        assert_ne!(original.compute_hash(), moved.compute_hash());
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let original = sample();
        let edits: Vec<fn(&mut AuditRecord)> = vec![
            |r| r.shard += 1,
            |r| r.seq += 1,
            |r| r.id.push('x'),
            |r| r.occurred_at = "2026-03-02T08:00:00.000001Z".to_owned(),
            |r| r.actor.push('x'),
            |r| r.actor_role.push('x'),
            |r| r.client_address = "10.0.0.1".to_owned(),
            |r| r.action.push('x'),
            |r| r.object.push('x'),
            |r| r.outcome = "refused".to_owned(),
            |r| r.detail_json = r#"{"year":2028}"#.to_owned(),
            |r| r.prev_hash = genesis_hash(4),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut changed = original.clone();
            edit(&mut changed);
            assert_ne!(
                original.compute_hash(),
                changed.compute_hash(),
                "edit {i} is not covered"
            );
        }
    }

    #[test]
    fn shard_and_seq_are_fixed_width_so_they_cannot_absorb_text() {
        let record = sample();
        let bytes = record.canonical_bytes();
        assert!(bytes.starts_with(ENCODING_TAG));
        let ints = &bytes[ENCODING_TAG.len()..ENCODING_TAG.len() + 16];
        assert_eq!(&ints[..8], &3i64.to_be_bytes());
        assert_eq!(&ints[8..], &7i64.to_be_bytes());
    }

    #[test]
    fn a_malformed_previous_hash_gives_no_hash() {
        let mut record = sample();
        record.prev_hash = "not hex".to_owned();
        assert_eq!(record.compute_hash(), None);
    }

    #[test]
    fn shards_spread_and_stay_in_range() {
        let shards: std::collections::BTreeSet<i64> =
            (0..200).map(|i| shard_of(&format!("case:{i}"))).collect();
        assert!(shards.iter().all(|s| (0..SHARDS).contains(s)));
        assert_eq!(shards.len(), 16, "200 objects reach every shard");
        assert_eq!(shard_of("calendar:2027"), shard_of("calendar:2027"));
    }

    #[test]
    fn outcomes_round_trip_as_text() {
        for outcome in [Outcome::Succeeded, Outcome::Refused, Outcome::Failed] {
            assert_eq!(outcome.as_str().parse::<Outcome>().unwrap(), outcome);
        }
        assert!("ok".parse::<Outcome>().is_err());
    }
}
