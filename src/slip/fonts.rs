//! The slip's fonts: a primary font and fallbacks, chosen character by
//! character, so that a rare name character outside the Basic Multilingual
//! Plane (王𠈌 — U+2020C, CJK Extension B) is drawn from the first font that
//! has a glyph for it instead of turning into a box.
//!
//! The fonts are configured as a list of files (`[slip] fonts`, see
//! `docs/configuration.md`), each optionally with `#N`, the face index in a
//! font collection (`.ttc`). The default list is what `scripts/setup.sh`
//! installs from Debian: Noto Sans CJK SC (face 2 of `fonts-noto-cjk`'s
//! collection) first, then HanaMin A and B (`fonts-hanazono`), which cover
//! the CJK extensions A to F.
//!
//! Each file is read once, when the first slip needs it (fallbacks only
//! when a character is not in an earlier font), and kept in memory: the
//! files are 20–30 MB each, and memory-mapping them would need `unsafe`,
//! which this crate forbids.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

/// The default font list (`[slip] fonts`), installed by `scripts/setup.sh`.
pub const DEFAULT_FONTS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc#2",
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
];

/// The Debian packages holding [`DEFAULT_FONTS`].
pub const FONT_PACKAGES: &str = "fonts-noto-cjk fonts-hanazono";

/// One configured font: a file and the face in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FontSpec {
    pub path: PathBuf,
    /// The face index in a collection (`.ttc`); 0 for a single font.
    pub index: u32,
}

impl FontSpec {
    /// Reads `PATH` or `PATH#INDEX`.
    ///
    /// # Errors
    ///
    /// An empty path or an index that is not a number, in words for the
    /// configuration error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (path, index) = match text.rsplit_once('#') {
            Some((path, index))
                if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let index = index
                    .parse::<u32>()
                    .map_err(|_| format!("`{text}`: the face index after # is too large"))?;
                (path, index)
            }
            _ => (text, 0),
        };
        if path.trim().is_empty() {
            return Err("a font path is empty".to_owned());
        }
        Ok(Self {
            path: PathBuf::from(path),
            index,
        })
    }

    /// Every font in `text`, separated by commas (the environment variable's
    /// form).
    ///
    /// # Errors
    ///
    /// As [`FontSpec::parse`], or an empty list.
    pub fn parse_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Self>, String> {
        let specs = items
            .into_iter()
            .filter(|item| !item.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if specs.is_empty() {
            return Err("no font is given: name at least one font file".to_owned());
        }
        Ok(specs)
    }

    /// The default list.
    #[must_use]
    pub fn defaults() -> Vec<Self> {
        DEFAULT_FONTS
            .iter()
            .map(|text| Self::parse(text).expect("the default fonts parse"))
            .collect()
    }
}

impl fmt::Display for FontSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}#{}", self.path.display(), self.index)
        }
    }
}

/// Why a font cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FontError {
    /// The file is not there (the packages are not installed).
    #[error("the font file {0} does not exist")]
    Missing(String),
    /// The file cannot be read.
    #[error("the font file {0} cannot be read: {1}")]
    Unreadable(String, String),
    /// The file (or the face of the collection) is not a font krilla reads.
    #[error("{0} is not a usable font (wrong face index?)")]
    NotAFont(String),
}

/// A font file read into memory, with its krilla handle.
struct LoadedFont {
    data: Arc<Vec<u8>>,
    index: u32,
    krilla: krilla::text::Font,
    units_per_em: f32,
}

impl LoadedFont {
    fn load(spec: &FontSpec) -> Result<Self, FontError> {
        let shown = spec.to_string();
        let data = std::fs::read(&spec.path).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                FontError::Missing(shown.clone())
            } else {
                FontError::Unreadable(shown.clone(), error.to_string())
            }
        })?;
        let data = Arc::new(data);
        let units_per_em = {
            let face = skrifa::FontRef::from_index(data.as_slice(), spec.index)
                .map_err(|_| FontError::NotAFont(shown.clone()))?;
            f32::from(
                face.metrics(Size::unscaled(), LocationRef::default())
                    .units_per_em,
            )
        };
        let krilla = krilla::text::Font::new(krilla::Data::from(Arc::clone(&data)), spec.index)
            .ok_or_else(|| FontError::NotAFont(shown.clone()))?;
        Ok(Self {
            data,
            index: spec.index,
            krilla,
            units_per_em: units_per_em.max(1.0),
        })
    }

    fn face(&self) -> Option<skrifa::FontRef<'_>> {
        skrifa::FontRef::from_index(self.data.as_slice(), self.index).ok()
    }
}

/// The configured fonts, each loaded on first use.
pub struct FontSet {
    specs: Vec<FontSpec>,
    slots: Vec<Mutex<Option<Arc<LoadedFont>>>>,
}

impl fmt::Debug for FontSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let specs: Vec<String> = self.specs.iter().map(ToString::to_string).collect();
        f.debug_struct("FontSet").field("fonts", &specs).finish()
    }
}

/// One character placed with a font.
#[derive(Clone, Debug)]
pub struct PlacedChar {
    pub ch: char,
    /// The index of the font in the set.
    pub font: usize,
    pub glyph: u32,
    /// The advance in em.
    pub advance: f32,
}

/// A line of text with a font chosen for each character.
#[derive(Clone, Debug, Default)]
pub struct ShapedText {
    pub chars: Vec<PlacedChar>,
    /// Characters no font has (drawn as the primary font's missing-glyph box).
    pub missing: Vec<char>,
}

impl ShapedText {
    /// The width at `size` points.
    #[must_use]
    pub fn width(&self, size: f32) -> f32 {
        self.chars.iter().map(|c| c.advance).sum::<f32>() * size
    }

    /// Splits into lines no wider than `max_width` at `size`, breaking
    /// between any two characters (Chinese text breaks anywhere); a closing
    /// punctuation mark never starts a line (it goes down with the character
    /// before it).
    #[must_use]
    pub fn wrap(&self, size: f32, max_width: f32) -> Vec<ShapedText> {
        let mut lines = Vec::new();
        let mut line: Vec<PlacedChar> = Vec::new();
        let mut width = 0.0;
        for placed in &self.chars {
            let advance = placed.advance * size;
            if !line.is_empty() && width + advance > max_width {
                // A closing mark takes the character before it along to
                // the next line rather than start the line alone.
                let carried = if is_closing(placed.ch) && line.len() > 1 {
                    line.pop()
                } else {
                    None
                };
                lines.push(line);
                line = Vec::new();
                width = 0.0;
                if let Some(carried) = carried {
                    width += carried.advance * size;
                    line.push(carried);
                }
            }
            if line.is_empty() && placed.ch == ' ' {
                continue;
            }
            width += advance;
            line.push(placed.clone());
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
            .into_iter()
            .map(|chars| ShapedText {
                missing: self
                    .missing
                    .iter()
                    .copied()
                    .filter(|m| chars.iter().any(|c| c.ch == *m))
                    .collect(),
                chars,
            })
            .collect()
    }
}

/// Punctuation that must not start a line.
fn is_closing(ch: char) -> bool {
    matches!(
        ch,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '）'
            | '」'
            | '』'
            | '》'
            | '！'
            | '？'
            | ','
            | '.'
            | ';'
            | ':'
            | ')'
            | '!'
            | '?'
    )
}

/// Characters that are never drawn: zero-width marks, variation selectors,
/// the byte order mark.
fn is_invisible(ch: char) -> bool {
    matches!(ch, '\u{200B}'..='\u{200F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{00AD}' | '\u{E0100}'..='\u{E01EF}')
}

/// A run of characters of one font, ready for krilla.
pub struct GlyphRun {
    pub font: krilla::text::Font,
    pub text: String,
    pub glyphs: Vec<krilla::text::KrillaGlyph>,
    /// The advance of the run in em.
    pub advance: f32,
}

impl FontSet {
    #[must_use]
    pub fn new(specs: Vec<FontSpec>) -> Self {
        let slots = specs.iter().map(|_| Mutex::new(None)).collect();
        Self { specs, slots }
    }

    #[must_use]
    pub fn specs(&self) -> &[FontSpec] {
        &self.specs
    }

    /// The configured font files that are not there (a cheap check of the
    /// file system, for the start-up warning and before issuing a slip).
    #[must_use]
    pub fn missing_files(&self) -> Vec<&FontSpec> {
        self.specs
            .iter()
            .filter(|spec| !Path::new(&spec.path).is_file())
            .collect()
    }

    /// The font at `index`, read on first use.
    fn font(&self, index: usize) -> Result<Arc<LoadedFont>, FontError> {
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(font) = slot.as_ref() {
            return Ok(Arc::clone(font));
        }
        let font = Arc::new(LoadedFont::load(&self.specs[index])?);
        tracing::info!(font = %self.specs[index], bytes = font.data.len(), "loaded a slip font");
        *slot = Some(Arc::clone(&font));
        Ok(font)
    }

    /// Places every character of `text` with the first font that has a
    /// glyph for it. Control characters become spaces; invisible marks are
    /// left out. A character in no font is drawn with the primary font's
    /// missing-glyph box and listed in [`ShapedText::missing`].
    ///
    /// # Errors
    ///
    /// A font needed for the text cannot be read.
    pub fn shape(&self, text: &str) -> Result<ShapedText, FontError> {
        let mut loaded: Vec<Option<Arc<LoadedFont>>> = vec![None; self.specs.len()];
        let mut shaped = ShapedText::default();
        for ch in text.chars() {
            let ch = if ch.is_control() { ' ' } else { ch };
            if is_invisible(ch) {
                continue;
            }
            let mut placed = None;
            for (index, slot) in loaded.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = Some(self.font(index)?);
                }
                let font = slot.as_ref().expect("just loaded");
                let Some(face) = font.face() else { continue };
                if let Some(glyph) = face.charmap().map(ch).filter(|g| g.to_u32() != 0) {
                    let advance = face
                        .glyph_metrics(Size::unscaled(), LocationRef::default())
                        .advance_width(glyph)
                        .unwrap_or(0.0)
                        / font.units_per_em;
                    placed = Some(PlacedChar {
                        ch,
                        font: index,
                        glyph: glyph.to_u32(),
                        advance,
                    });
                    break;
                }
            }
            let placed = match placed {
                Some(placed) => placed,
                None => {
                    shaped.missing.push(ch);
                    let primary = self.font(0)?;
                    let advance = primary
                        .face()
                        .and_then(|face| {
                            face.glyph_metrics(Size::unscaled(), LocationRef::default())
                                .advance_width(skrifa::GlyphId::new(0))
                        })
                        .unwrap_or(primary.units_per_em)
                        / primary.units_per_em;
                    PlacedChar {
                        ch,
                        font: 0,
                        glyph: 0,
                        advance,
                    }
                }
            };
            shaped.chars.push(placed);
        }
        Ok(shaped)
    }

    /// The runs of `text` (consecutive characters of one font), with the
    /// text of each run for the PDF's ToUnicode map.
    ///
    /// # Errors
    ///
    /// A font cannot be read (it was read for shaping already, so only if it
    /// vanished).
    pub fn runs(&self, text: &ShapedText) -> Result<Vec<GlyphRun>, FontError> {
        let mut runs: Vec<GlyphRun> = Vec::new();
        let mut current: Option<usize> = None;
        for placed in &text.chars {
            if current != Some(placed.font) {
                runs.push(GlyphRun {
                    font: self.font(placed.font)?.krilla.clone(),
                    text: String::new(),
                    glyphs: Vec::new(),
                    advance: 0.0,
                });
                current = Some(placed.font);
            }
            let run = runs.last_mut().expect("a run was pushed");
            let start = run.text.len();
            run.text.push(placed.ch);
            run.glyphs.push(krilla::text::KrillaGlyph::new(
                krilla::text::GlyphId::new(placed.glyph),
                placed.advance,
                0.0,
                0.0,
                0.0,
                start..run.text.len(),
                None,
            ));
            run.advance += placed.advance;
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_paths_and_face_indexes() {
        assert_eq!(
            FontSpec::parse("/f/Noto.ttc#2").unwrap(),
            FontSpec {
                path: PathBuf::from("/f/Noto.ttc"),
                index: 2
            }
        );
        assert_eq!(FontSpec::parse(" /f/a.ttf ").unwrap().index, 0);
        assert_eq!(
            FontSpec::parse("/f/odd#name.ttf").unwrap().path,
            PathBuf::from("/f/odd#name.ttf")
        );
        assert!(FontSpec::parse("#2").is_err());
        assert!(FontSpec::parse_list(["", " "]).is_err());
        assert_eq!(
            FontSpec::parse("/f/Noto.ttc#2").unwrap().to_string(),
            "/f/Noto.ttc#2"
        );
        assert_eq!(FontSpec::defaults().len(), 3);
    }

    fn placed(text: &str) -> ShapedText {
        ShapedText {
            chars: text
                .chars()
                .map(|ch| PlacedChar {
                    ch,
                    font: 0,
                    glyph: 1,
                    advance: 1.0,
                })
                .collect(),
            missing: Vec::new(),
        }
    }

    fn lines(shaped: &[ShapedText]) -> Vec<String> {
        shaped
            .iter()
            .map(|l| l.chars.iter().map(|c| c.ch).collect())
            .collect()
    }

    #[test]
    fn lines_break_anywhere_but_never_before_a_closing_mark() {
        assert_eq!(
            lines(&placed("材料齐全予以受理").wrap(10.0, 40.0)),
            ["材料齐全", "予以受理"]
        );
        assert_eq!(
            lines(&placed("材料齐全。予以").wrap(10.0, 40.0)),
            ["材料齐", "全。予以"]
        );
        assert_eq!(lines(&placed("").wrap(10.0, 40.0)), [""]);
        assert_eq!(
            lines(&placed("ab cd").wrap(10.0, 20.0)),
            ["ab", "cd"],
            "no leading space"
        );
    }

    #[test]
    fn a_missing_font_is_named() {
        let set = FontSet::new(vec![FontSpec::parse("/nonexistent/font.ttf").unwrap()]);
        assert_eq!(set.missing_files().len(), 1);
        assert_eq!(
            set.shape("王").unwrap_err(),
            FontError::Missing("/nonexistent/font.ttf".to_owned())
        );
    }
}
