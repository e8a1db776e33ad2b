//! `sscard backup DIR` and `sscard restore DIR`: the online backup of the
//! embedded SQLite database and its verified restore.
//!
//! A backup is a new directory:
//!
//! ```text
//! DIR/
//!   manifest.json   format, creation time, sscard and schema version, and
//!                   the size and SM3 checksum of every other file
//!   sscard.db       a consistent snapshot taken with SQLite's VACUUM INTO
//!   blobs/…         a copy of the blob store (the `blobs` folder next to the
//!                   database), when there is one
//! ```
//!
//! The data key file is NOT part of a backup: it is kept, and backed up,
//! separately (see docs/operations.md). PostgreSQL is backed up with its own
//! tools (pg_dump, WAL archiving).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::store::{Backend, DatabaseUrl, Store, known_schema_version};

/// The manifest file of a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The database snapshot in a backup directory.
pub const DATABASE_FILE: &str = "sscard.db";
/// The blob store folder, next to the database and in a backup.
pub const BLOBS_DIR: &str = "blobs";
/// The backup layout this binary writes and reads.
pub const FORMAT: u32 = 1;

const POSTGRES_REFUSAL: &str = "PostgreSQL 数据库请用 pg_dump / pg_restore 或基于 WAL 归档的时间点恢复备份，见 docs/operations.md (sscard backup/restore handle the embedded SQLite database only; for PostgreSQL use pg_dump / pg_restore or point-in-time recovery as described in docs/operations.md)";

/// What a backup holds, written last so a directory without it is never
/// mistaken for a complete backup.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created_at: String,
    sscard_version: String,
    schema_version: i64,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    /// Relative to the backup directory, `/`-separated.
    path: String,
    size: u64,
    sm3: String,
}

/// `sscard backup DIR`.
///
/// # Errors
///
/// The database is PostgreSQL or in memory, DIR exists, or reading or
/// writing fails.
pub async fn backup(
    database_url: &DatabaseUrl,
    blob_dir: &Path,
    target: &Path,
) -> anyhow::Result<()> {
    if database_url.backend() == Backend::Postgres {
        bail!("{POSTGRES_REFUSAL}");
    }
    let Some(db_file) = database_url.sqlite_file() else {
        bail!("an in-memory database cannot be backed up");
    };
    if !db_file.is_file() {
        bail!(
            "找不到数据库文件 {} (no database at {}; check --database-url)",
            db_file.display(),
            db_file.display()
        );
    }
    if target.exists() {
        bail!(
            "备份目录 {} 已存在，请指定一个新的目录 (the backup directory {} already exists; name a new one)",
            target.display(),
            target.display()
        );
    }
    let staging = sibling(target, "partial")?;
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove the leftover {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let result = write_backup(database_url, blob_dir, &staging).await;
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    fs::rename(&staging, target)
        .with_context(|| format!("cannot move {} to {}", staging.display(), target.display()))?;
    sync_parent(target)?;
    let blobs = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("blobs/"))
        .count();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "已备份数据库到 {}：结构版本 {}，{} 个文件（其中材料文件 {} 个），共 {} 字节 (backup written: schema version {}, {} files, {} bytes)。",
        target.display(),
        manifest.schema_version,
        manifest.files.len(),
        blobs,
        bytes,
        manifest.schema_version,
        manifest.files.len(),
        bytes
    );
    println!(
        "数据密钥文件不在备份中，请另行妥善备份 (the data key file is NOT in this backup: back it up separately)。"
    );
    Ok(())
}

async fn write_backup(
    database_url: &DatabaseUrl,
    blob_dir: &Path,
    staging: &Path,
) -> anyhow::Result<Manifest> {
    let store = Store::connect(database_url)
        .await
        .with_context(|| format!("cannot open the database {}", database_url.redacted()))?;
    let snapshot = async {
        let schema_version = store
            .schema_version()
            .await?
            .context("the database has never been migrated; there is nothing to back up")?;
        store
            .snapshot_into(&staging.join(DATABASE_FILE))
            .await
            .context("cannot take the database snapshot (VACUUM INTO)")?;
        anyhow::Ok(schema_version)
    }
    .await;
    store.close().await;
    let schema_version = snapshot?;
    // Blobs are copied after the snapshot: a blob is stored before the row
    // that names it commits, so every blob the snapshot refers to is here.
    if blob_dir.is_dir() {
        copy_tree(blob_dir, &staging.join(BLOBS_DIR))?;
    }
    let mut files = Vec::new();
    for relative in list_files(staging)? {
        let path = staging.join(&relative);
        File::open(&path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", path.display()))?;
        let (size, sm3) = checksum(&path)?;
        files.push(ManifestFile {
            path: relative,
            size,
            sm3,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at: crate::store::format_time(chrono::Utc::now()),
        sscard_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
        files,
    };
    let path = staging.join(MANIFEST);
    let mut file =
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    file.sync_all()?;
    sync_dir(staging)?;
    Ok(manifest)
}

/// `sscard restore DIR`.
///
/// # Errors
///
/// The backup is incomplete, damaged or newer than this binary, the target
/// exists without `force`, or writing fails.
pub fn restore(
    database_url: &DatabaseUrl,
    blob_dir: &Path,
    source: &Path,
    force: bool,
) -> anyhow::Result<()> {
    if database_url.backend() == Backend::Postgres {
        bail!("{POSTGRES_REFUSAL}");
    }
    let Some(db_file) = database_url.sqlite_file() else {
        bail!(
            "cannot restore into an in-memory database; name a file: --database-url sqlite://PATH"
        );
    };
    let manifest = verify(source)?;
    let wal = with_suffix(&db_file, "-wal");
    let shm = with_suffix(&db_file, "-shm");
    if !force && (db_file.exists() || wal.exists()) {
        bail!(
            "目标数据库 {} 已存在，未做任何改动；确认要覆盖请停止服务后加 --force (the target database {} already exists; nothing was changed: stop every server on it and add --force to overwrite)",
            db_file.display(),
            db_file.display()
        );
    }
    let dir = match db_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let has_blobs = manifest.files.iter().any(|f| f.path.starts_with("blobs/"));
    let blobs_target = blob_dir.to_path_buf();
    if has_blobs && !force && blobs_target.exists() {
        bail!(
            "目标材料目录 {} 已存在，未做任何改动；确认要覆盖请加 --force (the blob store {} already exists; nothing was changed: add --force to overwrite)",
            blobs_target.display(),
            blobs_target.display()
        );
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    // The database: a temp file in the target folder, checked again, synced,
    // then renamed over the target in one step.
    let expected = manifest
        .files
        .iter()
        .find(|f| f.path == DATABASE_FILE)
        .context("the manifest lists no sscard.db")?;
    let temp = sibling(&db_file, "restoring")?;
    fs::copy(source.join(DATABASE_FILE), &temp)
        .with_context(|| format!("cannot copy the snapshot to {}", temp.display()))?;
    File::open(&temp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", temp.display()))?;
    let (size, sm3) = checksum(&temp)?;
    if size != expected.size || sm3 != expected.sm3 {
        let _ = fs::remove_file(&temp);
        bail!("the copied snapshot differs from the backup (was the backup changed meanwhile?)");
    }
    // Sidecar files of the database being replaced would be replayed into
    // the restored one.
    for stale in [&wal, &shm] {
        match fs::remove_file(stale) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot remove {}", stale.display()));
            }
        }
    }
    fs::rename(&temp, &db_file)
        .with_context(|| format!("cannot move {} to {}", temp.display(), db_file.display()))?;
    sync_dir(&dir)?;

    let mut blobs = 0;
    if has_blobs {
        let staging = sibling(&blobs_target, "restoring")?;
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        copy_tree(&source.join(BLOBS_DIR), &staging)?;
        blobs = list_files(&staging)?.len();
        if blobs_target.exists() {
            fs::remove_dir_all(&blobs_target)
                .with_context(|| format!("cannot replace {}", blobs_target.display()))?;
        }
        fs::rename(&staging, &blobs_target)?;
        match blobs_target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    println!(
        "已从 {} 恢复数据库到 {}：结构版本 {}，备份于 {}，材料文件 {} 个 (restored the backup of {} with schema version {} and {} blobs)。",
        source.display(),
        db_file.display(),
        manifest.schema_version,
        manifest.created_at,
        blobs,
        manifest.created_at,
        manifest.schema_version,
        blobs
    );
    println!(
        "请使用该数据库原来的数据密钥文件启动 (start it with the data key file that belongs to this database; it is not part of the backup)。"
    );
    Ok(())
}

/// Reads the manifest and checks every file against it: none missing, none
/// extra, each of the recorded size and SM3 checksum.
fn verify(source: &Path) -> anyhow::Result<Manifest> {
    if !source.is_dir() {
        bail!(
            "备份目录 {} 不存在 (no backup directory at {})",
            source.display(),
            source.display()
        );
    }
    let manifest_path = source.join(MANIFEST);
    let text = match fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => bail!(
            "备份不完整：缺少 {MANIFEST}，拒绝恢复 (the backup has no {MANIFEST}: it is incomplete or not an sscard backup; refusing to restore)"
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", manifest_path.display()));
        }
    };
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!(
            "备份清单 {MANIFEST} 已损坏，拒绝恢复 (the backup's {MANIFEST} is damaged; refusing to restore)"
        )
    })?;
    if manifest.format != FORMAT {
        bail!(
            "备份格式 {} 不受支持（本程序支持格式 {FORMAT}）(unsupported backup format {}; this sscard reads format {FORMAT})",
            manifest.format,
            manifest.format
        );
    }
    let known = known_schema_version();
    if manifest.schema_version > known {
        bail!(
            "备份的数据库结构版本 {} 比本程序（最高 {known}）新，请用更新版本的 sscard 恢复 (the backup has schema version {}, newer than this sscard knows ({known}); restore it with a newer sscard)",
            manifest.schema_version,
            manifest.schema_version
        );
    }
    let mut problems = Vec::new();
    let present = list_files(source)?;
    for listed in &manifest.files {
        let safe = listed.path == DATABASE_FILE
            || (listed.path.starts_with("blobs/")
                && !listed
                    .path
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == ".."));
        if !safe {
            problems.push(format!(
                "清单中有不允许的路径 {} (unexpected path in the manifest: {})",
                listed.path, listed.path
            ));
            continue;
        }
        if !present.contains(&listed.path) {
            problems.push(format!(
                "缺少文件 {} (missing file: {})",
                listed.path, listed.path
            ));
            continue;
        }
        let (size, sm3) = checksum(&source.join(&listed.path))?;
        if size != listed.size || sm3 != listed.sm3 {
            problems.push(format!(
                "文件 {} 的 SM3 校验和不符 (checksum mismatch: {}; size {} expected {})",
                listed.path, listed.path, size, listed.size
            ));
        }
    }
    for path in &present {
        if path != MANIFEST && !manifest.files.iter().any(|f| &f.path == path) {
            problems.push(format!(
                "多出未登记的文件 {path} (file not in the manifest: {path})"
            ));
        }
    }
    if !manifest.files.iter().any(|f| f.path == DATABASE_FILE) {
        problems.push(format!(
            "清单中没有数据库文件 (the manifest lists no {DATABASE_FILE})"
        ));
    }
    if !problems.is_empty() {
        bail!(
            "备份 {} 已损坏或不一致，拒绝恢复：{} (the backup is damaged or inconsistent; nothing was restored)",
            source.display(),
            problems.join("；")
        );
    }
    Ok(manifest)
}

/// Size and SM3 checksum (hex) of a file, streamed.
fn checksum(path: &Path) -> anyhow::Result<(u64, String)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata()?.len();
    let sm3 = sscard_crypto::sm3_hex_reader(io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((size, sm3))
}

/// Every regular file under `root`, relative and `/`-separated, sorted.
/// Symbolic links and other special files are refused.
fn list_files(root: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                let relative = path.strip_prefix(root)?;
                let parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            } else {
                bail!("{} is neither a file nor a folder", path.display());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies the regular files under `from` to `to`, syncing each.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for relative in list_files(from)? {
        let target = to.join(&relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::copy(from.join(&relative), &target)
            .with_context(|| format!("cannot copy {relative} to {}", target.display()))?;
        File::open(&target).and_then(|f| f.sync_all())?;
    }
    Ok(())
}

/// `.NAME.WHAT` next to `path`: a staging name in the same folder, so the
/// final rename is atomic.
fn sibling(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file or folder", path.display()))?;
    Ok(path.with_file_name(format!(".{}.{what}", name.to_string_lossy())))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Makes a rename or a new file in `dir` durable (a no-op where folders
/// cannot be opened, as on Windows).
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync the folder {}", dir.display()))?;
    }
    Ok(())
}
