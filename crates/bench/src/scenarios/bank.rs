//! `bank`: the batch exchange with a cooperating bank (issue 7) at scale.
//! A fresh database gets the demo banks and `--records` (1,000,000)
//! generated persons with new ICBC cards (`sscard bank demo-cards`' own
//! bulk insert), their social function then set active (正常) and their bank
//! function awaiting activation (no account, never exported). Then, as a
//! bureau runs them, each as a child process on that database:
//!
//! 1. `sscard bank export --bank ICBC --out export.txt` — measured (wall
//!    time, peak resident memory); the file must hold exactly the cards that
//!    were waiting;
//! 2. `sscard bank simulate-return --reject-every 50` — the bank's answer
//!    (2 % rejected), not measured;
//! 3. `sscard bank import return.txt` — measured likewise;
//!
//! and afterwards the registry must match the return file: as many cards
//! with a sealed account as the file accepts, as many rejections recorded as
//! it rejects, no exported card left unanswered. Any difference or failed
//! command is an error (the tool exits non-zero).

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};

use super::Options;
use crate::child;
use crate::db::BenchDb;
use crate::report::{Report, mb, round3};
use crate::seed::{self, BULK_BANK};

/// Records when `--records` is not given.
pub const DEFAULT_RECORDS: u64 = 1_000_000;
/// The bank rejects every N-th record of the export.
pub const REJECT_EVERY: u64 = 50;

/// What a bank batch file holds, counted line by line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileTally {
    /// `EXPORT`, `RETURN` or `ACTIVATED`.
    pub kind: String,
    pub batch_no: String,
    pub records: u64,
    /// Return files: records with result `A` (account opened).
    pub accepted: u64,
    /// Return files: records with result `R` (rejected).
    pub rejected: u64,
}

/// Counts the records of a batch file (`docs/bank-interface.md` §5): the
/// header's count, the records (numbered 1, 2, 3 … in order) and the
/// trailer's count must agree; in a return file every record is `A` or `R`.
/// The digest is the importer's to check, not this tally's.
///
/// # Errors
///
/// The file is not a well-formed batch file.
pub fn tally(reader: impl BufRead) -> anyhow::Result<FileTally> {
    let mut tally = FileTally::default();
    let mut header_count: Option<u64> = None;
    let mut trailer_count: Option<u64> = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        let fields: Vec<&str> = line.split('\t').collect();
        if trailer_count.is_some() {
            bail!("line {}: text after the trailer", n + 1);
        }
        match fields.first().copied() {
            Some("H") if n == 0 && fields.len() == 9 && fields[1] == "SSCARD-BANK" => {
                tally.kind = fields[3].to_owned();
                tally.batch_no = fields[4].to_owned();
                header_count = Some(fields[6].parse().context("the header's record count")?);
            }
            Some("D") if header_count.is_some() => {
                let seq: u64 = fields
                    .get(1)
                    .and_then(|s| s.parse().ok())
                    .with_context(|| format!("line {}: no record number", n + 1))?;
                if seq != tally.records + 1 {
                    bail!(
                        "line {}: record {seq} where {} was due",
                        n + 1,
                        tally.records + 1
                    );
                }
                tally.records += 1;
                if tally.kind == "RETURN" {
                    match fields.get(4).copied() {
                        Some("A") => tally.accepted += 1,
                        Some("R") => tally.rejected += 1,
                        other => bail!("line {}: result {other:?} is neither A nor R", n + 1),
                    }
                }
            }
            Some("T") if header_count.is_some() && fields.len() == 3 => {
                trailer_count = Some(fields[1].parse().context("the trailer's record count")?);
            }
            _ => bail!("line {}: not a line of a bank batch file", n + 1),
        }
    }
    match (header_count, trailer_count) {
        (Some(h), Some(t)) if h == tally.records && t == tally.records => Ok(tally),
        (Some(h), Some(t)) => bail!(
            "the header says {h} records, the trailer {t}, the file holds {}",
            tally.records
        ),
        (None, _) => bail!("no header"),
        (_, None) => bail!("no trailer"),
    }
}

fn tally_file(path: &Path) -> anyhow::Result<FileTally> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    tally(std::io::BufReader::with_capacity(1 << 16, file))
        .with_context(|| format!("{}", path.display()))
}

/// `bank`.
///
/// # Errors
///
/// Set-up failed (data could not be loaded …). A failed command or a
/// registry that does not match the files is counted in the reports.
pub async fn run(options: &Options) -> anyhow::Result<Vec<Report>> {
    let records = options.records.unwrap_or(DEFAULT_RECORDS);
    let db = BenchDb::fresh(
        options.postgres.as_deref(),
        options.work_dir.as_deref(),
        "bank",
    )
    .await?;
    let result = bank_on(&db, options, records).await;
    db.remove().await;
    result
}

/// The bank's exchange rows by status (`exported`, `accepted`, `rejected`)
/// and the bank's cards holding an account.
async fn exchange_counts(
    services: &sscard::service::Services,
) -> anyhow::Result<(i64, i64, i64, i64)> {
    let pool = services.store().pool();
    let count = |status: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM bank_card_exchange WHERE bank_code = $1 AND status = $2",
        )
        .bind(BULK_BANK)
        .bind(status)
        .fetch_one(pool)
    };
    let exported = count("exported").await?;
    let accepted = count("accepted").await?;
    let rejected = count("rejected").await?;
    let with_account: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cards WHERE bank_code = $1 AND bank_account_sealed IS NOT NULL",
    )
    .bind(BULK_BANK)
    .fetch_one(pool)
    .await?;
    Ok((exported, accepted, rejected, with_account))
}

#[allow(clippy::too_many_lines)]
async fn bank_on(db: &BenchDb, options: &Options, records: u64) -> anyhow::Result<Vec<Report>> {
    let backend = db.backend_name();
    eprintln!("bank on {backend}: registering {records} persons with new {BULK_BANK} cards …");
    let services = db.services().await?;
    seed::bulk_cards(&services, records).await?;
    // The social function active (正常), the bank function awaiting its
    // account (未激活): the cards a bank is sent.
    sqlx::query("UPDATE cards SET social_state = 'normal' WHERE card_number LIKE 'Z%'")
        .execute(services.store().pool())
        .await?;
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cards WHERE bank_code = $1 AND bank_account_sealed IS NULL \
         AND social_state <> 'cancelled' AND financial_state = 'not_activated'",
    )
    .bind(BULK_BANK)
    .fetch_one(services.store().pool())
    .await?;
    let before = exchange_counts(&services).await?;
    services.store().close().await;
    drop(services);

    // 1. Export.
    let export_file = db.dir().join("export.txt");
    eprintln!("  sscard bank export ({waiting} cards waiting) …");
    let export = child::run(
        &options.binary,
        [
            "bank".as_ref(),
            "export".as_ref(),
            "--bank".as_ref(),
            BULK_BANK.as_ref(),
            "--out".as_ref(),
            export_file.as_os_str(),
        ],
        db,
        "export",
    )
    .await?;
    let mut export_report = Report::timed("bank-export", backend, "records", 0, export.wall);
    export_report.peak_rss_mb = export.peak_rss.map(mb);
    let exported = match export
        .ensure_success("sscard bank export")
        .and_then(|()| tally_file(&export_file))
    {
        Ok(tally) => tally,
        Err(error) => {
            export_report.error(format!("{error:#}"));
            return Ok(vec![export_report]);
        }
    };
    export_report = Report::timed(
        "bank-export",
        backend,
        "records",
        exported.records,
        export.wall,
    )
    .with("batch_no", exported.batch_no.clone())
    .with(
        "file_mb",
        std::fs::metadata(&export_file).map_or(0.0, |m| mb(m.len())),
    )
    .with("target_s", 10)
    .with("rss_sampled_every_ms", 5);
    export_report.peak_rss_mb = export.peak_rss.map(mb);
    if i64::try_from(exported.records).ok() != Some(waiting) {
        export_report.error(format!(
            "the export holds {} records, {waiting} cards were waiting",
            exported.records
        ));
    }

    // 2. The bank's answer.
    let return_file = db.dir().join("return.txt");
    let simulated = child::run(
        &options.binary,
        [
            "bank".as_ref(),
            "simulate-return".as_ref(),
            export_file.as_os_str(),
            "--out".as_ref(),
            return_file.as_os_str(),
            "--reject-every".as_ref(),
            REJECT_EVERY.to_string().as_ref(),
        ],
        db,
        "simulate-return",
    )
    .await?;
    let answered = match simulated
        .ensure_success("sscard bank simulate-return")
        .and_then(|()| tally_file(&return_file))
    {
        Ok(tally) => tally,
        Err(error) => {
            export_report.error(format!("{error:#}"));
            return Ok(vec![export_report]);
        }
    };
    let _ = std::fs::remove_file(&export_file);

    // 3. Import.
    eprintln!(
        "  sscard bank import ({} accepted, {} rejected) …",
        answered.accepted, answered.rejected
    );
    let import_report_file = db.dir().join("return.report.csv");
    let import = child::run(
        &options.binary,
        [
            "bank".as_ref(),
            "import".as_ref(),
            return_file.as_os_str(),
            "--report".as_ref(),
            import_report_file.as_os_str(),
        ],
        db,
        "import",
    )
    .await?;
    let mut import_report = Report::timed(
        "bank-import",
        backend,
        "records",
        answered.records,
        import.wall,
    )
    .with("accepted", answered.accepted)
    .with("rejected", answered.rejected)
    .with("simulate_return_s", round3(simulated.wall.as_secs_f64()))
    .with("target_s", 20)
    .with("rss_sampled_every_ms", 5);
    import_report.peak_rss_mb = import.peak_rss.map(mb);
    if let Err(error) = import.ensure_success("sscard bank import") {
        import_report.error(format!("{error:#}"));
    }
    let _ = std::fs::remove_file(&return_file);
    let _ = std::fs::remove_file(&import_report_file);

    // The registry must say what the return file said.
    let services = db.services().await?;
    let after = exchange_counts(&services).await?;
    services.store().close().await;
    let accepted = after.1 - before.1;
    let rejected = after.2 - before.2;
    let with_account = after.3 - before.3;
    let want_accepted = i64::try_from(answered.accepted).unwrap_or(i64::MAX);
    let want_rejected = i64::try_from(answered.rejected).unwrap_or(i64::MAX);
    if accepted != want_accepted || with_account != want_accepted {
        import_report.error(format!(
            "the return file accepts {want_accepted} accounts; the registry records {accepted} accepted and {with_account} cards with an account"
        ));
    }
    if rejected != want_rejected {
        import_report.error(format!(
            "the return file rejects {want_rejected} records; the registry records {rejected}"
        ));
    }
    if after.0 != 0 {
        import_report.error(format!("{} exported cards are still unanswered", after.0));
    }
    import_report.set("registry_matches_file", import_report.errors == 0);
    Ok(vec![export_report, import_report])
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETURN: &str = "H\tSSCARD-BANK\t1\tRETURN\tICBC-20261127-0001-R\tICBC\t3\t2026-11-27T18:32:05+08:00\tICBC-20261127-0001\n\
D\t1\tZ00000120\t450203195001011200\tA\t6212269000000120007\t\t\n\
D\t2\tZ00000121\t450203195001011219\tA\t6212269000000121005\t\t\n\
D\t3\tZ00000122\t450203195001011227\tR\t\tREAL_NAME_CHECK_FAILED\t公民身份信息联网核查不一致\n\
T\t3\t86b0e13fea9d0a4fdd83838a9ccab8552d83dbc577ac8d3417d328a3d2d06d60\n";

    #[test]
    fn a_return_file_is_counted_by_result() {
        let tally = tally(RETURN.as_bytes()).unwrap();
        assert_eq!(
            tally,
            FileTally {
                kind: "RETURN".to_owned(),
                batch_no: "ICBC-20261127-0001-R".to_owned(),
                records: 3,
                accepted: 2,
                rejected: 1,
            }
        );
    }

    #[test]
    fn an_export_file_counts_its_records_only() {
        let export = "H\tSSCARD-BANK\t1\tEXPORT\tICBC-20261127-0001\tICBC\t2\t2026-11-27T18:32:05+08:00\t\n\
D\t1\tZ00000120\t450203195001011200\t韦桂秀\t2\t1950-01-01\t13900000120\t广西\t2026-11-01\t2036-11-01\n\
D\t2\tZ00000121\t450203195001011219\t覃桂秀\t1\t1950-01-01\t13900000121\t广西\t2026-11-01\t2036-11-01\n\
T\t2\t00\n";
        let tally = tally(export.as_bytes()).unwrap();
        assert_eq!((tally.kind.as_str(), tally.records), ("EXPORT", 2));
        assert_eq!((tally.accepted, tally.rejected), (0, 0));
    }

    #[test]
    fn counts_that_disagree_are_refused() {
        let short = RETURN.replace("\tICBC\t3\t", "\tICBC\t4\t");
        assert!(tally(short.as_bytes()).is_err(), "header says 4");
        let trailer = RETURN.replace("T\t3\t", "T\t2\t");
        assert!(tally(trailer.as_bytes()).is_err(), "trailer says 2");
        let cut: String = RETURN.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert!(tally(cut.as_bytes()).is_err(), "no trailer");
    }

    #[test]
    fn records_out_of_order_or_with_another_result_are_refused() {
        let swapped = RETURN.replace("D\t2\t", "D\t9\t");
        assert!(tally(swapped.as_bytes()).is_err());
        let unknown = RETURN.replace("\tR\t\tREAL", "\tX\t\tREAL");
        assert!(tally(unknown.as_bytes()).is_err());
    }
}
