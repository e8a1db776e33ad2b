//! The batch files exchanged with cooperating banks (批量文件), read and
//! written line by line in bounded memory, with no database. The format is
//! documented for the banks in `docs/bank-interface.md`; in short:
//!
//! ```text
//! H⇥SSCARD-BANK⇥1⇥<kind>⇥<batch no>⇥<bank>⇥<record count>⇥<created at>⇥<answers batch>
//! D⇥<seq>⇥<field>⇥<field>…            one line per record, seq = 1, 2, …
//! T⇥<record count>⇥<SM3 of every byte before this line, hex>
//! ```
//!
//! UTF-8 without a byte-order mark, fields separated by TAB, every line
//! ended by LF (no CR), no field containing TAB, CR or LF, lines at most
//! [`MAX_LINE_BYTES`] bytes. `kind` is `EXPORT` (bureau → bank: personal
//! data of new cards), `RETURN` (bank → bureau: accounts opened or the
//! reason why not) or `ACTIVATED` (bank → bureau: the bank's list of
//! activated accounts, for reconciliation).
//!
//! A reader checks the structure as it goes (header, field counts, record
//! numbers in order) and, at the trailer, the record count and the digest;
//! callers that must not apply anything from a bad file read it twice: once
//! to the end to verify, then again to apply.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use sscard_crypto::Sm3Hasher;
use sscard_domain::registry::BankCode;

/// The format tag of the header's second field.
pub const FORMAT_TAG: &str = "SSCARD-BANK";
/// The format version of the header's third field.
pub const FORMAT_VERSION: &str = "1";
/// The longest line accepted, LF included.
pub const MAX_LINE_BYTES: usize = 4096;

/// What a batch file carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// 报送文件 (bureau → bank): personal data of newly issued cards.
    Export,
    /// 回盘文件 (bank → bureau): per card, the account opened or why not.
    Return,
    /// 已激活账户清单 (bank → bureau): the bank's activated accounts.
    Activated,
}

impl FileKind {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Export => "EXPORT",
            Self::Return => "RETURN",
            Self::Activated => "ACTIVATED",
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Export => "报送文件",
            Self::Return => "回盘文件",
            Self::Activated => "已激活账户清单",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [Self::Export, Self::Return, Self::Activated]
            .into_iter()
            .find(|kind| kind.code() == code)
    }

    /// The fields of one record after `D` and the sequence number.
    #[must_use]
    pub fn record_fields(self) -> &'static [&'static str] {
        match self {
            Self::Export => &[
                "card_number",
                "id_number",
                "name",
                "sex",
                "birth_date",
                "mobile",
                "address",
                "issue_date",
                "expiry_date",
            ],
            Self::Return => &[
                "card_number",
                "id_number",
                "result",
                "account",
                "reason_code",
                "reason_text",
            ],
            Self::Activated => &["card_number", "account", "activated_on"],
        }
    }
}

/// The header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: FileKind,
    /// 批次号: 1 to 40 of `A-Z a-z 0-9 - _`.
    pub batch_no: String,
    pub bank: BankCode,
    pub record_count: u64,
    pub created_at: DateTime<FixedOffset>,
    /// For a return file, the export batch it answers (may be absent).
    pub answers_batch: Option<String>,
}

impl Header {
    fn line(&self) -> String {
        format!(
            "H\t{FORMAT_TAG}\t{FORMAT_VERSION}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.kind.code(),
            self.batch_no,
            self.bank.as_str(),
            self.record_count,
            self.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.answers_batch.as_deref().unwrap_or_default()
        )
    }
}

/// Whether `batch_no` is a well-formed batch number.
#[must_use]
pub fn is_batch_no(batch_no: &str) -> bool {
    (1..=40).contains(&batch_no.len())
        && batch_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a file is refused as a whole: the line (1-based; 0 = the file), a
/// stable code and a Chinese message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("第 {line} 行：{message}（{code}）")]
pub struct FileError {
    pub line: u64,
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    fn at(line: u64, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line,
            code,
            message: message.into(),
        }
    }
}

/// Writes a batch file: the header at once, then the records, then on
/// [`FileWriter::finish`] the trailer with the count and the digest.
pub struct FileWriter<W: Write> {
    out: W,
    hasher: Sm3Hasher,
    kind: FileKind,
    expected: u64,
    written: u64,
    line: String,
}

impl<W: Write> std::fmt::Debug for FileWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWriter")
            .field("kind", &self.kind)
            .field("expected", &self.expected)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<W: Write> FileWriter<W> {
    /// Writes the header line.
    ///
    /// # Errors
    ///
    /// Writing fails, or the batch number is malformed (`InvalidInput`).
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        if !is_batch_no(&header.batch_no)
            || header
                .answers_batch
                .as_deref()
                .is_some_and(|no| !no.is_empty() && !is_batch_no(no))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "malformed batch number",
            ));
        }
        let line = header.line();
        let mut hasher = Sm3Hasher::new();
        hasher.update(line.as_bytes());
        out.write_all(line.as_bytes())?;
        Ok(Self {
            out,
            hasher,
            kind: header.kind,
            expected: header.record_count,
            written: 0,
            line: String::with_capacity(512),
        })
    }

    /// Writes the next record (its sequence number is the count so far + 1).
    ///
    /// # Errors
    ///
    /// Writing fails; a field holds TAB, CR or LF, the number of fields is
    /// not the kind's, or more records than announced (`InvalidInput`).
    pub fn record(&mut self, fields: &[&str]) -> io::Result<()> {
        if fields.len() != self.kind.record_fields().len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "wrong number of fields for this kind of file",
            ));
        }
        if fields
            .iter()
            .any(|field| field.contains(['\t', '\r', '\n']))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a field holds TAB, CR or LF",
            ));
        }
        if self.written == self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more records than the header announces",
            ));
        }
        self.written += 1;
        self.line.clear();
        self.line.push_str("D\t");
        self.line.push_str(&self.written.to_string());
        for field in fields {
            self.line.push('\t');
            self.line.push_str(field);
        }
        self.line.push('\n');
        if self.line.len() > MAX_LINE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a record line is longer than 4096 bytes",
            ));
        }
        self.hasher.update(self.line.as_bytes());
        self.out.write_all(self.line.as_bytes())
    }

    /// Writes the trailer; gives back the writer and the digest.
    ///
    /// # Errors
    ///
    /// Writing fails, or fewer records than announced (`InvalidInput`).
    pub fn finish(mut self) -> io::Result<(W, String)> {
        if self.written != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "fewer records than the header announces",
            ));
        }
        let digest = self.hasher.finalize_hex();
        self.out
            .write_all(format!("T\t{}\t{digest}\n", self.written).as_bytes())?;
        self.out.flush()?;
        Ok((self.out, digest))
    }
}

/// One record as read: its line, its sequence number and its fields (the
/// kind's [`FileKind::record_fields`], in order).
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub seq: u64,
    pub fields: Vec<String>,
}

impl std::fmt::Debug for Record {
    /// Prints no field: they hold personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("line", &self.line)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Record {
    /// The field named `name` (one of the kind's fields), or `""`.
    #[must_use]
    pub fn get(&self, kind: FileKind, name: &str) -> &str {
        kind.record_fields()
            .iter()
            .position(|field| *field == name)
            .and_then(|i| self.fields.get(i))
            .map_or("", String::as_str)
    }
}

/// What the trailer confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// SM3 of everything before the trailer, lowercase hex.
    pub digest: String,
}

/// Reads a batch file record by record, checking its structure; the count
/// and the digest are checked at the trailer, which [`FileReader::next_record`]
/// reports by returning `Ok(None)` ([`FileReader::verified`] then holds them).
pub struct FileReader<R: BufRead> {
    input: R,
    line_no: u64,
    header: Header,
    hasher: Option<Sm3Hasher>,
    seen: u64,
    verified: Option<Verified>,
    buffer: Vec<u8>,
}

impl<R: BufRead> std::fmt::Debug for FileReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("line_no", &self.line_no)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> FileReader<R> {
    /// Reads and checks the header line.
    ///
    /// # Errors
    ///
    /// A [`FileError`] naming what is wrong with the header.
    pub fn open(input: R) -> Result<Self, FileError> {
        let mut reader = Self {
            input,
            line_no: 0,
            header: Header {
                kind: FileKind::Export,
                batch_no: String::new(),
                bank: BankCode::parse("XX").map_err(|_| FileError::at(0, "FILE_IO", "内部错误"))?,
                record_count: 0,
                created_at: DateTime::<Utc>::MIN_UTC.fixed_offset(),
                answers_batch: None,
            },
            hasher: Some(Sm3Hasher::new()),
            seen: 0,
            verified: None,
            buffer: Vec::with_capacity(MAX_LINE_BYTES),
        };
        let Some(line) = reader.read_line()? else {
            return Err(FileError::at(
                1,
                "FILE_EMPTY",
                "文件为空，缺少首行（H 行）。",
            ));
        };
        if line.starts_with('\u{FEFF}') {
            return Err(FileError::at(
                1,
                "FILE_BOM",
                "文件以字节顺序标记（BOM）开头：请保存为不带 BOM 的 UTF-8。",
            ));
        }
        reader.header = parse_header(&line)?;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The count and digest, once the trailer has been read and matched.
    pub fn verified(&self) -> Option<&Verified> {
        self.verified.as_ref()
    }

    /// The next record, or `None` after the trailer (count and digest
    /// matched, nothing after it).
    ///
    /// # Errors
    ///
    /// A [`FileError`] at the first structural problem: a line that is not
    /// a record of this kind, a sequence number out of order, more or fewer
    /// records than announced, a digest that does not match, a missing
    /// trailer or anything after it.
    pub fn next_record(&mut self) -> Result<Option<Record>, FileError> {
        if self.verified.is_some() {
            return Ok(None);
        }
        let Some(line) = self.read_line()? else {
            return Err(FileError::at(
                self.line_no + 1,
                "FILE_TRAILER_MISSING",
                format!(
                    "文件在第 {} 条记录后结束，缺少尾行（T 行）：文件可能不完整，请重新获取。",
                    self.seen
                ),
            ));
        };
        let line_no = self.line_no;
        let mut fields = line.split('\t');
        match fields.next() {
            Some("D") => {}
            Some("T") => {
                let parts: Vec<&str> = line.split('\t').collect();
                self.check_trailer(&parts)?;
                if self.read_line()?.is_some() {
                    return Err(FileError::at(
                        self.line_no,
                        "FILE_DATA_AFTER_TRAILER",
                        "尾行（T 行）之后还有内容，文件格式不正确。",
                    ));
                }
                return Ok(None);
            }
            _ => {
                return Err(FileError::at(
                    line_no,
                    "FILE_RECORD_FORMAT",
                    "应为记录行（以 D 开头）或尾行（以 T 开头）。",
                ));
            }
        }
        let seq_text = fields.next().unwrap_or_default();
        let fields: Vec<String> = fields.map(str::to_owned).collect();
        let expected_fields = self.header.kind.record_fields().len();
        if fields.len() != expected_fields {
            return Err(FileError::at(
                line_no,
                "FILE_RECORD_FORMAT",
                format!(
                    "{}的记录应有 {} 个字段（{}），此行有 {} 个。",
                    self.header.kind.label_zh(),
                    expected_fields,
                    self.header.kind.record_fields().join("、"),
                    fields.len()
                ),
            ));
        }
        let seq = seq_text
            .parse::<u64>()
            .ok()
            .filter(|seq| *seq == self.seen + 1)
            .ok_or_else(|| {
                FileError::at(
                    line_no,
                    "FILE_SEQUENCE",
                    format!(
                        "记录序号应为 {}，此行为“{}”：记录须按 1、2、3… 连续编号。",
                        self.seen + 1,
                        seq_text
                    ),
                )
            })?;
        if seq > self.header.record_count {
            return Err(FileError::at(
                line_no,
                "FILE_COUNT_MISMATCH",
                format!(
                    "首行声明 {} 条记录，文件中的记录多于此数。",
                    self.header.record_count
                ),
            ));
        }
        self.seen = seq;
        Ok(Some(Record {
            line: line_no,
            seq,
            fields,
        }))
    }

    fn check_trailer(&mut self, parts: &[&str]) -> Result<(), FileError> {
        let line_no = self.line_no;
        let (Some(count), Some(digest), 3) = (parts.get(1), parts.get(2), parts.len()) else {
            return Err(FileError::at(
                line_no,
                "FILE_TRAILER_FORMAT",
                "尾行格式应为：T、记录数、SM3 摘要（以制表符分隔）。",
            ));
        };
        let count: u64 = count
            .parse()
            .map_err(|_| FileError::at(line_no, "FILE_TRAILER_FORMAT", "尾行的记录数不是数字。"))?;
        if count != self.seen || count != self.header.record_count {
            return Err(FileError::at(
                line_no,
                "FILE_COUNT_MISMATCH",
                format!(
                    "记录数不符：首行声明 {} 条，尾行声明 {count} 条，实际 {} 条。整个文件不予处理，请重新获取完整文件。",
                    self.header.record_count, self.seen
                ),
            ));
        }
        let computed = self
            .hasher
            .take()
            .map(Sm3Hasher::finalize_hex)
            .unwrap_or_default();
        if !digest.eq_ignore_ascii_case(&computed) {
            return Err(FileError::at(
                line_no,
                "FILE_DIGEST_MISMATCH",
                "SM3 摘要不符：文件内容与尾行的摘要不一致（文件可能在传输中损坏或被改动）。整个文件不予处理，请重新获取。",
            ));
        }
        self.verified = Some(Verified {
            records: count,
            digest: computed,
        });
        Ok(())
    }

    /// The next line without its LF, hashed unless it is the trailer;
    /// `None` at the end of the input.
    fn read_line(&mut self) -> Result<Option<String>, FileError> {
        self.buffer.clear();
        let read = io::Read::take(self.input.by_ref(), MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| {
                if e.get_ref()
                    .is_some_and(<dyn std::error::Error + Send + Sync>::is::<sscard_crypto::TransportError>)
                {
                    FileError::at(
                        self.line_no + 1,
                        "FILE_DECRYPT_FAILED",
                        "文件解密失败：传输密钥不对，或加密文件在传输中被改动、不完整。整个文件不予处理。",
                    )
                } else {
                    FileError::at(self.line_no + 1, "FILE_IO", format!("无法读取文件：{e}"))
                }
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let line_no = self.line_no;
        if self.buffer.last() != Some(&b'\n') {
            return Err(if self.buffer.len() > MAX_LINE_BYTES {
                FileError::at(
                    line_no,
                    "FILE_LINE_TOO_LONG",
                    format!("此行超过 {MAX_LINE_BYTES} 字节。"),
                )
            } else {
                FileError::at(
                    line_no,
                    "FILE_LINE_END",
                    "最后一行没有换行符（LF）：文件可能不完整。",
                )
            });
        }
        if self.buffer.first() != Some(&b'T')
            && let Some(hasher) = self.hasher.as_mut()
        {
            hasher.update(&self.buffer);
        }
        self.buffer.pop();
        if self.buffer.contains(&b'\r') {
            return Err(FileError::at(
                line_no,
                "FILE_LINE_END",
                "行尾含回车符（CR）：行应以 LF 结束，请勿使用 Windows 换行（CRLF）。",
            ));
        }
        String::from_utf8(std::mem::take(&mut self.buffer))
            .map(Some)
            .map_err(|_| {
                FileError::at(
                    line_no,
                    "FILE_NOT_UTF8",
                    "此行不是有效的 UTF-8 文本：文件须以 UTF-8 编码。",
                )
            })
    }
}

fn parse_header(line: &str) -> Result<Header, FileError> {
    let bad = |message: String| FileError::at(1, "FILE_HEADER", message);
    let parts: Vec<&str> = line.split('\t').collect();
    if parts.len() != 9 || parts[0] != "H" || parts[1] != FORMAT_TAG {
        return Err(bad(format!(
            "首行应为：H、{FORMAT_TAG}、版本、文件类型、批次号、银行代码、记录数、生成时间、对应报送批次（共 9 个字段，以制表符分隔）。"
        )));
    }
    if parts[2] != FORMAT_VERSION {
        return Err(bad(format!(
            "格式版本“{}”不受支持（应为 {FORMAT_VERSION}）。",
            parts[2]
        )));
    }
    let kind = FileKind::from_code(parts[3]).ok_or_else(|| {
        bad(format!(
            "文件类型“{}”无效：应为 EXPORT、RETURN 或 ACTIVATED。",
            parts[3]
        ))
    })?;
    if !is_batch_no(parts[4]) {
        return Err(bad(
            "批次号应为 1 至 40 位英文字母、数字、连字符或下划线。".to_owned()
        ));
    }
    let bank = BankCode::parse(parts[5])
        .map_err(|_| bad(format!("银行代码“{}”格式不正确。", parts[5])))?;
    let record_count: u64 = parts[6]
        .parse()
        .map_err(|_| bad(format!("记录数“{}”不是数字。", parts[6])))?;
    let created_at = DateTime::parse_from_rfc3339(parts[7]).map_err(|_| {
        bad(format!(
            "生成时间“{}”应为 RFC 3339 格式，例如 2026-11-27T10:15:00+08:00。",
            parts[7]
        ))
    })?;
    let answers_batch = match parts[8] {
        "" => None,
        no if is_batch_no(no) => Some(no.to_owned()),
        _ => return Err(bad("对应报送批次号格式不正确。".to_owned())),
    };
    Ok(Header {
        kind,
        batch_no: parts[4].to_owned(),
        bank,
        record_count,
        created_at,
        answers_batch,
    })
}

/// Reads a file to its end and checks it whole; gives the header and what
/// the trailer confirmed. Nothing is kept of the records.
///
/// # Errors
///
/// The first [`FileError`].
pub fn verify(input: impl BufRead) -> Result<(Header, Verified), FileError> {
    let mut reader = FileReader::open(input)?;
    while reader.next_record()?.is_some() {}
    let verified = reader
        .verified()
        .cloned()
        .ok_or_else(|| FileError::at(0, "FILE_TRAILER_MISSING", "缺少尾行（T 行）。"))?;
    Ok((reader.header().clone(), verified))
}

/// How [`simulate_return`] answers: every `reject_every`-th record is
/// rejected (0 = none), the others accepted with an account under `bin`.
#[derive(Clone, Debug)]
pub struct SimulatedBank {
    pub bin: String,
    pub reject_every: u64,
    pub created_at: DateTime<FixedOffset>,
}

/// The reason codes a simulated bank cycles through.
const SIMULATED_REJECTIONS: [(&str, &str); 3] = [
    ("AML_REVIEW_FAILED", "反洗钱审查未通过"),
    ("REAL_NAME_CHECK_FAILED", "公民身份信息联网核查不一致"),
    ("DUPLICATE_ACCOUNT", "客户已有本行社会保障卡账户"),
];

/// Plays the bank for tests, demonstrations and measurements: reads an
/// export file and writes the return file a bank would send back — the
/// batch number `<export batch>-R`, every record answered (accepted with a
/// Luhn-valid account derived from the card number under `bin`, or
/// rejected with a reason). Streams; a real bank writes its own.
///
/// # Errors
///
/// The export file is refused ([`FileError`]), or writing fails
/// (`FILE_IO`).
pub fn simulate_return(
    export: impl BufRead,
    out: impl Write,
    bank: &SimulatedBank,
) -> Result<Verified, FileError> {
    let io_error = |e: io::Error| FileError::at(0, "FILE_IO", format!("无法写入回盘文件：{e}"));
    let mut reader = FileReader::open(export)?;
    let export_header = reader.header().clone();
    if export_header.kind != FileKind::Export {
        return Err(FileError::at(
            1,
            "FILE_KIND_WRONG",
            "输入应为报送文件（EXPORT）。",
        ));
    }
    let batch_no = format!("{}-R", export_header.batch_no);
    let header = Header {
        kind: FileKind::Return,
        batch_no: if is_batch_no(&batch_no) {
            batch_no
        } else {
            export_header.batch_no.clone()
        },
        bank: export_header.bank.clone(),
        record_count: export_header.record_count,
        created_at: bank.created_at,
        answers_batch: Some(export_header.batch_no.clone()),
    };
    let mut writer = FileWriter::new(out, &header).map_err(io_error)?;
    while let Some(record) = reader.next_record()? {
        let card_number = record.get(FileKind::Export, "card_number");
        let id_number = record.get(FileKind::Export, "id_number");
        if bank.reject_every > 0 && record.seq % bank.reject_every == 0 {
            let turn = usize::try_from(record.seq / bank.reject_every).unwrap_or(0);
            let (code, text) = SIMULATED_REJECTIONS[turn % SIMULATED_REJECTIONS.len()];
            writer
                .record(&[card_number, id_number, "R", "", code, text])
                .map_err(io_error)?;
        } else {
            let account = simulated_account(&bank.bin, card_number);
            writer
                .record(&[card_number, id_number, "A", &account, "", ""])
                .map_err(io_error)?;
        }
    }
    let verified = reader
        .verified()
        .cloned()
        .ok_or_else(|| FileError::at(0, "FILE_TRAILER_MISSING", "缺少尾行（T 行）。"))?;
    writer.finish().map_err(io_error)?;
    Ok(verified)
}

/// A 19-digit, Luhn-valid account under `bin` that only this card number
/// gets: the BIN, the card number with its letter as two digits, zero
/// padding, the check digit.
#[must_use]
pub fn simulated_account(bin: &str, card_number: &str) -> String {
    let digits: String = card_number
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                c.to_string()
            } else {
                format!("{:02}", u32::from(c) % 100)
            }
        })
        .collect();
    let mut payload = format!("{bin}{digits}");
    payload.truncate(18);
    while payload.len() < 18 {
        payload.push('0');
    }
    let check = sscard_domain::identifiers::luhn_check_digit(&payload).unwrap_or('0');
    format!("{payload}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: FileKind, count: u64) -> Header {
        Header {
            kind,
            batch_no: "ICBC-20261127-0001".to_owned(),
            bank: BankCode::parse("ICBC").unwrap(),
            record_count: count,
            created_at: DateTime::parse_from_rfc3339("2026-11-27T10:15:00+08:00").unwrap(),
            answers_batch: None,
        }
    }

    fn return_file(count: u64) -> Vec<u8> {
        let mut writer = FileWriter::new(Vec::new(), &header(FileKind::Return, count)).unwrap();
        for i in 0..count {
            writer
                .record(&[
                    &format!("A{i:08}"),
                    "45022119900101123X",
                    "A",
                    "6212260000000000001",
                    "",
                    "",
                ])
                .unwrap();
        }
        writer.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<(Vec<Record>, Verified), FileError> {
        let mut reader = FileReader::open(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok((records, reader.verified().cloned().unwrap()))
    }

    #[test]
    fn a_written_file_reads_back_and_verifies() {
        let bytes = return_file(3);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            "H\tSSCARD-BANK\t1\tRETURN\tICBC-20261127-0001\tICBC\t3\t2026-11-27T10:15:00+08:00\t\n"
        ));
        let (records, verified) = read_all(&bytes).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].seq, 3);
        assert_eq!(records[2].line, 4);
        assert_eq!(records[1].get(FileKind::Return, "card_number"), "A00000001");
        assert_eq!(records[1].get(FileKind::Return, "result"), "A");
        let trailer_at = text.rfind("T\t").unwrap();
        assert_eq!(
            verified.digest,
            sscard_crypto::sm3_hex(&bytes[..trailer_at])
        );
        assert_eq!(verify(&bytes[..]).unwrap().1, verified);
        // An empty batch is a valid file too.
        assert_eq!(read_all(&return_file(0)).unwrap().0.len(), 0);
    }

    fn code_of(bytes: &[u8]) -> &'static str {
        verify(bytes).unwrap_err().code
    }

    #[test]
    fn every_kind_of_damage_is_refused_whole() {
        let good = String::from_utf8(return_file(3)).unwrap();
        // A changed character in a record: the digest no longer matches.
        let changed = good.replacen("A00000001", "A00000009", 1);
        assert_eq!(code_of(changed.as_bytes()), "FILE_DIGEST_MISMATCH");
        // A changed header (count kept): also covered by the digest.
        let renamed = good.replacen("ICBC-20261127-0001", "ICBC-20261127-0002", 1);
        assert_eq!(code_of(renamed.as_bytes()), "FILE_DIGEST_MISMATCH");
        // A record removed: the counts no longer match.
        let lines: Vec<&str> = good.split_inclusive('\n').collect();
        let dropped: String = [lines[0], lines[1], lines[2], lines[4]].concat();
        assert_eq!(code_of(dropped.as_bytes()), "FILE_COUNT_MISMATCH");
        // The trailer's count changed.
        let trailer = lines[4].replacen("T\t3", "T\t4", 1);
        let miscount: String = [lines[0], lines[1], lines[2], lines[3], &trailer].concat();
        assert_eq!(code_of(miscount.as_bytes()), "FILE_COUNT_MISMATCH");
        // Cut short, with and without its last LF.
        assert_eq!(
            code_of(&good.as_bytes()[..good.len() - lines[4].len()]),
            "FILE_TRAILER_MISSING"
        );
        assert_eq!(code_of(&good.as_bytes()[..good.len() - 1]), "FILE_LINE_END");
        // Out of order.
        let swapped: String = [lines[0], lines[2], lines[1], lines[3], lines[4]].concat();
        assert_eq!(code_of(swapped.as_bytes()), "FILE_SEQUENCE");
        // CRLF, BOM, not UTF-8, a missing field, something after the trailer.
        assert_eq!(
            code_of(good.replace('\n', "\r\n").as_bytes()),
            "FILE_LINE_END"
        );
        assert_eq!(code_of(format!("\u{FEFF}{good}").as_bytes()), "FILE_BOM");
        let mut latin = good.clone().into_bytes();
        let at = good.find("6212").unwrap();
        latin[at] = 0xFF;
        assert_eq!(code_of(&latin), "FILE_NOT_UTF8");
        let short = good.replacen(
            "\tA\t6212260000000000001\t\t\n",
            "\tA\t6212260000000000001\t\n",
            1,
        );
        assert_eq!(code_of(short.as_bytes()), "FILE_RECORD_FORMAT");
        assert_eq!(
            code_of(format!("{good}D\t4\n").as_bytes()),
            "FILE_DATA_AFTER_TRAILER"
        );
        assert_eq!(code_of(b""), "FILE_EMPTY");
        assert_eq!(code_of(b"hello\n"), "FILE_HEADER");
        let long = format!("{}\n", "x".repeat(5000));
        assert_eq!(code_of(long.as_bytes()), "FILE_LINE_TOO_LONG");
        let v2 = good.replacen("SSCARD-BANK\t1", "SSCARD-BANK\t2", 1);
        assert_eq!(code_of(v2.as_bytes()), "FILE_HEADER");
    }

    #[test]
    fn the_writer_refuses_what_the_format_cannot_hold() {
        let mut writer = FileWriter::new(Vec::new(), &header(FileKind::Activated, 1)).unwrap();
        assert!(writer.record(&["A1", "6212\t26", ""]).is_err());
        assert!(writer.record(&["A1", "621226"]).is_err());
        writer
            .record(&["A12345678", "6212260000000000001", "2026-11-27"])
            .unwrap();
        assert!(
            writer
                .record(&["A12345679", "6212260000000000001", ""])
                .is_err()
        );
        let mut short = FileWriter::new(Vec::new(), &header(FileKind::Activated, 2)).unwrap();
        short
            .record(&["A12345678", "6212260000000000001", ""])
            .unwrap();
        assert!(short.finish().is_err());
        let bad_no = Header {
            batch_no: "第1批".to_owned(),
            ..header(FileKind::Export, 0)
        };
        assert!(FileWriter::new(Vec::new(), &bad_no).is_err());
    }

    #[test]
    fn errors_name_the_line_and_are_chinese() {
        let good = String::from_utf8(return_file(2)).unwrap();
        let bad = good.replacen("D\t2\t", "D\t7\t", 1);
        let error = verify(bad.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.to_string().starts_with("第 3 行："), "{error}");
        assert!(error.message.contains("序号应为 2"), "{error}");
    }
}
