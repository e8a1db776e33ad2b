//! The report file of an import: `<input>.report.csv` next to the input,
//! one line per problem (`row,column,code,message`), UTF-8 with a byte-order
//! mark so that Excel on a Chinese Windows opens it with the right encoding.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::RowError;

/// The report path for an input file: the input's name with `.report.csv`
/// appended (`persons.xlsx` → `persons.xlsx.report.csv`).
pub fn report_path(input: &Path) -> PathBuf {
    let mut name = input.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(".report.csv");
    input.with_file_name(name)
}

/// Writes the report line by line; nothing is kept in memory.
pub struct ReportWriter {
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    written: u64,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl ReportWriter {
    /// Creates (or replaces) the report file, with its header line.
    ///
    /// # Errors
    ///
    /// The file cannot be created or written.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut file = BufWriter::new(File::create(path)?);
        file.write_all(b"\xEF\xBB\xBF")?;
        let mut writer = csv::WriterBuilder::new().from_writer(file);
        writer.write_record(["row", "column", "code", "message"])?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            written: 0,
        })
    }

    /// Appends one problem.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn write(&mut self, error: &RowError) -> io::Result<()> {
        // Row 0 is a problem of the whole file: no row number.
        let row = if error.row == 0 {
            String::new()
        } else {
            error.row.to_string()
        };
        self.writer.write_record([
            row.as_str(),
            error.column.as_str(),
            error.code.as_str(),
            error.message.as_str(),
        ])?;
        self.written += 1;
        Ok(())
    }

    /// How many problems were written.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file to disk.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.writer.flush()?;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        file.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?
            .sync_all()?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_path_is_next_to_the_input() {
        assert_eq!(
            report_path(Path::new("/data/人员.xlsx")),
            Path::new("/data/人员.xlsx.report.csv")
        );
        assert_eq!(
            report_path(Path::new("persons.csv")),
            Path::new("persons.csv.report.csv")
        );
    }

    #[test]
    fn report_is_csv_with_bom_and_chinese() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut writer = ReportWriter::create(&path).unwrap();
        writer
            .write(&RowError::new(
                3,
                "身份证号",
                "ID_NUMBER_CHECKSUM",
                "校验位不符，请核对",
            ))
            .unwrap();
        writer
            .write(&RowError::new(
                4,
                "地址",
                "ADDRESS_INVALID",
                "含有逗号, 和\"引号\"",
            ))
            .unwrap();
        assert_eq!(writer.written(), 2);
        writer.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(
            reader.headers().unwrap(),
            &csv::StringRecord::from(vec!["row", "column", "code", "message"])
        );
        assert_eq!(&rows[0][1], "身份证号");
        assert_eq!(&rows[1][3], "含有逗号, 和\"引号\"");
    }
}
