//! Finding and reading dataset files: a file or its `.gz` twin, the folder among candidates that
//! holds a given file, and reading with transparent gunzip.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Reads `path`, gunzipping it when its name ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| Error::io(path, e))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The first of `dir/name` or `dir/name.gz` that exists, if any (when `gz` is allowed).
pub(crate) fn find_file(dir: &Path, name: &str, gz: bool) -> Option<PathBuf> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Some(plain);
    }
    let zipped = dir.join(format!("{name}.gz"));
    (gz && zipped.is_file()).then_some(zipped)
}

/// `dir` itself if it holds `probe`, else the first of `subdirs` under it that does.
pub(crate) fn locate(dir: &Path, probe: &str, subdirs: &[&str]) -> Option<PathBuf> {
    std::iter::once(dir.to_path_buf())
        .chain(subdirs.iter().map(|s| dir.join(s)))
        .find(|d| d.join(probe).is_file())
}
