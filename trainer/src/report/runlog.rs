//! The run directory: `config.toml`, `metrics.jsonl` (one JSON object per logged step or
//! evaluation), `summary.json`, and the atomic file writes they and the checkpoints use.
//!
//! An atomic write goes to a temporary file in the same directory, is fsynced, renamed over
//! the target, and the directory is fsynced, so a reader sees the old file or the new one, never
//! a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::metrics::{try_parse_records, try_read_records, MetricRecord};
use crate::error::Error;

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Environment variable of a test hook: when set to a number of milliseconds, every atomic
/// write sleeps that long after the temp file is written and fsynced and before it is renamed,
/// so a crash test can kill the process while a write is in flight. Unset (or not a number),
/// nothing changes; the hook never alters what is written.
pub const WRITE_DELAY_ENV: &str = "GROCO_TEST_ATOMIC_WRITE_DELAY_MS";

fn test_write_delay() -> Option<std::time::Duration> {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        let ms: u64 = std::env::var(WRITE_DELAY_ENV).ok()?.trim().parse().ok()?;
        Some(std::time::Duration::from_millis(ms))
    })
}

fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temp file an atomic write of `path` by this process goes through:
/// `.<name>.tmp-<pid>` in the same directory. Nothing reads it; a crash can leave it behind.
pub fn temp_path(path: &Path) -> PathBuf {
    parent_dir(path).join(format!("{}{}", temp_prefix(path), std::process::id()))
}

/// Whether `file_name` is the temp file of an atomic write of a file named `target`.
pub fn is_temp_of(file_name: &str, target: &str) -> bool {
    file_name
        .strip_prefix(&format!(".{target}.tmp-"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temp files of `path` that killed processes left behind: those of another process
/// that no longer runs (on Linux, one without `/proc/<pid>`; elsewhere, any other process).
/// Best effort: failures are ignored.
pub fn remove_stale_temps(path: &Path) {
    let Some(target) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    let own = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_temp_of(&name, &target) {
            continue;
        }
        let pid = &name[target.len() + 6..];
        let alive =
            pid == own || (cfg!(target_os = "linux") && Path::new("/proc").join(pid).exists());
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the directory).
/// On failure the previous content of `path` is left untouched and the temp file is removed.
pub fn try_write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    try_write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`try_write_atomic`], with the content produced by `fill` writing into the temp file
/// ([`temp_path`]). Temp files of this target left behind by killed processes are removed.
/// An error names `path` (the target, not the temp file).
pub fn try_write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let dir = parent_dir(path);
    let tmp = temp_path(path);
    remove_stale_temps(path);
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
        if let Some(delay) = test_write_delay() {
            std::thread::sleep(delay);
        }
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

    /// Opens `dir/metrics.jsonl` for a run starting after `epochs_done` checkpointed epochs (0 for
    /// a fresh run), first rewriting it (atomically) without what an interrupted run logged past
    /// that point: step records of epoch `epochs_done` (0-based) or later, k-NN records after
    /// epoch `epochs_done` (1-based; epoch 0 is the random-init encoder), end-of-run records, and
    /// a torn last line. With `epochs_done` = 0 an existing log is emptied. A missing log is
    /// created.
    pub fn try_open_resumed(dir: &Path, epochs_done: usize) -> Result<Self, Error> {
        let path = dir.join("metrics.jsonl");
        if path.is_file() {
            // Lines that are not records (a torn last line) are dropped too.
            let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
            let kept: String = try_parse_records(&text, &path)?
                .into_iter()
                .filter(|(record, _)| record.survives_resume_after(epochs_done))
                .map(|(_, line)| line + "\n")
                .collect();
            if kept.len() != text.len() {
                try_write_atomic(&path, kept.as_bytes())?;
            }
        }
        Self::try_open(dir)
    }

    /// Appends one record as a line.
    pub fn try_log(&mut self, record: &MetricRecord) -> Result<(), Error> {
        let mut line = serde_json::to_string(record).expect("a metrics record serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| io_err(&self.path, e))
    }

    /// Reads every record of `dir/metrics.jsonl` (see [`try_read_records`]).
    pub fn try_read_all(dir: &Path) -> Result<Vec<MetricRecord>, Error> {
        let records = try_read_records(&dir.join("metrics.jsonl"))?;
        Ok(records.into_iter().map(|(record, _)| record).collect())
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
    use super::super::metrics::{Event, StepRecord};
    use super::*;

    fn step(step: usize, epoch: usize, loss: f64) -> MetricRecord {
        MetricRecord::Step(StepRecord {
            step,
            epoch,
            loss,
            lr: 0.1,
            grad_norm: Some(1.0),
            images_per_second: 5.0,
        })
    }

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
    fn stale_temp_files_of_dead_processes_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        // pid 0 is never a user process, so its temp file is stale.
        let stale = dir.path().join(".f.bin.tmp-0");
        let other_target = dir.path().join(".g.bin.tmp-0");
        let not_temp = dir.path().join(".f.bin.tmp-x");
        for p in [&stale, &other_target, &not_temp] {
            fs::write(p, b"x").unwrap();
        }
        assert!(is_temp_of(".f.bin.tmp-0", "f.bin"));
        assert!(!is_temp_of(".f.bin.tmp-", "f.bin") && !is_temp_of("f.bin", "f.bin"));
        try_write_atomic(&path, b"new").unwrap();
        assert!(!stale.exists(), "stale temp file kept");
        assert!(other_target.exists() && not_temp.exists());
        assert!(!temp_path(&path).exists());
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn metrics_log_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::try_open(dir.path()).unwrap();
        log.try_log(&step(1, 0, 0.5)).unwrap();
        log.try_log(&step(2, 0, 0.25)).unwrap();
        let all = MetricsLog::try_read_all(dir.path()).unwrap();
        assert_eq!(all, [step(1, 0, 0.5), step(2, 0, 0.25)]);
    }

    #[test]
    fn resumed_log_drops_what_the_interrupted_epoch_logged() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"step":0,"epoch":0,"loss":1.0,"lr":0.1}"#,
            r#"{"step":1,"epoch":1,"loss":0.9,"lr":0.1}"#,
            r#"{"event":"knn","epoch":2,"knn_top1":50.0}"#,
            r#"{"step":2,"epoch":2,"loss":0.8,"lr":0.1}"#,
            r#"{"event":"knn","epoch":3,"knn_top1":60.0}"#,
            r#"{"event":"linear","top1":70.0,"top5":90.0}"#,
            r#"{"step":3,"epo"#,
        ];
        fs::write(dir.path().join("metrics.jsonl"), lines.join("\n")).unwrap();
        let mut log = MetricsLog::try_open_resumed(dir.path(), 2).unwrap();
        log.try_log(&step(2, 2, 0.7)).unwrap();
        let all = MetricsLog::try_read_all(dir.path()).unwrap();
        let knn = MetricRecord::Event(Event::Knn {
            epoch: 2,
            knn_top1: 50.0,
            knn1_top1: None,
            k: None,
        });
        // Lines written without a gradient norm or throughput read back with none.
        let bare = |step, epoch, loss| {
            MetricRecord::Step(StepRecord {
                step,
                epoch,
                loss,
                lr: 0.1,
                grad_norm: None,
                images_per_second: 0.0,
            })
        };
        assert_eq!(
            all,
            [bare(0, 0, 1.0), bare(1, 1, 0.9), knn, step(2, 2, 0.7)]
        );
        // A fresh run over a log a killed run left before its first checkpoint empties it.
        MetricsLog::try_open_resumed(dir.path(), 0).unwrap();
        assert!(MetricsLog::try_read_all(dir.path()).unwrap().is_empty());
        // A fresh directory gets a fresh log.
        let empty = tempfile::tempdir().unwrap();
        MetricsLog::try_open_resumed(empty.path(), 3).unwrap();
        assert!(empty.path().join("metrics.jsonl").is_file());
    }
}
