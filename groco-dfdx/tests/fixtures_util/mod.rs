//! Shared by the fixture tests: where the fixture files are, JSON field access with errors that
//! name the file, and the tolerance check.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every file directly under `dir`, sorted (none if `dir` does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
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

/// The files of `kind`: `fixtures/<kind>/` (which must hold a case) and, when `GROCO_FIXTURES`
/// is set, `$GROCO_FIXTURES/<kind>/` (which then must hold a case too).
pub fn sources(kind: &str) -> Vec<PathBuf> {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(kind);
    let mut all = files(&committed);
    assert!(
        !all.is_empty(),
        "{} holds no case: run fixtures/generate.py (see fixtures/README.md)",
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

pub fn field<'a>(v: &'a Value, name: &str, file: &Path) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("{}: missing field `{name}`", file.display()))
}

pub fn string(v: &Value, name: &str, file: &Path) -> Result<String, String> {
    field(v, name, file)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: `{name}` is not a string", file.display()))
}

pub fn number(v: &Value, name: &str, file: &Path) -> Result<f64, String> {
    field(v, name, file)?
        .as_f64()
        .ok_or_else(|| format!("{}: `{name}` is not a number", file.display()))
}

pub fn count(v: &Value, name: &str, file: &Path) -> Result<usize, String> {
    let n = field(v, name, file)?
        .as_u64()
        .ok_or_else(|| format!("{}: `{name}` is not a count", file.display()))?;
    usize::try_from(n).map_err(|e| format!("{}: `{name}`: {e}", file.display()))
}

pub fn boolean(v: &Value, name: &str, file: &Path) -> Result<bool, String> {
    field(v, name, file)?
        .as_bool()
        .ok_or_else(|| format!("{}: `{name}` is not a boolean", file.display()))
}

/// The lengths of the leading axes of the nested array `name` (following first elements).
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

/// Flattens a nested array of numbers of exactly `shape`.
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

/// Checks `got` against `want` in rows of `len`: |got − want| <= rel·|want| + abs·scale, with
/// scale the largest |want| of the row. Returns the first disagreement.
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
            let agrees = (a - b).abs() <= rel * b.abs() + abs * scale; // false for NaN
            if !agrees {
                return Err(format!(
                    "{what}[{r}][{i}]: got {a:e}, want {b:e} (row scale {scale:e})"
                ));
            }
        }
    }
    Ok(())
}
