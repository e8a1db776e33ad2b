//! The 业务反馈单 (business feedback slip) as an A4 PDF: what the slip says
//! ([`SlipDocument`], prepared by `service::slips`) laid out on A4 pages
//! and written with krilla.
//!
//! Text is real text: each character is placed as a glyph of the first
//! configured font that has it ([`fonts::FontSet`]), runs of one font are
//! handed to krilla with their characters, so the PDF embeds a subset of
//! each font used with a ToUnicode map (`pdftotext` and copy-and-paste give
//! the characters back, rare ones included). The verification link is also
//! drawn as a QR code of plain rectangles, and the verification code is in
//! the PDF's metadata (keywords `sscard-slip:<code>`) so that an uploaded
//! slip can be checked by its bytes.
//!
//! No IO here except reading the font files (through the font set); the
//! function is pure otherwise and runs on a blocking thread.

pub mod fonts;

use krilla::Document;
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};

use fonts::{FontError, FontSet, ShapedText};

/// The keyword prefix that carries the verification code in the PDF's
/// metadata (document information and XMP).
pub const CODE_KEYWORD_PREFIX: &str = "sscard-slip:";

/// A4 in PostScript points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN_X: f32 = 56.0;
const MARGIN_TOP: f32 = 50.0;
/// Content ends here; the footer is below.
const CONTENT_BOTTOM: f32 = PAGE_HEIGHT - 60.0;
const BODY_SIZE: f32 = 10.0;
const SMALL_SIZE: f32 = 8.0;
const LINE: f32 = 1.45;
const CELL_PAD: f32 = 4.0;
/// Where a line's baseline sits below its top, in em (CJK fonts ascend to
/// about 0.88 em; half the extra line spacing goes above).
const BASELINE: f32 = 0.88 + (LINE - 1.0) / 2.0;
const RULE_WIDTH: f32 = 0.6;

/// One step of the case on the slip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlipStep {
    /// e.g. 受理.
    pub action: String,
    /// e.g. 受理岗 李明; 申请人（网上）.
    pub actor: String,
    /// Beijing time, e.g. 2026-11-27 10:15.
    pub time: String,
    pub opinion: Option<String>,
}

/// Everything the slip shows, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlipDocument {
    /// The implementing body, printed above the title.
    pub issuer: String,
    pub application_no: String,
    /// e.g. 2026年11月27日.
    pub issue_date: String,
    /// The table of facts: each row one or two label-and-value pairs
    /// (事项名称; 基本编码 and 实施编码; …; 办理结果; 原因).
    pub facts: Vec<Vec<(String, String)>>,
    pub steps: Vec<SlipStep>,
    /// Label and value below the steps (实施主体, 办理窗口, 窗口地址, 咨询电话).
    pub place: Vec<(String, String)>,
    /// 16 characters, as stored.
    pub verification_code: String,
    /// Grouped for reading: XXXX-XXXX-XXXX-XXXX.
    pub verification_code_grouped: String,
    /// `<public base URL>/verify/<code>`, also in the QR code.
    pub verification_url: String,
    /// The signing key's id, printed small.
    pub key_id: String,
}

/// A rendered slip.
#[derive(Debug)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    /// Characters no configured font has (drawn as boxes); empty when every
    /// character rendered.
    pub missing: Vec<char>,
    pub pages: usize,
}

/// Why a slip could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Font(#[from] FontError),
    #[error("the QR code cannot hold the verification URL: {0}")]
    Qr(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// Renders `doc` with `fonts`; see the module documentation.
///
/// # Errors
///
/// A font cannot be read, or krilla refuses to write the document.
pub fn render(doc: &SlipDocument, fonts: &FontSet) -> Result<Rendered, RenderError> {
    let mut layout = Layout::new(fonts);
    layout.compose(doc)?;
    let pages = layout.pages.len();
    let missing = layout.missing.clone();
    let pdf = layout.write(doc)?;
    Ok(Rendered {
        pdf,
        missing,
        pages,
    })
}

/// Finds the verification code in a slip's bytes (the metadata keyword);
/// `None` when there is none.
#[must_use]
pub fn code_in_pdf(bytes: &[u8]) -> Option<String> {
    let prefix = CODE_KEYWORD_PREFIX.as_bytes();
    bytes
        .windows(prefix.len() + 16)
        .filter(|window| window.starts_with(prefix))
        .map(|window| &window[prefix.len()..])
        .find(|code| code.iter().all(u8::is_ascii_alphanumeric))
        .map(|code| String::from_utf8_lossy(code).into_owned())
}

// ---------------------------------------------------------------------------
// Layout: pages of drawing operations, written at the end (so every page's
// footer can say how many pages there are).

enum Op {
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        text: ShapedText,
        bold: bool,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
    },
    Rect {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
        lightness: u8,
    },
}

struct Layout<'f> {
    fonts: &'f FontSet,
    pages: Vec<Vec<Op>>,
    y: f32,
    missing: Vec<char>,
}

/// One cell of a table row.
struct Cell {
    width: f32,
    lines: Vec<ShapedText>,
    shaded: bool,
}

impl<'f> Layout<'f> {
    fn new(fonts: &'f FontSet) -> Self {
        Self {
            fonts,
            pages: vec![Vec::new()],
            y: MARGIN_TOP,
            missing: Vec::new(),
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("there is a page")
    }

    fn shape(&mut self, text: &str) -> Result<ShapedText, FontError> {
        let shaped = self.fonts.shape(text)?;
        for ch in &shaped.missing {
            if !self.missing.contains(ch) {
                self.missing.push(*ch);
            }
        }
        Ok(shaped)
    }

    /// Starts a new page when `height` does not fit on this one.
    fn ensure(&mut self, height: f32) {
        if self.y + height > CONTENT_BOTTOM && self.y > MARGIN_TOP {
            self.pages.push(Vec::new());
            self.y = MARGIN_TOP;
        }
    }

    fn text(&mut self, x: f32, top: f32, size: f32, text: ShapedText, bold: bool) {
        self.ops().push(Op::Text {
            x,
            baseline: top + size * BASELINE,
            size,
            text,
            bold,
        });
    }

    fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32) {
        self.ops().push(Op::Line { from, to, width });
    }

    /// A line of text centred on the page.
    fn centred(&mut self, text: &str, size: f32, bold: bool) -> Result<(), FontError> {
        let shaped = self.shape(text)?;
        let width = shaped.width(size);
        let y = self.y;
        self.text((PAGE_WIDTH - width) / 2.0, y, size, shaped, bold);
        self.y += size * LINE;
        Ok(())
    }

    /// A row of cells with borders; the row moves to the next page whole.
    fn row(&mut self, cells: Vec<Cell>, size: f32) {
        let lines = cells
            .iter()
            .map(|c| c.lines.len())
            .max()
            .unwrap_or(1)
            .max(1);
        #[allow(clippy::cast_precision_loss)] // a handful of lines
        let height = lines as f32 * size * LINE + 2.0 * CELL_PAD;
        self.ensure(height);
        let top = self.y;
        let mut x = MARGIN_X;
        let right = MARGIN_X + cells.iter().map(|c| c.width).sum::<f32>();
        for cell in cells {
            if cell.shaded {
                self.ops().push(Op::Rect {
                    x,
                    y: top,
                    width: cell.width,
                    height,
                    lightness: 238,
                });
            }
            let mut line_top = top + CELL_PAD;
            for line in cell.lines {
                self.text(x + CELL_PAD, line_top, size, line, false);
                line_top += size * LINE;
            }
            self.line((x, top), (x, top + height), RULE_WIDTH);
            x += cell.width;
        }
        self.line((right, top), (right, top + height), RULE_WIDTH);
        self.line((MARGIN_X, top), (right, top), RULE_WIDTH);
        self.line((MARGIN_X, top + height), (right, top + height), RULE_WIDTH);
        self.y = top + height;
    }

    fn cell(&mut self, text: &str, width: f32, size: f32, shaded: bool) -> Result<Cell, FontError> {
        let shaped = self.shape(text)?;
        Ok(Cell {
            width,
            lines: shaped.wrap(size, width - 2.0 * CELL_PAD),
            shaded,
        })
    }

    fn heading(&mut self, text: &str) -> Result<(), FontError> {
        self.ensure(BODY_SIZE * 1.2 * LINE + 40.0);
        self.y += 8.0;
        let shaped = self.shape(text)?;
        let y = self.y;
        self.text(MARGIN_X, y, BODY_SIZE * 1.2, shaped, true);
        self.y += BODY_SIZE * 1.2 * LINE + 2.0;
        Ok(())
    }

    fn compose(&mut self, doc: &SlipDocument) -> Result<(), RenderError> {
        let content_width = PAGE_WIDTH - 2.0 * MARGIN_X;
        self.centred(&doc.issuer, 13.0, false)?;
        self.y += 2.0;
        self.centred("业 务 反 馈 单", 22.0, true)?;
        self.y += 6.0;

        // 申请编号 on the left, 出具日期 on the right.
        let number = self.shape(&format!("申请编号：{}", doc.application_no))?;
        let date = self.shape(&format!("出具日期：{}", doc.issue_date))?;
        let date_width = date.width(BODY_SIZE);
        let y = self.y;
        self.text(MARGIN_X, y, BODY_SIZE, number, false);
        self.text(
            PAGE_WIDTH - MARGIN_X - date_width,
            y,
            BODY_SIZE,
            date,
            false,
        );
        self.y += BODY_SIZE * LINE + 4.0;

        let label_width = 80.0;
        for row in &doc.facts {
            let mut cells = Vec::new();
            if let [(label, value)] = row.as_slice() {
                cells.push(self.cell(label, label_width, BODY_SIZE, true)?);
                cells.push(self.cell(value, content_width - label_width, BODY_SIZE, false)?);
            } else {
                let half = content_width / 2.0;
                for (label, value) in row {
                    cells.push(self.cell(label, label_width, BODY_SIZE, true)?);
                    cells.push(self.cell(value, half - label_width, BODY_SIZE, false)?);
                }
            }
            self.row(cells, BODY_SIZE);
        }

        self.heading("办理过程")?;
        let widths = [28.0, 64.0, 110.0, 100.0, content_width - 302.0];
        let header = [
            "序号",
            "办理环节",
            "办理人",
            "办理时间（北京时间）",
            "办理意见",
        ];
        let mut cells = Vec::new();
        for (text, width) in header.iter().zip(widths) {
            cells.push(self.cell(text, width, SMALL_SIZE + 1.0, true)?);
        }
        self.row(cells, SMALL_SIZE + 1.0);
        for (i, step) in doc.steps.iter().enumerate() {
            let texts = [
                (i + 1).to_string(),
                step.action.clone(),
                step.actor.clone(),
                step.time.clone(),
                step.opinion.clone().unwrap_or_else(|| "—".to_owned()),
            ];
            let mut cells = Vec::new();
            for (text, width) in texts.iter().zip(widths) {
                cells.push(self.cell(text, width, SMALL_SIZE + 1.0, false)?);
            }
            self.row(cells, SMALL_SIZE + 1.0);
        }

        self.heading("办理机构")?;
        for (label, value) in &doc.place {
            let cells = vec![
                self.cell(label, label_width, BODY_SIZE, true)?,
                self.cell(value, content_width - label_width, BODY_SIZE, false)?,
            ];
            self.row(cells, BODY_SIZE);
        }

        self.verification(doc, content_width)
    }

    /// The QR code with the verification code, link and signature note.
    fn verification(&mut self, doc: &SlipDocument, content_width: f32) -> Result<(), RenderError> {
        let qr = qrcode::QrCode::with_error_correction_level(
            doc.verification_url.as_bytes(),
            qrcode::EcLevel::M,
        )
        .map_err(|e| RenderError::Qr(e.to_string()))?;
        let modules = qr.width();
        let module = 2.4_f32;
        #[allow(clippy::cast_precision_loss)] // at most 177 modules
        let qr_size = modules as f32 * module;
        let quiet = 4.0 * module;
        let box_height = qr_size + 2.0 * quiet;
        // The heading stays with the box.
        self.ensure(box_height + BODY_SIZE * 1.2 * LINE + 12.0);
        self.heading("真伪验证")?;
        self.ensure(box_height);
        let top = self.y;
        let left = MARGIN_X;
        let right = MARGIN_X + content_width;
        // The frame.
        self.line((left, top), (right, top), RULE_WIDTH);
        self.line(
            (left, top + box_height),
            (right, top + box_height),
            RULE_WIDTH,
        );
        self.line((left, top), (left, top + box_height), RULE_WIDTH);
        self.line((right, top), (right, top + box_height), RULE_WIDTH);
        // The QR code: each horizontal run of dark modules is one rectangle.
        let colors = qr.to_colors();
        let (qr_x, qr_y) = (left + quiet, top + quiet);
        for row in 0..modules {
            let mut column = 0;
            while column < modules {
                if colors[row * modules + column] == qrcode::Color::Dark {
                    let start = column;
                    while column < modules && colors[row * modules + column] == qrcode::Color::Dark
                    {
                        column += 1;
                    }
                    #[allow(clippy::cast_precision_loss)]
                    self.ops().push(Op::Rect {
                        x: qr_x + start as f32 * module,
                        y: qr_y + row as f32 * module,
                        width: (column - start) as f32 * module,
                        height: module,
                        lightness: 0,
                    });
                } else {
                    column += 1;
                }
            }
        }
        // The text beside it.
        let text_x = left + box_height + 4.0;
        let text_width = right - text_x - CELL_PAD;
        let mut y = top + quiet;
        let code = self.shape(&format!("验证码：{}", doc.verification_code_grouped))?;
        self.text(text_x, y, BODY_SIZE + 2.0, code, true);
        y += (BODY_SIZE + 2.0) * LINE + 2.0;
        let paragraphs = [
            (format!("验证网址：{}", doc.verification_url), BODY_SIZE),
            (
                "扫描左侧二维码或打开上述网址，输入验证码，也可上传本反馈单的PDF文件，即可核验本反馈单是否由本系统出具、内容是否被改动。".to_owned(),
                SMALL_SIZE + 1.0,
            ),
            (
                format!(
                    "本反馈单的内容与文件摘要（SM3）经{}以SM2电子签名，签名密钥编号 {}。",
                    doc.issuer, doc.key_id
                ),
                SMALL_SIZE + 1.0,
            ),
        ];
        for (text, size) in paragraphs {
            let shaped = self.shape(&text)?;
            for line in shaped.wrap(size, text_width) {
                self.text(text_x, y, size, line, false);
                y += size * LINE;
            }
            y += 2.0;
        }
        self.y = top + box_height;
        Ok(())
    }

    /// Writes the pages, each with its footer, and the metadata.
    fn write(mut self, doc: &SlipDocument) -> Result<Vec<u8>, RenderError> {
        let total = self.pages.len();
        for index in 0..total {
            let footer = self.shape(&format!(
                "申请编号 {}　　验证码 {}　　第 {} 页 共 {} 页",
                doc.application_no,
                doc.verification_code_grouped,
                index + 1,
                total
            ))?;
            let width = footer.width(SMALL_SIZE);
            self.pages[index].push(Op::Line {
                from: (MARGIN_X, PAGE_HEIGHT - 44.0),
                to: (PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 44.0),
                width: 0.4,
            });
            self.pages[index].push(Op::Text {
                x: (PAGE_WIDTH - width) / 2.0,
                baseline: PAGE_HEIGHT - 32.0,
                size: SMALL_SIZE,
                text: footer,
                bold: false,
            });
        }
        let mut document = Document::new();
        document.set_metadata(
            Metadata::new()
                .title(format!("业务反馈单 {}", doc.application_no))
                .description(format!(
                    "{} 业务反馈单，验证码 {}，验证网址 {}",
                    doc.issuer, doc.verification_code_grouped, doc.verification_url
                ))
                .keywords(vec![
                    format!("{CODE_KEYWORD_PREFIX}{}", doc.verification_code),
                    doc.application_no.clone(),
                ])
                .authors(vec![doc.issuer.clone()])
                .creator("sscard".to_owned())
                .language("zh-CN".to_owned()),
        );
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
            .ok_or_else(|| RenderError::Pdf("A4 is a valid page size".to_owned()))?;
        for ops in &self.pages {
            let mut page = document.start_page_with(settings.clone());
            let mut surface = page.surface();
            for op in ops {
                match op {
                    Op::Text {
                        x,
                        baseline,
                        size,
                        text,
                        bold,
                    } => {
                        surface.set_fill(Some(Fill::default()));
                        surface.set_stroke(bold.then(|| Stroke {
                            width: size * 0.035,
                            ..Stroke::default()
                        }));
                        let mut pen = *x;
                        for run in self.fonts.runs(text)? {
                            surface.draw_glyphs(
                                Point::from_xy(pen, *baseline),
                                &run.glyphs,
                                run.font,
                                &run.text,
                                *size,
                                false,
                            );
                            pen += run.advance * size;
                        }
                        surface.set_stroke(None);
                    }
                    Op::Line { from, to, width } => {
                        let mut path = PathBuilder::new();
                        path.move_to(from.0, from.1);
                        path.line_to(to.0, to.1);
                        if let Some(path) = path.finish() {
                            surface.set_fill(None);
                            surface.set_stroke(Some(Stroke {
                                width: *width,
                                ..Stroke::default()
                            }));
                            surface.draw_path(&path);
                            surface.set_stroke(None);
                        }
                    }
                    Op::Rect {
                        x,
                        y,
                        width,
                        height,
                        lightness,
                    } => {
                        let mut path = PathBuilder::new();
                        if let Some(rect) = Rect::from_xywh(*x, *y, *width, *height) {
                            path.push_rect(rect);
                        }
                        if let Some(path) = path.finish() {
                            surface.set_stroke(None);
                            surface.set_fill(Some(Fill {
                                paint: luma::Color::new(*lightness).into(),
                                ..Fill::default()
                            }));
                            surface.draw_path(&path);
                        }
                    }
                }
            }
            surface.finish();
            page.finish();
        }
        document
            .finish()
            .map_err(|error| RenderError::Pdf(format!("{error:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::fonts::{FontSet, FontSpec};
    use super::*;

    /// The installed default fonts; a test fails (never skips) without them.
    fn installed_fonts() -> FontSet {
        let fonts = FontSet::new(FontSpec::defaults());
        let missing: Vec<String> = fonts
            .missing_files()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            missing.is_empty(),
            "the slip's fonts are missing ({}): run scripts/setup.sh (Debian packages {})",
            missing.join(", "),
            fonts::FONT_PACKAGES
        );
        fonts
    }

    fn sample(name: &str, steps: usize) -> SlipDocument {
        SlipDocument {
            issuer: "柳江区人力资源和社会保障局".to_owned(),
            application_no: "SQ-20261127-000001".to_owned(),
            issue_date: "2026年11月27日".to_owned(),
            facts: vec![
                vec![(
                    "事项名称".to_owned(),
                    "社会保障卡启用（含社会保障卡银行账户激活）".to_owned(),
                )],
                vec![
                    ("申请人".to_owned(), name.to_owned()),
                    ("身份证号码".to_owned(), "450221********123X".to_owned()),
                ],
                vec![("办理结果".to_owned(), "已办结（准予启用）".to_owned())],
            ],
            steps: (0..steps)
                .map(|i| SlipStep {
                    action: "受理".to_owned(),
                    actor: "受理岗 李明".to_owned(),
                    time: format!("2026-11-27 10:{:02}", i % 60),
                    opinion: Some("材料齐全，予以受理。".repeat(i % 4 + 1)),
                })
                .collect(),
            place: vec![(
                "实施主体".to_owned(),
                "柳江区人力资源和社会保障局".to_owned(),
            )],
            verification_code: "7K3M9QX2TB4HWZ8C".to_owned(),
            verification_code_grouped: "7K3M-9QX2-TB4H-WZ8C".to_owned(),
            verification_url: "https://sscard.example.gov.cn/verify/7K3M9QX2TB4HWZ8C".to_owned(),
            key_id: "0123456789abcdef".to_owned(),
        }
    }

    /// The Noto Sans CJK collection's face 2 is the Simplified Chinese one.
    #[test]
    fn the_primary_font_is_noto_sans_cjk_sc() {
        use skrifa::MetadataProvider;
        let spec = &FontSpec::defaults()[0];
        installed_fonts();
        let data = std::fs::read(&spec.path).unwrap();
        let face = skrifa::FontRef::from_index(&data, spec.index).unwrap();
        let family: String = face
            .localized_strings(skrifa::string::StringId::FAMILY_NAME)
            .english_or_first()
            .map(|s| s.chars().collect())
            .unwrap_or_default();
        assert_eq!(family, "Noto Sans CJK SC");
    }

    /// Every character the slip prints in its fixed text, and the rare
    /// names of the demo data, has a glyph in one of the default fonts.
    #[test]
    fn every_character_has_a_glyph() {
        let fonts = installed_fonts();
        let mut text = String::new();
        for name in ["王𠈌", "李䶮", "覃𬀩", "阿依古丽·买买提", "韦国𪚥"] {
            text.push_str(name);
        }
        text.push_str("业 务 反 馈 单申请编号：出具日期：办理过程办理机构真伪验证序号办理环节办理人办理时间（北京时间）办理意见验证码验证网址扫描左侧二维码或打开上述网址，输入验证码，也可上传本反馈单的PDF文件，即可核验本反馈单是否由本系统出具、内容是否被改动。本反馈单的内容与文件摘要（SM3）经以SM2电子签名，签名密钥编号第页共—0123456789ABCDEFGHJKMNPQRSTVWXYZ-:/.");
        let shaped = fonts.shape(&text).unwrap();
        assert!(
            shaped.missing.is_empty(),
            "no glyph for {:?}",
            shaped.missing
        );
        // Noto Sans CJK SC has 𠈌 (Ext. B) itself; 𪚥 comes from HanaMin A,
        // 𫝀 (Ext. D) from HanaMin B; U+30000 (Ext. G) is in none of them.
        let rare = fonts.shape("王𠈌𪚥\u{2B740}\u{30000}").unwrap();
        let from: Vec<(char, usize)> = rare.chars.iter().map(|c| (c.ch, c.font)).collect();
        assert_eq!(
            from,
            vec![
                ('王', 0),
                ('𠈌', 0),
                ('𪚥', 1),
                ('\u{2B740}', 2),
                ('\u{30000}', 0)
            ]
        );
        assert_eq!(rare.missing, vec!['\u{30000}']);
        assert_eq!(rare.chars[4].glyph, 0, "drawn as the missing-glyph box");
    }

    #[test]
    fn a_slip_renders_with_its_code_in_the_metadata() {
        let fonts = installed_fonts();
        let rendered = render(&sample("王𠈌", 4), &fonts).unwrap();
        assert!(rendered.missing.is_empty(), "{:?}", rendered.missing);
        // Kept for a look (pdftoppm -png target/tmp/slip-sample.pdf).
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/tmp");
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(format!("{dir}/slip-sample.pdf"), &rendered.pdf);
        assert!(rendered.pdf.starts_with(b"%PDF-"));
        assert_eq!(rendered.pages, 1);
        assert_eq!(
            code_in_pdf(&rendered.pdf).as_deref(),
            Some("7K3M9QX2TB4HWZ8C")
        );
        assert_eq!(code_in_pdf(b"%PDF-1.7 nothing here"), None);
    }

    #[test]
    fn a_long_case_flows_onto_more_pages() {
        let fonts = installed_fonts();
        let rendered = render(&sample("黄明", 60), &fonts).unwrap();
        assert!(rendered.pages >= 2, "{} pages", rendered.pages);
    }

    #[test]
    fn a_character_in_no_font_is_reported() {
        let fonts = installed_fonts();
        // A private-use code point: no font has it.
        let rendered = render(&sample("王\u{F8FF}", 1), &fonts).unwrap();
        assert_eq!(rendered.missing, vec!['\u{F8FF}']);
    }
}
