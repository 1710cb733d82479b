//! The reference fixtures: where the files are, JSON field access with errors that name the
//! file, and the tolerance rule the fixture tests share.
//!
//! The cases of kind `<kind>` are the files directly under `fixtures/<kind>/` (which must hold
//! at least one) and, when `GROCO_FIXTURES` is set, under `$GROCO_FIXTURES/<kind>/` (which then
//! must hold one too). An element agrees when |got − want| <= rel·|want| + abs·scale, scale
//! being the largest |want| of its row (see [`compare`]).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every file directly under `dir`, sorted (none if `dir` does not exist).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The files of `kind`, written by `fixtures/generate.py`: see [`sources_from`].
pub fn sources(kind: &str) -> Vec<PathBuf> {
    sources_from(kind, "fixtures/generate.py")
}

/// The files of `kind`: `fixtures/<kind>/` (which must hold a case; the failure names
/// `generator`, the script that writes them) and, when `GROCO_FIXTURES` is set,
/// `$GROCO_FIXTURES/<kind>/` (which then must hold a case too). Prints each folder read.
pub fn sources_from(kind: &str, generator: &str) -> Vec<PathBuf> {
    let committed = crate::workspace_root().join("fixtures").join(kind);
    let mut all = files(&committed);
    assert!(
        !all.is_empty(),
        "{} holds no case: run {generator} (see fixtures/README.md)",
        committed.display()
    );
    println!("reading {} ({} files)", committed.display(), all.len());
    if let Ok(extra) = std::env::var("GROCO_FIXTURES") {
        let dir = Path::new(&extra).join(kind);
        let list = files(&dir);
        assert!(
            !list.is_empty(),
            "GROCO_FIXTURES is set but {} holds no case",
            dir.display()
        );
        println!("reading {} ({} files)", dir.display(), list.len());
        all.extend(list);
    }
    all
}

/// The parsed JSON of `file`, and its `kind`.
pub fn read(file: &Path) -> Result<(Value, String), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    let kind = string(&v, "kind", file)?;
    Ok((v, kind))
}

/// The field `name` of `v`.
pub fn field<'a>(v: &'a Value, name: &str, file: &Path) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("{}: missing field `{name}`", file.display()))
}

/// The string field `name` of `v`.
pub fn string(v: &Value, name: &str, file: &Path) -> Result<String, String> {
    field(v, name, file)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: `{name}` is not a string", file.display()))
}

/// The number field `name` of `v`.
pub fn number(v: &Value, name: &str, file: &Path) -> Result<f64, String> {
    field(v, name, file)?
        .as_f64()
        .ok_or_else(|| format!("{}: `{name}` is not a number", file.display()))
}

/// The non-negative integer field `name` of `v`.
pub fn count(v: &Value, name: &str, file: &Path) -> Result<usize, String> {
    let n = field(v, name, file)?
        .as_u64()
        .ok_or_else(|| format!("{}: `{name}` is not a count", file.display()))?;
    usize::try_from(n).map_err(|e| format!("{}: `{name}`: {e}", file.display()))
}

/// The boolean field `name` of `v`.
pub fn boolean(v: &Value, name: &str, file: &Path) -> Result<bool, String> {
    field(v, name, file)?
        .as_bool()
        .ok_or_else(|| format!("{}: `{name}` is not a boolean", file.display()))
}

/// The lengths of the leading `depth` axes of the nested array `name` (following first
/// elements); an error if one is empty.
pub fn dims(v: &Value, name: &str, depth: usize, file: &Path) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    let mut cur = field(v, name, file)?;
    for _ in 0..depth {
        let a = cur
            .as_array()
            .ok_or_else(|| format!("{}: `{name}` is not nested {depth} deep", file.display()))?;
        out.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    if out.len() < depth || out.contains(&0) {
        return Err(format!(
            "{}: `{name}` has an empty axis ({out:?})",
            file.display()
        ));
    }
    Ok(out)
}

/// Flattens the nested array of numbers `name`, which must have exactly `shape`.
pub fn flat(v: &Value, name: &str, shape: &[usize], file: &Path) -> Result<Vec<f64>, String> {
    fn walk(v: &Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
        match shape.split_first() {
            None => out.push(v.as_f64().ok_or("an element is not a number")?),
            Some((&len, rest)) => {
                let a = v.as_array().ok_or("not an array")?;
                if a.len() != len {
                    return Err(format!("length {} where {len} expected", a.len()));
                }
                for e in a {
                    walk(e, rest, out)?;
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(field(v, name, file)?, shape, &mut out)
        .map_err(|e| format!("{}: `{name}`: {e}", file.display()))?;
    Ok(out)
}

thread_local! {
    /// Largest |got − want| / tolerance seen by `compare` on this thread since the last reset.
    static WORST: Cell<f64> = const { Cell::new(0.0) };
}

/// The largest |got − want| / tolerance that [`compare`] has seen on this thread since the
/// last call (elements with a zero tolerance not counted); resets it to 0.
pub fn take_worst() -> f64 {
    WORST.with(|w| w.replace(0.0))
}

/// Checks `got` against `want` in rows of `len`: |got − want| <= rel·|want| + abs·scale, with
/// scale the largest |want| of the row (NaN never agrees). Returns the first disagreement, and
/// records the worst error/tolerance ratio for [`take_worst`].
pub fn compare(
    what: &str,
    got: &[f64],
    want: &[f64],
    len: usize,
    rel: f64,
    abs: f64,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
    }
    for (r, (g, w)) in got.chunks(len).zip(want.chunks(len)).enumerate() {
        let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            let tol = rel * b.abs() + abs * scale;
            if tol > 0.0 {
                WORST.with(|w| w.set(w.get().max((a - b).abs() / tol)));
            }
            let agrees = (a - b).abs() <= tol; // false for NaN
            if !agrees {
                return Err(format!(
                    "{what}[{r}][{i}]: got {a:e}, want {b:e} (row scale {scale:e})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_scales_by_the_row_and_tracks_the_worst_ratio() {
        take_worst();
        // row 0 scale 100: |1.5 − 1| = 0.5 <= 0.01·100
        assert!(compare("x", &[1.5, 100.0], &[1.0, 100.0], 2, 0.0, 0.01).is_ok());
        assert!((take_worst() - 0.5).abs() < 1e-12);
        let e = compare("x", &[1.0, 3.0], &[1.0, 2.0], 1, 0.1, 0.0).unwrap_err();
        assert_eq!(e, "x[1][0]: got 3e0, want 2e0 (row scale 2e0)");
        assert!(compare("x", &[f64::NAN], &[1.0], 1, 1.0, 1.0).is_err());
        assert!(compare("x", &[1.0], &[1.0, 2.0], 2, 1.0, 1.0).is_err());
    }

    #[test]
    fn flat_checks_the_shape() {
        let v: Value =
            serde_json::from_str(r#"{"a": [[1, 2], [3, 4]], "b": [[1], [2, 3]]}"#).unwrap();
        let f = Path::new("f.json");
        assert_eq!(flat(&v, "a", &[2, 2], f).unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(dims(&v, "a", 2, f).unwrap(), [2, 2]);
        assert!(flat(&v, "b", &[2, 1], f)
            .unwrap_err()
            .contains("length 2 where 1"));
        assert!(field(&v, "c", f).unwrap_err().contains("missing field `c`"));
    }

    #[test]
    fn the_committed_fixtures_are_found() {
        assert!(workspace_root_holds("fixtures"));
        assert!(workspace_root_holds("fuzz/regressions"));
    }

    fn workspace_root_holds(dir: &str) -> bool {
        crate::workspace_root().join(dir).is_dir()
    }
}
