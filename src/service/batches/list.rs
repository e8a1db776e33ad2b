//! Reading a batch's list on its own thread: the file streams through
//! [`crate::import::reader`], each row is checked ([`crate::import::batch`]),
//! its ID number sealed and blind-indexed, and the rows go to the
//! submitting transaction in parts through a bounded channel. Memory: one
//! part in the making plus [`PARTS_IN_FLIGHT`] parts waiting.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use sscard_crypto::Keyring;
use tokio::sync::mpsc;

use crate::import::batch::{HeaderFinder, ListError, ListHeader};
use crate::import::reader::{self, Event, Format, ReadError};
use crate::service::registry::ID_NUMBER_INDEX;
use crate::store::batches::{ID_NUMBER_SEALED, NewBatchRow};

/// Rows per part sent to the transaction.
const PART_ROWS: usize = 500;
/// Parts waiting in the channel.
const PARTS_IN_FLIGHT: usize = 4;

/// Why the list cannot be taken: a stable code and the Chinese message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListFailure {
    pub code: &'static str,
    pub message: String,
}

impl From<ListError> for ListFailure {
    fn from(error: ListError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl From<ReadError> for ListFailure {
    fn from(error: ReadError) -> Self {
        let message = error
            .to_string()
            .replace("再导入", "再上传")
            .replace("导入", "上传");
        Self {
            code: error.code(),
            message,
        }
    }
}

/// The list as opened: how it was read and where its header is.
#[derive(Clone, Debug)]
pub struct Opened {
    pub format: Format,
    pub encoding: &'static str,
    pub header: ListHeader,
}

enum Message {
    Opened(Opened),
    Rows(Vec<NewBatchRow>),
    Failed(ListFailure),
}

/// The receiving end.
pub struct ListReader {
    receiver: mpsc::Receiver<Message>,
    done: bool,
}

impl ListReader {
    /// Waits for the header.
    pub async fn opened(&mut self) -> Result<Opened, ListFailure> {
        match self.receiver.recv().await {
            Some(Message::Opened(opened)) => Ok(opened),
            Some(Message::Failed(failure)) => {
                self.done = true;
                Err(failure)
            }
            Some(Message::Rows(_)) | None => {
                self.done = true;
                Err(ListError::NoRows.into())
            }
        }
    }

    /// The next part of rows; `None` at the end of the list.
    pub async fn next_rows(&mut self) -> Result<Option<Vec<NewBatchRow>>, ListFailure> {
        if self.done {
            return Ok(None);
        }
        match self.receiver.recv().await {
            Some(Message::Rows(rows)) => Ok(Some(rows)),
            Some(Message::Failed(failure)) => {
                self.done = true;
                Err(failure)
            }
            Some(Message::Opened(_)) | None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// Starts reading `path` on a thread of its own; row ids start with
/// `batch_id`.
pub fn spawn_reader(
    path: PathBuf,
    batch_id: String,
    keyring: Arc<Keyring>,
    today: NaiveDate,
    max_rows: u64,
) -> ListReader {
    let (sender, receiver) = mpsc::channel(PARTS_IN_FLIGHT);
    let spawned = std::thread::Builder::new()
        .name("sscard-batch-list".to_owned())
        .spawn({
            let sender = sender.clone();
            move || read(&path, &batch_id, &keyring, today, max_rows, &sender)
        });
    if let Err(error) = spawned {
        let _ = sender.try_send(Message::Failed(ReadError::Io(error).into()));
    }
    ListReader {
        receiver,
        done: false,
    }
}

fn read(
    path: &std::path::Path,
    prefix: &str,
    keyring: &Keyring,
    today: NaiveDate,
    max_rows: u64,
    sender: &mpsc::Sender<Message>,
) {
    let mut finder = HeaderFinder::new();
    let mut header: Option<ListHeader> = None;
    let mut opened: Option<(Format, &'static str)> = None;
    let mut part: Vec<NewBatchRow> = Vec::with_capacity(PART_ROWS);
    let mut count: u64 = 0;
    let mut failure: Option<ListFailure> = None;
    let result = reader::read_table(path, &mut |event| {
        let row = match event {
            Event::Header {
                row,
                format,
                encoding,
                ..
            } => {
                opened = Some((format, encoding));
                row
            }
            Event::Row { row, .. } => row,
        };
        let Some(found) = &header else {
            match finder.offer(&row) {
                Ok(Some(found)) => {
                    let (format, encoding) = opened.unwrap_or((Format::Csv, "UTF-8"));
                    let message = Message::Opened(Opened {
                        format,
                        encoding,
                        header: found.clone(),
                    });
                    header = Some(found);
                    return sender.blocking_send(message).is_ok();
                }
                Ok(None) => return true,
                Err(error) => {
                    failure = Some(error.into());
                    return false;
                }
            }
        };
        let Some(line) = found.line(&row, today) else {
            return true;
        };
        count += 1;
        if count > max_rows {
            failure = Some(ListError::TooManyRows { max: max_rows }.into());
            return false;
        }
        part.push(sealed_row(keyring, prefix, line));
        if part.len() >= PART_ROWS {
            let full = std::mem::replace(&mut part, Vec::with_capacity(PART_ROWS));
            return sender.blocking_send(Message::Rows(full)).is_ok();
        }
        true
    });
    let failure = match (result, failure) {
        (_, Some(failure)) => Some(failure),
        (Err(error), None) => Some(error.into()),
        (Ok(()), None) if header.is_none() => Some(finder.give_up().into()),
        (Ok(()), None) => None,
    };
    if let Some(failure) = failure {
        let _ = sender.blocking_send(Message::Failed(failure));
        return;
    }
    if !part.is_empty() {
        let _ = sender.blocking_send(Message::Rows(part));
    }
}

/// A checked line as stored: the ID number sealed under the row's own id,
/// the blind index only for a row read without problem (a row with a
/// problem is never looked up, nor counted as the person's first row).
fn sealed_row(
    keyring: &Keyring,
    prefix: &str,
    line: crate::import::batch::ListLine,
) -> NewBatchRow {
    // The batch's id is not known here; a row id only needs to be unique
    // and, for locality, ordered by line: rows of a chunk are neighbours in
    // the primary key, so a chunk writes few pages.
    let id = format!("{prefix}:{:010}", line.line);
    let id_number_sealed = line
        .id_text
        .as_deref()
        .map(|text| keyring.encrypt_str(text, ID_NUMBER_SEALED.aad(&id).as_bytes()));
    let id_number_index = match (&line.problem, &line.id_number) {
        (None, Some(number)) => Some(keyring.blind_index(ID_NUMBER_INDEX, number.as_str())),
        _ => None,
    };
    let (problem_code, problem_reason) = match line.problem {
        Some((code, reason)) => (Some(code), Some(reason)),
        None => (None, None),
    };
    NewBatchRow {
        line_no: i64::try_from(line.line).unwrap_or(i64::MAX),
        name: line.name,
        id_number_index,
        id_number_sealed,
        id_number_masked: line.id_masked,
        card_number: line.card_number.map(|c| c.as_str().to_owned()),
        card_masked: line.card_masked,
        bank_requested: line.bank_requested,
        problem_code,
        problem_reason,
        id,
    }
}
