//! The 业务反馈单 as a person gets it, in Debian's Chromium
//! (`common/browser.rs`): a window clerk completes a walk-in for 王𠈌 (with
//! an agent named 韦国𪚥, whose last character only a fallback font has) on
//! the case pages, follows 下载业务反馈单, and the PDF is checked as a reader
//! would: `pdftotext` gives the names with their rare characters, the
//! application number and the result as text; `pdffonts` lists every font
//! embedded; and the page rendered by `pdftoppm` shows real glyphs where
//! the rare characters are, not the missing-glyph box (compared with the
//! rendering of a code point no font has). Then the slip is verified on
//! `/verify` by its code and by uploading it, and an altered copy is
//! refused. Poppler's tools are installed by `scripts/setup.sh`; without
//! them this test fails saying so.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestApp;
use common::browser::{
    browser, click, fill, screenshot, screenshot_path, texts, try_texts, wait_for_path_prefix,
    wait_for_text,
};
use common::cases::{card_number, id_number_for};
use fantoccini::Locator;
use reqwest::StatusCode;

/// Runs one of Poppler's tools; a missing tool fails the test, naming the
/// set-up script.
fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|error| {
        panic!(
            "cannot run {tool} ({error}): install Poppler's tools with scripts/setup.sh (Debian package poppler-utils)"
        )
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The bounding box (points, top-left origin) of the first word on page 1
/// that starts with `prefix`, from `pdftotext -bbox`.
fn word_box(pdf: &Path, prefix: &str) -> (f64, f64, f64, f64) {
    let html = poppler(
        "pdftotext",
        &["-bbox", "-f", "1", "-l", "1", pdf.to_str().unwrap(), "-"],
    );
    for line in html.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("<word ") else {
            continue;
        };
        let Some((attributes, word)) = rest.split_once('>') else {
            continue;
        };
        let word = word.trim_end_matches("</word>");
        if !word.starts_with(prefix) {
            continue;
        }
        let number = |name: &str| -> f64 {
            let start = attributes.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            let end = attributes[start..].find('"').expect("closing quote") + start;
            attributes[start..end].parse().expect("a number")
        };
        return (
            number("xMin"),
            number("yMin"),
            number("xMax"),
            number("yMax"),
        );
    }
    panic!(
        "no word starting with {prefix} in {}: {html}",
        pdf.display()
    );
}

/// Page 1 rendered in grey at `dpi` (PGM, parsed here).
struct Bitmap {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

const DPI: f64 = 300.0;

fn render(pdf: &Path) -> Bitmap {
    let stem = pdf.with_extension("");
    poppler(
        "pdftoppm",
        &[
            "-gray",
            "-r",
            "300",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf.to_str().unwrap(),
            stem.to_str().unwrap(),
        ],
    );
    let data = std::fs::read(stem.with_extension("pgm")).expect("the PGM page");
    // P5 <width> <height> <max> then one byte per pixel.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while data[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !data[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&data[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "a binary greymap");
    let width: usize = fields[1].parse().unwrap();
    let height: usize = fields[2].parse().unwrap();
    let pixels = data[at + 1..].to_vec();
    assert_eq!(pixels.len(), width * height);
    Bitmap {
        width,
        height,
        pixels,
    }
}

/// The ink (dark pixels) of one em-square cell: the `index`-th character of
/// the word at `bbox`, all characters being one em wide (CJK).
fn glyph_ink(page: &Bitmap, bbox: (f64, f64, f64, f64), index: usize, em: f64) -> Vec<Vec<bool>> {
    let scale = DPI / 72.0;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let (left, top, right, bottom) = (
        ((bbox.0 + em * index as f64) * scale) as usize,
        (bbox.1 * scale) as usize,
        ((bbox.0 + em * (index as f64 + 1.0)) * scale) as usize,
        (bbox.3 * scale) as usize,
    );
    assert!(right <= page.width && bottom <= page.height);
    (top..bottom)
        .map(|y| {
            (left..right)
                .map(|x| page.pixels[y * page.width + x] < 128)
                .collect()
        })
        .collect()
}

fn ink(cell: &[Vec<bool>]) -> usize {
    cell.iter().flatten().filter(|dark| **dark).count()
}

/// How alike two cells are: the best intersection over union of their ink
/// over shifts of up to 3 pixels (positions may differ by a pixel or two).
fn likeness(a: &[Vec<bool>], b: &[Vec<bool>]) -> f64 {
    let mut best: f64 = 0.0;
    let rows = a.len().min(b.len());
    let columns = a[0].len().min(b[0].len());
    for dy in -3_i64..=3 {
        for dx in -3_i64..=3 {
            let (mut both, mut either) = (0_u32, 0_u32);
            for (y, row) in a.iter().enumerate().take(rows) {
                for (x, &in_a) in row.iter().enumerate().take(columns) {
                    let by = usize::try_from(y as i64 + dy).ok().filter(|v| *v < rows);
                    let bx = usize::try_from(x as i64 + dx).ok().filter(|v| *v < columns);
                    let in_b = by.zip(bx).is_some_and(|(by, bx)| b[by][bx]);
                    both += u32::from(in_a && in_b);
                    either += u32::from(in_a || in_b);
                }
            }
            if either > 0 {
                best = best.max(f64::from(both) / f64::from(either));
            }
        }
    }
    best
}

/// A slip made by the product's own renderer whose applicant row holds
/// `name`: the reference for what a character no font has looks like.
fn reference_slip(name: &str, path: &Path) {
    let fonts = sscard::slip::fonts::FontSet::new(sscard::slip::fonts::FontSpec::defaults());
    let document = sscard::slip::SlipDocument {
        issuer: "柳江区人力资源和社会保障局".to_owned(),
        application_no: "SQ-20261127-000001".to_owned(),
        issue_date: "2026年11月27日".to_owned(),
        facts: vec![vec![
            ("申请人".to_owned(), name.to_owned()),
            ("身份证号码".to_owned(), "450221********123X".to_owned()),
        ]],
        steps: Vec::new(),
        place: Vec::new(),
        verification_code: "0000000000000000".to_owned(),
        verification_code_grouped: "0000-0000-0000-0000".to_owned(),
        verification_url: "http://127.0.0.1/verify/0000000000000000".to_owned(),
        key_id: "0000000000000000".to_owned(),
    };
    let rendered = sscard::slip::render(&document, &fonts).expect("a reference slip");
    assert_eq!(
        rendered.missing.len(),
        1,
        "the reference has one character no font has"
    );
    std::fs::write(path, rendered.pdf).expect("write the reference");
}

#[tokio::test]
async fn a_completed_cases_slip_prints_rare_names_as_text_and_verifies() {
    let app = TestApp::spawn().await;
    let id = id_number_for(21);
    app.register_person(&id, "王𠈌", Some("13977212345")).await;
    app.register_card(&id, &card_number(21), "collected").await;
    let agent_id = id_number_for(121);
    app.staff("window.wang", &["acceptor", "processor", "feedback"])
        .await;
    let (_driver, client) = browser().await;

    // The clerk signs in and completes the walk-in in one sitting.
    client.goto(&app.url("/signin")).await.expect("open");
    fill(&client, "#username", "window.wang").await;
    fill(&client, "#password", "Liujiang-318-Window-2026").await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/workbench").await;
    client.goto(&app.url("/cases/new")).await.expect("open");
    fill(&client, "#applicant-name", "王𠈌").await;
    fill(&client, "#applicant-id-number", &id).await;
    fill(&client, "#applicant-mobile", "13977212345").await;
    fill(&client, "#card-number", &card_number(21)).await;
    fill(&client, "#agent-name", "韦国𪚥").await;
    fill(&client, "#agent-id-number", &agent_id).await;
    fill(&client, "#agent-mobile", "13877212399").await;
    fill(&client, "#agent-relation", "子女").await;
    for code in [
        "application_form",
        "own_card",
        "agent_id_card",
        "agent_commitment",
    ] {
        click(&client, &format!("#entry-{code}-submitted")).await;
    }
    click(&client, "#declaration").await;
    click(&client, "#precheck-button").await;
    wait_for_text(&client, "#precheck", "预审通过").await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/cases/SQ-").await;
    wait_for_text(&client, "#notice", "申请已录入").await;
    let no = texts(&client, "#fact-no").await.join("");
    assert!(
        try_texts(&client, "#slip-download")
            .await
            .unwrap()
            .is_empty(),
        "no slip before the case has ended"
    );
    click(&client, "#accept").await;
    wait_for_text(&client, "#notice", "已受理").await;
    click(&client, "#approve").await;
    wait_for_text(&client, "#notice", "已准予启用").await;
    click(&client, "#deliver-holder").await;
    click(&client, "#deliver").await;
    wait_for_text(&client, "#notice", "已登记送达").await;
    wait_for_text(&client, "#case-status", "已办结（准予启用）").await;

    // 下载业务反馈单: the link's target, fetched with the browser's session.
    let link = client
        .find(Locator::Css("#slip-download"))
        .await
        .expect("the download link");
    assert_eq!(link.text().await.unwrap(), "下载业务反馈单");
    let href = link.attr("href").await.unwrap().expect("an href");
    assert_eq!(href, format!("/cases/{no}/slip.pdf"));
    screenshot(&client, "slip-case-completed.png").await;
    let cookie = client
        .get_named_cookie("sscard_session")
        .await
        .expect("the session cookie");
    let response = app
        .client
        .get(app.url(&href))
        .header("cookie", format!("sscard_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let code = response.headers()["x-verification-code"]
        .to_str()
        .unwrap()
        .to_owned();
    let pdf = response.bytes().await.unwrap().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let slip_path = dir.path().join("slip.pdf");
    std::fs::write(&slip_path, &pdf).unwrap();
    std::fs::write(screenshot_path("slip.pdf"), &pdf).unwrap();

    // The text a reader copies out of it.
    let text = poppler("pdftotext", &[slip_path.to_str().unwrap(), "-"]);
    for expected in [
        "王𠈌",
        "韦国𪚥",
        no.as_str(),
        "已办结（准予启用）",
        "业务反馈单",
        "社会保障卡启用（含社会保障卡银行账户激活）",
        "11450221007624051J4002014010002",
        "第 44 版",
        "受理岗 window.wang",
        "综合受理1-2号窗口",
        &format!("/verify/{code}"),
    ] {
        assert!(
            text.contains(expected),
            "{expected} in the slip's text:\n{text}"
        );
    }
    assert!(!text.contains(&id), "the ID number is masked");
    assert!(
        !text.contains(&card_number(21)),
        "the card number is masked"
    );

    // Every font embedded (as subsets), the fallback font among them.
    let fonts = poppler("pdffonts", &[slip_path.to_str().unwrap()]);
    let rows: Vec<&str> = fonts
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(rows.len() >= 2, "the primary and a fallback font: {fonts}");
    for row in &rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        let n = columns.len();
        assert_eq!(
            &columns[n - 5..n - 2],
            &["yes", "yes", "yes"],
            "embedded, subset, with a ToUnicode map: {row}"
        );
    }
    assert!(fonts.contains("NotoSansCJKsc"), "{fonts}");
    assert!(fonts.contains("HanaMin"), "{fonts}");

    // The rendered page: the rare characters are glyphs, not the box a
    // character without a glyph gets.
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "100",
            "-singlefile",
            slip_path.to_str().unwrap(),
            screenshot_path("slip-page-1").to_str().unwrap(),
        ],
    );
    let page = render(&slip_path);
    let box_path = dir.path().join("box.pdf");
    reference_slip("王\u{30000}", &box_path);
    let box_page = render(&box_path);
    let missing = glyph_ink(&box_page, word_box(&box_path, "王"), 1, 10.0);
    assert!(
        ink(&missing) > 100,
        "a missing glyph prints as a visible box"
    );
    let other_box_path = dir.path().join("box2.pdf");
    reference_slip("李\u{30001}", &other_box_path);
    let other_box = glyph_ink(
        &render(&other_box_path),
        word_box(&other_box_path, "李"),
        1,
        10.0,
    );
    assert!(
        likeness(&missing, &other_box) > 0.8,
        "the comparison sees two missing glyphs as the same box ({})",
        likeness(&missing, &other_box)
    );
    let applicant = word_box(&slip_path, "王");
    let agent = word_box(&slip_path, "韦国");
    for (what, cell) in [
        ("王", glyph_ink(&page, applicant, 0, 10.0)),
        ("𠈌", glyph_ink(&page, applicant, 1, 10.0)),
        ("𪚥", glyph_ink(&page, agent, 2, 10.0)),
    ] {
        assert!(ink(&cell) > 100, "{what} has ink");
        let alike = likeness(&cell, &missing);
        assert!(
            alike < 0.5,
            "{what} is a real glyph, not the missing-glyph box (likeness {alike})"
        );
    }

    // The verification page, where the slip's QR code leads.
    client
        .goto(&app.url(&format!("/verify/{code}")))
        .await
        .expect("open");
    let verdict = wait_for_text(&client, "#verdict", "真实有效").await;
    assert!(verdict.contains("电子签名有效"), "{verdict}");
    let certified = texts(&client, "#certified").await.join("\n");
    assert!(certified.contains(&no), "{certified}");
    assert!(certified.contains("王*"), "masked: {certified}");
    assert!(!certified.contains("王𠈌"), "masked: {certified}");
    screenshot(&client, "slip-verify-genuine.png").await;

    // By typing the code as printed.
    client.goto(&app.url("/verify")).await.expect("open");
    let grouped = format!(
        "{}-{}-{}-{}",
        &code[..4],
        &code[4..8],
        &code[8..12],
        &code[12..]
    );
    fill(&client, "#code", &grouped.to_lowercase()).await;
    click(&client, "#verify-code-submit").await;
    wait_for_path_prefix(&client, &format!("/verify/{code}")).await;
    wait_for_text(&client, "#verdict", "真实有效").await;

    // By uploading the file, and an altered copy.
    client.goto(&app.url("/verify")).await.expect("open");
    client
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(slip_path.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "#verify-file-submit").await;
    let verdict = wait_for_text(&client, "#verdict", "真实有效").await;
    assert!(verdict.contains("原件"), "{verdict}");
    let mut altered = pdf.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x20;
    let altered_path = dir.path().join("altered.pdf");
    std::fs::write(&altered_path, altered).unwrap();
    client.goto(&app.url("/verify")).await.expect("open");
    client
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(altered_path.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "#verify-file-submit").await;
    let verdict = wait_for_text(&client, "#verdict", "文件已被改动").await;
    assert!(verdict.contains("不一致"), "{verdict}");
    screenshot(&client, "slip-verify-altered.png").await;

    client.close().await.expect("close the browser");
}
