//! Reading a CSV or XLSX file row by row, in bounded memory.
//!
//! The format is told by the content, not the file name: a ZIP archive
//! (`PK\x03\x04`) is read as XLSX with calamine's streaming cell reader;
//! anything else as delimited text with the `csv` crate, one record at a time.
//!
//! Text encodings, as files from Excel and WPS arrive in practice:
//! - UTF-8, with or without a byte-order mark;
//! - GBK / GB18030 (what Excel on a Chinese Windows writes for "CSV (逗号分隔)"),
//!   detected when the file is not valid UTF-8 and decoded with `encoding_rs`;
//! - UTF-16 with a byte-order mark (Excel's "Unicode 文本", tab-separated).
//!
//! The delimiter is sniffed from the header line (comma, tab or semicolon).
//!
//! Memory: a CSV file is never held whole; one record is in memory at a time
//! (plus a 64 KiB sample for sniffing). For XLSX, calamine streams the sheet's
//! XML out of the archive cell by cell, but it loads the workbook's shared
//! string table (every distinct text in the workbook) when it opens the file;
//! that table is the memory bound of an XLSX import (for a million rows of
//! distinct ID numbers and names, on the order of a few hundred MB). Large
//! imports are better done from CSV.

use std::cell::Cell as StdCell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use calamine::{DataRef, Reader as _, Xlsx};

/// What kind of value a cell held in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Text (every CSV cell; an XLSX text cell).
    Text,
    /// An XLSX number cell. Its text is the number as Excel shows it without
    /// exponent when it is a whole number below 10^15, otherwise as written
    /// by Rust (`4.50221199001011e17`).
    Number,
    /// An XLSX date cell, given as `YYYY-MM-DD` (or `YYYY-MM-DD HH:MM:SS`).
    Date,
    /// An XLSX error value such as `#N/A` or `#VALUE!`.
    Error,
}

/// One cell: its text as read and what kind of value it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub kind: CellKind,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            kind: CellKind::Text,
        }
    }

    fn empty() -> Self {
        Self::text(String::new())
    }

    /// True when the cell holds nothing but white space.
    pub fn is_blank(&self) -> bool {
        super::normalize_cell(&self.text).is_empty()
    }
}

/// One row of the file: its number as a person sees it (the line in a text
/// editor for CSV, the row in Excel for XLSX) and its cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub number: u64,
    pub cells: Vec<Cell>,
}

/// Where the reader is in the file, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Units done (bytes of a CSV file, rows of an XLSX sheet).
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
}

/// What the reader found, in file order: the header first, then the rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first non-blank row. `format` and `encoding` say how the file was read.
    Header {
        row: Row,
        format: Format,
        encoding: &'static str,
        total: Option<u64>,
    },
    /// A data row that is not blank.
    Row { row: Row, progress: Progress },
}

/// The file formats read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "CSV",
            Self::Xlsx => "XLSX",
        })
    }
}

/// Why a file cannot be read. Each says, in Chinese, what is wrong and what
/// to do; `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("无法读取文件：{0}。请确认文件存在且有读取权限。")]
    Io(#[source] io::Error),
    #[error("文件是空的：没有表头行，也没有数据。请确认选择了正确的文件。")]
    Empty,
    #[error(
        "这是旧版 Excel 97-2003 (.xls) 文件或加密的 Excel 文件，无法读取。请在 Excel 中取消密码，并“另存为” Excel 工作簿 (.xlsx) 或 CSV 后再导入。"
    )]
    LegacyExcel,
    #[error(
        "文件不是文本表格（含有二进制内容），也不是 XLSX 文件。请导入 CSV 或 Excel 工作簿 (.xlsx) 文件。"
    )]
    Binary,
    #[error(
        "无法识别文件的文字编码（既不是 UTF-8，也不是 GBK/GB18030）。请在 Excel 中“另存为” CSV UTF-8 后再导入。"
    )]
    Encoding,
    #[error(
        "XLSX 文件已损坏或不完整（可能没有下载或复制完整）：{detail}。请重新导出或重新复制该文件后再导入。"
    )]
    CorruptXlsx { detail: String },
    #[error("XLSX 文件中没有工作表。")]
    NoSheet,
    #[error("CSV 文件第 {line} 行无法解析：{detail}。请检查该行的引号和分隔符。")]
    Csv { line: u64, detail: String },
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io(_) => "FILE_UNREADABLE",
            Self::Empty => "FILE_EMPTY",
            Self::LegacyExcel => "FILE_LEGACY_EXCEL",
            Self::Binary => "FILE_NOT_A_TABLE",
            Self::Encoding => "FILE_ENCODING_UNKNOWN",
            Self::CorruptXlsx { .. } => "FILE_XLSX_CORRUPT",
            Self::NoSheet => "FILE_XLSX_NO_SHEET",
            Self::Csv { .. } => "FILE_CSV_MALFORMED",
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Reads `path` and hands every event to `sink` in file order, until the end
/// of the file or until `sink` answers `false`.
///
/// A file with no non-blank row is [`ReadError::Empty`]. Blank rows (every
/// cell empty or white space) are skipped and never reach `sink`.
///
/// # Errors
///
/// The file cannot be opened or read, or its content is not a readable table.
/// A read error after some rows were handed over ends the reading there.
pub fn read_table(path: &Path, sink: &mut dyn FnMut(Event) -> bool) -> Result<(), ReadError> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 8];
    let head_len = read_up_to(&mut file, &mut head)?;
    let head = &head[..head_len];
    file.seek(SeekFrom::Start(0))?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        read_xlsx(file, sink)
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        Err(ReadError::LegacyExcel)
    } else {
        read_delimited(file, sink)
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------- text ----

/// The text encodings of delimited files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextEncoding {
    Utf8 { bom: bool },
    Gbk,
    Utf16Le,
    Utf16Be,
}

impl TextEncoding {
    fn label(self) -> &'static str {
        match self {
            Self::Utf8 { bom: false } => "UTF-8",
            Self::Utf8 { bom: true } => "UTF-8 (BOM)",
            Self::Gbk => "GBK",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
        }
    }
}

/// Tells the encoding of a text file: its byte-order mark, else UTF-8 if the
/// whole file is valid UTF-8 (one streaming pass), else GBK. A NUL byte in a
/// file without a UTF-16 mark means it is not text.
fn detect_encoding(file: &mut File) -> Result<TextEncoding, ReadError> {
    let mut head = [0u8; 3];
    let len = read_up_to(file, &mut head)?;
    let head = &head[..len];
    let encoding = if head.starts_with(&[0xFF, 0xFE]) {
        TextEncoding::Utf16Le
    } else if head.starts_with(&[0xFE, 0xFF]) {
        TextEncoding::Utf16Be
    } else {
        let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
        file.seek(SeekFrom::Start(0))?;
        if is_utf8_text(file)? {
            TextEncoding::Utf8 { bom }
        } else if bom {
            // Claims UTF-8 but is not: refuse rather than guess.
            return Err(ReadError::Encoding);
        } else {
            file.seek(SeekFrom::Start(0))?;
            if !is_gb18030_text(file)? {
                return Err(ReadError::Encoding);
            }
            TextEncoding::Gbk
        }
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(encoding)
}

/// One pass over the file: true if it is valid UTF-8, false if not;
/// [`ReadError::Binary`] on a NUL byte.
fn is_utf8_text(file: &mut File) -> Result<bool, ReadError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize;
    let mut valid = true;
    loop {
        let n = read_up_to(file, &mut buf[carry..])?;
        let end = carry + n;
        if end == 0 {
            break;
        }
        let chunk = &buf[..end];
        if chunk[carry..].contains(&0) {
            return Err(ReadError::Binary);
        }
        if valid {
            match std::str::from_utf8(chunk) {
                Ok(_) => carry = 0,
                Err(e) if e.error_len().is_none() && n > 0 => {
                    // An incomplete sequence at the end of the chunk: carry it.
                    let cut = e.valid_up_to();
                    let rest = end - cut;
                    buf.copy_within(cut..end, 0);
                    carry = rest;
                    continue;
                }
                Err(_) => valid = false,
            }
        }
        if n == 0 {
            // End of file with carried bytes left: an incomplete sequence.
            valid = valid && carry == 0;
            break;
        }
        carry = 0;
    }
    Ok(valid)
}

/// One decoding pass over the file: true if it is well-formed GB18030 (and
/// so GBK), so that a file is refused before any row of it is imported.
fn is_gb18030_text(file: &mut File) -> Result<bool, ReadError> {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut input = vec![0u8; 64 * 1024];
    let mut output = vec![0u8; 256 * 1024];
    loop {
        let n = read_up_to(file, &mut input)?;
        let last = n < input.len();
        let mut start = 0;
        loop {
            let (result, read, _, replaced) =
                decoder.decode_to_utf8(&input[start..n], &mut output, last);
            if replaced {
                return Ok(false);
            }
            start += read;
            if result == encoding_rs::CoderResult::InputEmpty {
                break;
            }
        }
        if last {
            return Ok(true);
        }
    }
}

/// A `Read` that decodes a legacy or UTF-16 byte stream into UTF-8 as it
/// goes, remembering whether any malformed input was replaced.
struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    output: Vec<u8>,
    output_start: usize,
    output_end: usize,
    eof: bool,
    finished: bool,
    malformed: Rc<StdCell<bool>>,
}

impl<R: Read> DecodingReader<R> {
    fn new(
        inner: R,
        encoding: &'static encoding_rs::Encoding,
        malformed: Rc<StdCell<bool>>,
    ) -> Self {
        Self {
            inner,
            // Removes a BOM of the decoder's own encoding.
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 32 * 1024],
            input_start: 0,
            input_end: 0,
            output: vec![0; 64 * 1024],
            output_start: 0,
            output_end: 0,
            eof: false,
            finished: false,
            malformed,
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.output_start < self.output_end {
                let n = buf.len().min(self.output_end - self.output_start);
                buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
                self.output_start += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.input_start == self.input_end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.input_start = 0;
                self.input_end = n;
                self.eof = n == 0;
            }
            let last = self.eof;
            let (result, read, written, replaced) = self.decoder.decode_to_utf8(
                &self.input[self.input_start..self.input_end],
                &mut self.output,
                last,
            );
            if replaced {
                self.malformed.set(true);
            }
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            if last && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

/// A `Read` that counts the bytes taken from the file, for the progress bar.
struct CountingReader<R> {
    inner: R,
    count: Rc<StdCell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Normalises line ends and keeps blank lines visible to the CSV parser,
/// so that every record's line number is the line a text editor shows:
/// `\r\n` and a lone `\r` become `\n`, and an empty line outside quotes
/// becomes a line holding one space (which the csv crate would otherwise skip
/// without counting; the importer skips the blank record itself). Quotes are
/// tracked by parity, which is exact for RFC 4180 files.
struct LineFilter<R> {
    inner: R,
    raw: Vec<u8>,
    out: Vec<u8>,
    out_start: usize,
    in_quotes: bool,
    at_line_start: bool,
    after_cr: bool,
}

impl<R: Read> LineFilter<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            raw: vec![0; 32 * 1024],
            out: Vec::with_capacity(33 * 1024),
            out_start: 0,
            in_quotes: false,
            at_line_start: true,
            after_cr: false,
        }
    }

    fn newline(&mut self) {
        if self.at_line_start && !self.in_quotes {
            self.out.push(b' ');
        }
        self.out.push(b'\n');
        self.at_line_start = true;
    }
}

impl<R: Read> Read for LineFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out.len() {
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.out.clear();
            self.out_start = 0;
            for i in 0..n {
                let b = self.raw[i];
                if std::mem::take(&mut self.after_cr) && b == b'\n' {
                    continue;
                }
                match b {
                    b'\r' => {
                        self.newline();
                        self.after_cr = true;
                    }
                    b'\n' => self.newline(),
                    _ => {
                        if b == b'"' {
                            self.in_quotes = !self.in_quotes;
                        }
                        self.out.push(b);
                        self.at_line_start = false;
                    }
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.out_start);
        buf[..n].copy_from_slice(&self.out[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Sniffs the delimiter from the first non-blank line of a decoded sample:
/// the most frequent of comma, tab and semicolon outside quotes (comma on a tie).
fn sniff_delimiter(sample: &str) -> u8 {
    let line = sample
        .trim_start_matches('\u{FEFF}')
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default();
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            '\t' if !quoted => counts[1] += 1,
            ';' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let delimiters = [b',', b'\t', b';'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    delimiters[best]
}

fn read_delimited(mut file: File, sink: &mut dyn FnMut(Event) -> bool) -> Result<(), ReadError> {
    let total = file.metadata()?.len();
    if total == 0 {
        return Err(ReadError::Empty);
    }
    let encoding = detect_encoding(&mut file)?;
    let count = Rc::new(StdCell::new(0u64));
    let malformed = Rc::new(StdCell::new(false));
    let counting = CountingReader {
        inner: file,
        count: Rc::clone(&count),
    };
    let mut text: Box<dyn Read> = match encoding {
        TextEncoding::Utf8 { bom } => {
            let mut reader = BufReader::new(counting);
            if bom {
                let mut skip = [0u8; 3];
                reader.read_exact(&mut skip)?;
            }
            Box::new(reader)
        }
        TextEncoding::Gbk => Box::new(DecodingReader::new(
            counting,
            encoding_rs::GB18030,
            Rc::clone(&malformed),
        )),
        TextEncoding::Utf16Le => Box::new(DecodingReader::new(
            counting,
            encoding_rs::UTF_16LE,
            Rc::clone(&malformed),
        )),
        TextEncoding::Utf16Be => Box::new(DecodingReader::new(
            counting,
            encoding_rs::UTF_16BE,
            Rc::clone(&malformed),
        )),
    };
    // Sniff the delimiter from a decoded sample, then read on from it.
    let mut sample = vec![0u8; 64 * 1024];
    let sample_len = read_up_to(&mut text, &mut sample)?;
    sample.truncate(sample_len);
    let delimiter = sniff_delimiter(&String::from_utf8_lossy(&sample));
    let stream = LineFilter::new(io::Cursor::new(sample).chain(text));

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(stream);
    let mut record = csv::StringRecord::new();
    let mut header_seen = false;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| csv_error(&e))?;
        if malformed.get() {
            return Err(ReadError::Encoding);
        }
        if !more {
            break;
        }
        let number = record.position().map_or(0, csv::Position::line);
        let row = Row {
            number,
            cells: record.iter().map(Cell::text).collect(),
        };
        if row.cells.iter().all(Cell::is_blank) {
            continue;
        }
        let event = if header_seen {
            Event::Row {
                row,
                progress: Progress {
                    done: count.get().min(total),
                    total: Some(total),
                },
            }
        } else {
            header_seen = true;
            Event::Header {
                row,
                format: Format::Csv,
                encoding: encoding.label(),
                total: Some(total),
            }
        };
        if !sink(event) {
            return Ok(());
        }
    }
    if header_seen {
        Ok(())
    } else {
        Err(ReadError::Empty)
    }
}

fn csv_error(error: &csv::Error) -> ReadError {
    match error.kind() {
        csv::ErrorKind::Io(e) => ReadError::Io(io::Error::new(e.kind(), e.to_string())),
        csv::ErrorKind::Utf8 { .. } => ReadError::Encoding,
        _ => ReadError::Csv {
            line: error.position().map_or(0, csv::Position::line),
            detail: error.to_string(),
        },
    }
}

// ---------------------------------------------------------------- xlsx ----

fn corrupt(error: &impl fmt::Display) -> ReadError {
    ReadError::CorruptXlsx {
        detail: error.to_string(),
    }
}

fn read_xlsx(file: File, sink: &mut dyn FnMut(Event) -> bool) -> Result<(), ReadError> {
    let mut workbook: Xlsx<_> = Xlsx::new(BufReader::new(file)).map_err(|e| corrupt(&e))?;
    let Some(sheet) = workbook.sheet_names().into_iter().next() else {
        return Err(ReadError::NoSheet);
    };
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| corrupt(&e))?;
    let dimensions = cells.dimensions();
    let total = (dimensions.end.0 >= dimensions.start.0
        && dimensions != calamine::Dimensions::default())
    .then(|| u64::from(dimensions.end.0) + 1);
    let mut header_seen = false;
    let mut current: Option<(u32, Vec<Cell>)> = None;
    let mut emit = |row_index: u32, row_cells: Vec<Cell>, header_seen: &mut bool| -> bool {
        let row = Row {
            number: u64::from(row_index) + 1,
            cells: row_cells,
        };
        if row.cells.iter().all(Cell::is_blank) {
            return true;
        }
        let event = if *header_seen {
            Event::Row {
                progress: Progress {
                    done: row.number,
                    total,
                },
                row,
            }
        } else {
            *header_seen = true;
            Event::Header {
                row,
                format: Format::Xlsx,
                encoding: "XLSX",
                total,
            }
        };
        sink(event)
    };
    loop {
        let next = cells.next_cell().map_err(|e| corrupt(&e))?;
        let Some(cell) = next else { break };
        let (row_index, column) = cell.get_position();
        if current.as_ref().is_some_and(|(r, _)| *r != row_index) {
            let (r, row_cells) = current.take().unwrap_or_default();
            if !emit(r, row_cells, &mut header_seen) {
                return Ok(());
            }
        }
        let (_, row_cells) = current.get_or_insert_with(|| (row_index, Vec::new()));
        let column = column as usize;
        // Guard against absurd column positions in a hostile file.
        if column >= MAX_COLUMNS {
            continue;
        }
        if row_cells.len() <= column {
            row_cells.resize(column + 1, Cell::empty());
        }
        row_cells[column] = xlsx_cell(cell.get_value());
    }
    if let Some((r, row_cells)) = current.take()
        && !emit(r, row_cells, &mut header_seen)
    {
        return Ok(());
    }
    if header_seen {
        Ok(())
    } else {
        Err(ReadError::Empty)
    }
}

/// Columns past this are ignored (no import file has that many).
const MAX_COLUMNS: usize = 256;

/// The text of one XLSX cell and its kind.
fn xlsx_cell(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::empty(),
        DataRef::String(s) | DataRef::DurationIso(s) => Cell::text(s.clone()),
        DataRef::SharedString(s) => Cell::text(*s),
        DataRef::Int(i) => Cell {
            text: i.to_string(),
            kind: CellKind::Number,
        },
        DataRef::Float(f) => Cell {
            text: number_text(*f),
            kind: CellKind::Number,
        },
        DataRef::Bool(b) => Cell::text(if *b { "TRUE" } else { "FALSE" }),
        DataRef::DateTime(dt) => {
            if dt.is_datetime() {
                let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
                let text = if (hh, mm, ss) == (0, 0, 0) {
                    format!("{y:04}-{m:02}-{d:02}")
                } else {
                    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
                };
                Cell {
                    text,
                    kind: CellKind::Date,
                }
            } else {
                Cell {
                    text: number_text(dt.as_f64()),
                    kind: CellKind::Number,
                }
            }
        }
        DataRef::DateTimeIso(s) => Cell {
            text: s.clone(),
            kind: CellKind::Date,
        },
        DataRef::Error(e) => Cell {
            text: e.to_string(),
            kind: CellKind::Error,
        },
    }
}

/// A number as text: whole numbers below 10^15 (exact in an `f64` and in
/// Excel's 15 significant digits) without a fraction or exponent.
#[allow(clippy::cast_possible_truncation)] // checked: whole and below 10^15
fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e15 {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file.flush().unwrap();
        file
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Event>, ReadError> {
        let file = write(bytes);
        let mut events = Vec::new();
        read_table(file.path(), &mut |e| {
            events.push(e);
            true
        })?;
        Ok(events)
    }

    fn texts(event: &Event) -> Vec<String> {
        let row = match event {
            Event::Header { row, .. } | Event::Row { row, .. } => row,
        };
        row.cells.iter().map(|c| c.text.clone()).collect()
    }

    fn numbers(events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .map(|e| match e {
                Event::Header { row, .. } | Event::Row { row, .. } => row.number,
            })
            .collect()
    }

    fn encoding(events: &[Event]) -> &'static str {
        match &events[0] {
            Event::Header { encoding, .. } => encoding,
            Event::Row { .. } => panic!("header first"),
        }
    }

    #[test]
    fn utf8_csv_with_and_without_bom() {
        let plain = read_all("姓名,身份证号\n张三,450221\n".as_bytes()).unwrap();
        assert_eq!(encoding(&plain), "UTF-8");
        assert_eq!(texts(&plain[0]), ["姓名", "身份证号"]);
        assert_eq!(texts(&plain[1]), ["张三", "450221"]);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("姓名,身份证号\r\n张三,450221\r\n".as_bytes());
        let with_bom = read_all(&bom).unwrap();
        assert_eq!(encoding(&with_bom), "UTF-8 (BOM)");
        assert_eq!(texts(&with_bom[0]), ["姓名", "身份证号"], "BOM stripped");
        assert_eq!(texts(&with_bom[1]), ["张三", "450221"]);
    }

    #[test]
    fn gbk_csv_is_detected_and_decoded() {
        let text = "姓名,地址\n王𠈌,柳州市柳江区柳堡路318号\n李䶮,拉堡镇\n";
        let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        let events = read_all(&bytes).unwrap();
        assert_eq!(encoding(&events), "GBK");
        assert_eq!(texts(&events[1]), ["王𠈌", "柳州市柳江区柳堡路318号"]);
        assert_eq!(texts(&events[2]), ["李䶮", "拉堡镇"]);
    }

    #[test]
    fn gbk_is_detected_even_when_the_first_64k_are_ascii() {
        let mut text = String::from("a,b\n");
        for i in 0..10_000 {
            text.push_str(&format!("{i},x\n"));
        }
        text.push_str("1,柳江\n");
        let (bytes, _, _) = encoding_rs::GBK.encode(&text);
        let events = read_all(&bytes).unwrap();
        assert_eq!(encoding(&events), "GBK");
        assert_eq!(texts(events.last().unwrap()), ["1", "柳江"]);
    }

    #[test]
    fn utf16_with_bom_and_tabs() {
        let text = "姓名\t手机号\n张三\t13800138000\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let events = read_all(&bytes).unwrap();
        assert_eq!(encoding(&events), "UTF-16LE");
        assert_eq!(texts(&events[1]), ["张三", "13800138000"]);
    }

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter("a,b,c\n1;2"), b',');
        assert_eq!(sniff_delimiter("\n\na\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a;b;c"), b';');
        assert_eq!(sniff_delimiter("\"a;b\",c"), b',');
        assert_eq!(sniff_delimiter(""), b',');
        let events = read_all("姓名;手机号\n张三;1\n".as_bytes()).unwrap();
        assert_eq!(texts(&events[1]), ["张三", "1"]);
    }

    #[test]
    fn blank_rows_are_skipped_and_rows_keep_their_line_numbers() {
        let events = read_all(b"\n\na,b\n\n1,2\n , \n,,,\n3,4\n").unwrap();
        assert_eq!(numbers(&events), [3, 5, 8]);
        assert!(matches!(events[0], Event::Header { .. }));
    }

    #[test]
    fn line_ends_of_every_kind_keep_the_line_numbers() {
        let events = read_all(b"a\r\n\r\nb\r\n\"x\r\ny\"\r\nc").unwrap();
        assert_eq!(numbers(&events), [1, 3, 4, 6]);
        assert_eq!(texts(&events[2]), ["x\ny"]);
        let events = read_all(b"a\rb\r\rc\n").unwrap();
        assert_eq!(numbers(&events), [1, 2, 4]);
        let events = read_all(b"a\n\"q\n\n\"\n\nz\n").unwrap();
        assert_eq!(numbers(&events), [1, 2, 6]);
        assert_eq!(texts(&events[1]), ["q\n\n"]);
    }

    #[test]
    fn quoted_fields_with_newlines_and_commas() {
        let events = read_all(b"a,b\n\"x, y\",\"line1\nline2\"\n3,4\n").unwrap();
        assert_eq!(texts(&events[1]), ["x, y", "line1\nline2"]);
        assert_eq!(numbers(&events), [1, 2, 4]);
    }

    #[test]
    fn empty_and_blank_files_are_refused() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n\n  \n", b",,,\n,,\n"] {
            let error = read_all(bytes).unwrap_err();
            assert_eq!(error.code(), "FILE_EMPTY", "{bytes:?}");
            assert!(error.to_string().contains("文件是空的"));
        }
    }

    #[test]
    fn binary_and_legacy_files_are_refused() {
        let error = read_all(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest").unwrap_err();
        assert_eq!(error.code(), "FILE_LEGACY_EXCEL");
        let error = read_all(b"abc\x00\x01\x02").unwrap_err();
        assert_eq!(error.code(), "FILE_NOT_A_TABLE");
        // A BOM that lies.
        let error = read_all(b"\xEF\xBB\xBFa,b\n\xFF\xFE\xFD,1\n").unwrap_err();
        assert_eq!(error.code(), "FILE_ENCODING_UNKNOWN");
    }

    #[test]
    fn a_late_undecodable_byte_refuses_the_file_before_any_row() {
        let mut bytes = "a,b\n".as_bytes().to_vec();
        for i in 0..20_000 {
            let text = format!("{i},柳江\n");
            let (line, _, _) = encoding_rs::GBK.encode(&text);
            bytes.extend_from_slice(&line);
        }
        bytes.extend_from_slice(b"1,\xFF\n");
        let file = write(&bytes);
        let mut rows = 0;
        let error = read_table(file.path(), &mut |_| {
            rows += 1;
            true
        })
        .unwrap_err();
        assert_eq!(error.code(), "FILE_ENCODING_UNKNOWN");
        assert_eq!(rows, 0, "refused before the first row");
    }

    #[test]
    fn undecodable_bytes_are_an_encoding_error() {
        // 0x80 alone is invalid UTF-8 and, followed by a newline, malformed GB18030.
        let error = read_all(b"a,b\n\xFF\n").unwrap_err();
        assert_eq!(error.code(), "FILE_ENCODING_UNKNOWN");
    }

    #[test]
    fn the_sink_can_stop_early() {
        let file = write(b"a\n1\n2\n3\n");
        let mut seen = 0;
        read_table(file.path(), &mut |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
        assert_eq!(seen, 2);
    }

    fn xlsx_bytes(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        build(sheet);
        workbook.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_cells_of_every_kind() {
        let bytes = xlsx_bytes(|sheet| {
            sheet.write_string(0, 0, "身份证号").unwrap();
            sheet.write_string(0, 1, "手机号").unwrap();
            sheet.write_string(0, 2, "参保日期").unwrap();
            sheet.write_string(0, 4, "备注").unwrap();
            sheet.write_string(2, 0, "45022119900101123X").unwrap();
            sheet.write_number(2, 1, 13_800_138_000.0).unwrap();
            let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 1, 5).unwrap();
            let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
            sheet
                .write_datetime_with_format(2, 2, &date, &format)
                .unwrap();
            sheet.write_number(3, 0, 450_221_199_001_011_234.0).unwrap();
            sheet.write_boolean(3, 1, true).unwrap();
            sheet.write_number(3, 2, 46_027.0).unwrap();
        });
        let events = read_all(&bytes).unwrap();
        assert_eq!(encoding(&events), "XLSX");
        assert_eq!(numbers(&events), [1, 3, 4], "the blank row 2 is skipped");
        assert_eq!(
            texts(&events[0]),
            ["身份证号", "手机号", "参保日期", "", "备注"]
        );
        let Event::Row { row, progress } = &events[1] else {
            panic!()
        };
        assert_eq!(row.cells[0], Cell::text("45022119900101123X"));
        assert_eq!(row.cells[1].text, "13800138000");
        assert_eq!(row.cells[1].kind, CellKind::Number);
        assert_eq!(row.cells[2].text, "2026-01-05");
        assert_eq!(row.cells[2].kind, CellKind::Date);
        assert_eq!(progress.total, Some(4));
        let Event::Row { row, .. } = &events[2] else {
            panic!()
        };
        assert_eq!(row.cells[0].kind, CellKind::Number);
        assert!(row.cells[0].text.contains('e'), "{}", row.cells[0].text);
        assert_eq!(row.cells[1].text, "TRUE");
        assert_eq!(
            row.cells[2],
            Cell {
                text: "46027".into(),
                kind: CellKind::Number
            }
        );
    }

    #[test]
    fn truncated_or_corrupt_xlsx_is_refused_clearly() {
        let bytes = xlsx_bytes(|sheet| {
            for r in 0..200 {
                sheet.write_string(r, 0, format!("row {r}")).unwrap();
            }
        });
        for cut in [10, bytes.len() / 2, bytes.len() - 30] {
            let error = read_all(&bytes[..cut]).unwrap_err();
            assert_eq!(error.code(), "FILE_XLSX_CORRUPT", "cut at {cut}");
            assert!(error.to_string().contains("损坏或不完整"));
        }
        let error = read_all(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap_err();
        assert_eq!(error.code(), "FILE_XLSX_CORRUPT");
    }

    #[test]
    fn empty_xlsx_is_empty() {
        let bytes = xlsx_bytes(|_| {});
        assert_eq!(read_all(&bytes).unwrap_err().code(), "FILE_EMPTY");
    }

    #[test]
    fn number_texts() {
        assert_eq!(number_text(13_800_138_000.0), "13800138000");
        assert_eq!(number_text(20_260_105.0), "20260105");
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(3.5), "3.5");
        assert!(number_text(4.502_21e17).contains('e'));
    }
}
