//! The run directory: `config.toml`, `metrics.jsonl` (one JSON object per logged step or
//! evaluation), `summary.json`, and the atomic file writes they and the checkpoints use.
//!
//! An atomic write goes to a temporary file in the same directory, is fsynced, renamed over
//! the target, and the directory is fsynced, so a reader sees the old file or the new one, never
//! a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the directory).
/// On failure the previous content of `path` is left untouched and the temp file is removed.
pub fn try_write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    try_write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`try_write_atomic`], with the content produced by `fill` writing into the temp file.
pub fn try_write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        fill(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })
}

/// An append-only JSON-lines log.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens (appending) `dir/metrics.jsonl`.
    pub fn try_open(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("metrics.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        Ok(MetricsLog { path, file })
    }

    /// Appends one JSON object as a line.
    pub fn try_log(&mut self, record: &serde_json::Value) -> Result<(), Error> {
        let mut line = record.to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| io_err(&self.path, e))
    }

    /// Reads every record of `dir/metrics.jsonl` (for plots and tests).
    pub fn try_read_all(dir: &Path) -> Result<Vec<serde_json::Value>, Error> {
        let path = dir.join("metrics.jsonl");
        let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::Parse {
                    file: path.display().to_string(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// Creates the run directory `runs/<timestamp>-<loss>-<dataset>/` (or `out` when given).
pub fn try_create_run_dir(out: Option<&Path>, loss: &str, dataset: &str) -> Result<PathBuf, Error> {
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let ds: String = dataset
                .split([':', '/', '\\'])
                .next()
                .unwrap_or("data")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            PathBuf::from("runs").join(format!("{}-{loss}-{ds}", timestamp(secs)))
        }
    };
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    Ok(dir)
}

/// `YYYYmmdd-HHMMSS` (UTC) for a Unix time.
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_matches_a_known_date() {
        // 2026-11-30 21:40:35 UTC
        assert_eq!(timestamp(1_796_074_835), "20261130-214035");
        assert_eq!(timestamp(0), "19700101-000000");
    }

    #[test]
    fn atomic_write_replaces_and_failed_write_keeps_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        try_write_atomic(&path, b"one").unwrap();
        try_write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let err = try_write_atomic_with(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(err.unwrap_err().to_string().contains("disk full"));
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    #[test]
    fn metrics_log_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::try_open(dir.path()).unwrap();
        log.try_log(&serde_json::json!({"step": 1, "loss": 0.5}))
            .unwrap();
        log.try_log(&serde_json::json!({"step": 2, "loss": 0.25}))
            .unwrap();
        let all = MetricsLog::try_read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1]["loss"], 0.25);
    }
}
