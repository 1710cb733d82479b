//! Checkpoints: the model's named tensors, the optimiser's momentum buffers and a JSON metadata
//! record, in one safetensors file written atomically (temp file, fsync, rename), plus a
//! human-readable `meta.json` copy beside it.
//!
//! Layout of `<dir>/state.safetensors`: tensors `model.<path>` (dfdx's field paths),
//! `optim.<i>` (momentum buffer of the i-th trainable tensor), and the metadata key `meta`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ::safetensors::tensor::{Dtype as SDtype, SafeTensors, TensorView};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;
use groco_dfdx::transfer::{download_vec, upload_into};

use crate::config::TrainConfig;
use crate::error::Error;

/// File name of the state inside a checkpoint directory.
pub const STATE_FILE: &str = "state.safetensors";
/// File name of the readable metadata copy.
pub const META_FILE: &str = "meta.json";

/// A host-side snapshot: named f32 tensors with shapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// `(name, shape, values)` in visiting order.
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

struct Collect<'a> {
    out: &'a mut Snapshot,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Collect<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (t, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        let shape = t.shape().concrete().into_iter().collect();
        self.out
            .tensors
            .push((name, shape, download_vec(t, "checkpoint tensor")));
        Ok(None)
    }
}

/// Copies every tensor of `model` to the host, with its dfdx path as the name.
pub fn snapshot<D: Device<f32>, M: TensorCollection<f32, D>>(
    model: &M,
) -> Result<Snapshot, D::Err> {
    let mut out = Snapshot::default();
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut Collect { out: &mut out },
    })?;
    Ok(out)
}

struct Restore<'a> {
    by_name: HashMap<&'a str, (&'a [usize], &'a [f32])>,
    problem: Option<String>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Restore<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        (t, name): (&mut Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        if self.problem.is_some() {
            return Ok(None);
        }
        let want: Vec<usize> = t.shape().concrete().into_iter().collect();
        match self.by_name.remove(name.as_str()) {
            None => self.problem = Some(format!("tensor {name:?} (shape {want:?}) is missing")),
            Some((shape, _)) if shape != want.as_slice() => {
                self.problem = Some(format!(
                "tensor {name:?} has shape {shape:?} in the checkpoint but {want:?} in the model"
            ))
            }
            Some((_, values)) => {
                if let Err(e) = upload_into(t, values, "checkpoint tensor") {
                    self.problem = Some(format!("tensor {name:?}: {e}"));
                }
            }
        }
        Ok(None)
    }
}

/// Loads `snap` into `model`. Every model tensor must be present with the same shape, and the
/// snapshot must hold no extra tensor; otherwise the error names the first mismatch.
pub fn try_restore<D: Device<f32>, M: TensorCollection<f32, D>>(
    model: &mut M,
    snap: &Snapshot,
) -> Result<(), String> {
    let mut visitor = Restore {
        by_name: snap
            .tensors
            .iter()
            .map(|(n, s, v)| (n.as_str(), (s.as_slice(), v.as_slice())))
            .collect(),
        problem: None,
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut visitor,
    })
    .map_err(|e| format!("{e:?}"))?;
    if let Some(p) = visitor.problem {
        return Err(p);
    }
    if let Some(extra) = visitor.by_name.keys().min() {
        return Err(format!(
            "the checkpoint holds tensor {extra:?}, which the model lacks"
        ));
    }
    Ok(())
}

struct TrainableSizes {
    sizes: Vec<usize>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for TrainableSizes {
    type Viewer = ViewTensorRef;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        if opts.do_gradient_update {
            self.sizes.push(t.shape().num_elements());
        }
        Ok(None)
    }
}

/// Checks that `momenta` fit `model`: at most one buffer per trainable tensor (in visiting order,
/// the optimiser's slots), each empty or of that tensor's length. A checkpoint that fails this
/// would otherwise pass [`try_restore`] and make the first optimiser step panic on a shape
/// mismatch.
pub fn try_check_momenta<D: Device<f32>, M: TensorCollection<f32, D>>(
    model: &M,
    momenta: &[Vec<f32>],
) -> Result<(), String> {
    let mut visitor = TrainableSizes { sizes: Vec::new() };
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut visitor,
    })
    .map_err(|e| format!("{e:?}"))?;
    let sizes = visitor.sizes;
    if momenta.len() > sizes.len() {
        return Err(format!(
            "the checkpoint holds {} optimiser buffers but the model has {} trainable tensors",
            momenta.len(),
            sizes.len()
        ));
    }
    for (i, (m, &n)) in momenta.iter().zip(&sizes).enumerate() {
        if !m.is_empty() && m.len() != n {
            return Err(format!(
                "optimiser buffer optim.{i} has {} values but its tensor has {n}",
                m.len()
            ));
        }
    }
    Ok(())
}

/// Everything a checkpoint holds, on the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// The model's tensors.
    pub model: Snapshot,
    /// Momentum buffers in visiting order (empty vectors where none exists yet).
    pub momenta: Vec<Vec<f32>>,
    /// Free-form metadata (config, epoch, step, seed, ...).
    pub meta: serde_json::Value,
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Checkpoint {
    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, shape, values) in &self.model.tensors {
            owned.push((format!("model.{name}"), shape.clone(), to_bytes(values)));
        }
        for (i, m) in self.momenta.iter().enumerate() {
            owned.push((format!("optim.{i}"), vec![m.len()], to_bytes(m)));
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, b)| {
                let view = TensorView::new(SDtype::F32, s.clone(), b).expect("shape matches data");
                (n.clone(), view)
            })
            .collect();
        let meta = HashMap::from([("meta".to_string(), self.meta.to_string())]);
        ::safetensors::serialize(views, &Some(meta)).expect("in-memory serialisation cannot fail")
    }

    /// Parses safetensors bytes written by [`Checkpoint::to_bytes`]; `path` names errors.
    pub fn try_from_bytes(bytes: &[u8], path: &Path) -> Result<Self, Error> {
        let bad = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let unreadable = |e: ::safetensors::SafeTensorError| {
            bad(format!(
                "not a readable safetensors file ({e:?}): the file ({} bytes) is truncated or \
                 corrupt",
                bytes.len()
            ))
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
        let st = SafeTensors::deserialize(bytes).map_err(unreadable)?;
        let meta_text = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("meta"))
            .ok_or_else(|| bad("no `meta` record".into()))?;
        let meta = serde_json::from_str(meta_text).map_err(|e| bad(format!("meta: {e}")))?;
        let mut ckpt = Checkpoint {
            meta,
            ..Checkpoint::default()
        };
        let mut optim: Vec<(usize, Vec<f32>)> = Vec::new();
        let mut names: Vec<String> = st.names().into_iter().cloned().collect();
        names.sort();
        for name in names {
            let view = st
                .tensor(&name)
                .map_err(|e| bad(format!("{name}: {e:?}")))?;
            if view.dtype() != SDtype::F32 {
                return Err(bad(format!(
                    "{name}: dtype {:?}, expected F32",
                    view.dtype()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(rest) = name.strip_prefix("model.") {
                ckpt.model
                    .tensors
                    .push((rest.to_string(), view.shape().to_vec(), values));
            } else if let Some(i) = name.strip_prefix("optim.") {
                let i: usize = i
                    .parse()
                    .map_err(|_| bad(format!("bad tensor name {name:?}")))?;
                optim.push((i, values));
            } else {
                return Err(bad(format!("unexpected tensor {name:?}")));
            }
        }
        optim.sort_by_key(|(i, _)| *i);
        for (expected, (i, values)) in optim.into_iter().enumerate() {
            if i != expected {
                return Err(bad(format!("optimiser buffer optim.{expected} is missing")));
            }
            ckpt.momenta.push(values);
        }
        Ok(ckpt)
    }

    /// Writes `dir/state.safetensors` atomically, then `dir/meta.json`. A failed write is an
    /// [`Error::Checkpoint`] naming the file and the cause; when the state file fails, the
    /// checkpoint that was there before stays intact (see [`super::runlog::try_write_atomic`]).
    pub fn try_save(&self, dir: &Path) -> Result<PathBuf, Error> {
        let failed = |path: &Path, e: Error, outcome: &str| Error::Checkpoint {
            path: path.to_path_buf(),
            message: match e {
                Error::Io { source, .. } => format!("writing it failed ({source}); {outcome}"),
                other => format!("{other}; {outcome}"),
            },
        };
        let kept = "the previous checkpoint, if any, is kept";
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, Error::io(dir, e), kept))?;
        let path = dir.join(STATE_FILE);
        super::runlog::try_write_atomic(&path, &self.to_bytes())
            .map_err(|e| failed(&path, e, kept))?;
        let pretty = serde_json::to_string_pretty(&self.meta).unwrap_or_default();
        let meta = dir.join(META_FILE);
        super::runlog::try_write_atomic(&meta, pretty.as_bytes()).map_err(|e| {
            let written =
                format!("the new {STATE_FILE} was written; only its readable copy failed");
            failed(&meta, e, &written)
        })?;
        Ok(path)
    }

    /// Removes the temp files that killed writers left in the checkpoint directory `dir`
    /// (see [`super::runlog::remove_stale_temps`]); a resumed run calls it, since it may have
    /// no checkpoint left to write. Best effort.
    pub fn remove_stale_temps(dir: &Path) {
        for file in [STATE_FILE, META_FILE] {
            super::runlog::remove_stale_temps(&dir.join(file));
        }
    }

    /// Loads a checkpoint from a checkpoint directory, a run directory holding `checkpoint/`,
    /// or the state file itself.
    pub fn try_load(path: &Path) -> Result<Self, Error> {
        let file = resolve_state_file(path);
        let bytes = std::fs::read(&file).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        Self::try_from_bytes(&bytes, &file)
    }
}

/// The state file for a path that may be a run directory, a checkpoint directory or the file.
pub fn resolve_state_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        let nested = path.join("checkpoint").join(STATE_FILE);
        if nested.exists() {
            return nested;
        }
        return path.join(STATE_FILE);
    }
    path.to_path_buf()
}

/// The training configuration stored in the metadata of `ckpt` (loaded from `path`).
pub fn try_saved_config(path: &Path, ckpt: &Checkpoint) -> Result<TrainConfig, Error> {
    serde_json::from_value(ckpt.meta["config"].clone()).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("config in checkpoint: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Net = (Linear<3, 4>, BatchNorm1D<4>);

    #[test]
    fn round_trip_restores_every_tensor_and_the_momenta() {
        let dev: Cpu = Default::default();
        let a = dev.build_module::<Net, f32>();
        let ckpt = Checkpoint {
            model: snapshot(&a).unwrap(),
            momenta: vec![vec![1.0, 2.0], vec![]],
            meta: serde_json::json!({"epoch": 3}),
        };
        let dir = tempfile::tempdir().unwrap();
        ckpt.try_save(dir.path()).unwrap();
        let back = Checkpoint::try_load(dir.path()).unwrap();
        let mut expected = ckpt.clone();
        expected.model.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, expected);
        let mut b = dev.build_module::<Net, f32>();
        assert_ne!(b.0.weight.as_vec(), a.0.weight.as_vec());
        try_restore(&mut b, &back.model).unwrap();
        assert_eq!(b.0.weight.as_vec(), a.0.weight.as_vec());
        assert_eq!(b.1.running_var.as_vec(), a.1.running_var.as_vec());
    }

    #[test]
    fn a_checkpoint_of_another_model_is_refused_with_the_tensor_named() {
        let dev: Cpu = Default::default();
        let a = dev.build_module::<Linear<3, 4>, f32>();
        let snap = snapshot(&a).unwrap();
        let mut b = dev.build_module::<Linear<3, 5>, f32>();
        let err = try_restore(&mut b, &snap).unwrap_err();
        assert!(err.contains("weight") && err.contains("[4, 3]"), "{err}");
    }

    #[test]
    fn momenta_of_the_wrong_count_or_length_are_refused() {
        let dev: Cpu = Default::default();
        let net = dev.build_module::<Net, f32>();
        // Trainable: linear weight (12), bias (4), batch-norm scale (4) and bias (4).
        assert!(try_check_momenta(&net, &[vec![0.0; 12], vec![], vec![0.0; 4]]).is_ok());
        let err = try_check_momenta(&net, &[vec![0.0; 12], vec![0.0; 3]]).unwrap_err();
        assert!(err.contains("optim.1") && err.contains("3 values"), "{err}");
        let err = try_check_momenta(&net, &vec![vec![]; 5]).unwrap_err();
        assert!(err.contains("5 optimiser buffers"), "{err}");
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        let path = Path::new("x/state.safetensors");
        for bytes in [&b""[..], b"garbage", &[255u8; 64]] {
            assert!(Checkpoint::try_from_bytes(bytes, path).is_err());
        }
    }
}
