//! Resuming a run, in one place: the checkpoint is read once, its saved configuration is what the
//! resumed run trains with (a request for anything else is an error), and the weights, momenta,
//! epoch count, last loss and random-init baseline come back from it.

use std::path::{Path, PathBuf};

use crate::config::{ConfigOverrides, TrainConfig};
use crate::error::{Error, Result};
use crate::model::{Net, TrainDevice};
use crate::report::checkpoint::{self, try_saved_config, Checkpoint};

use super::optim::Optimizer;

/// A checkpoint to continue from, loaded once.
#[derive(Clone, Debug)]
pub struct Resume {
    /// What the user named: a run directory, a checkpoint directory or a state file.
    pub path: PathBuf,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The configuration it was trained with.
    pub config: TrainConfig,
}

impl Resume {
    /// Loads the checkpoint at `path` and the configuration saved in it.
    pub fn try_load(path: &Path) -> Result<Self> {
        let checkpoint = Checkpoint::try_load(path)?;
        let config = try_saved_config(path, &checkpoint)?;
        Ok(Resume {
            path: path.to_path_buf(),
            checkpoint,
            config,
        })
    }

    /// Fails, naming the first such field, when a preset, config file or flag asks for a value
    /// other than the saved one (see [`TrainConfig::try_check_resume`]).
    pub fn try_check_request(
        &self,
        preset: Option<&str>,
        file: Option<&PathBuf>,
        overrides: &ConfigOverrides,
    ) -> Result<()> {
        let state = checkpoint::resolve_state_file(&self.path);
        self.config
            .try_check_resume(&state, preset, file, overrides)
    }

    /// Epochs the checkpoint completed.
    pub fn epochs_done(&self) -> usize {
        self.checkpoint.meta["epochs_done"].as_u64().unwrap_or(0) as usize
    }

    /// The mean loss of its last epoch (NaN when not recorded).
    pub fn last_epoch_loss(&self) -> f64 {
        self.checkpoint.meta["last_epoch_loss"]
            .as_f64()
            .unwrap_or(f64::NAN)
    }

    /// The random-init k-NN top-1 the run recorded before its first step, if it did.
    pub fn random_init_knn_top1(&self) -> Option<f64> {
        self.checkpoint.meta["random_init_knn_top1"].as_f64()
    }

    /// The run directory (the checkpoint directory's parent), after removing the temp files a
    /// killed write left in the checkpoint directory.
    pub fn run_dir(&self) -> PathBuf {
        let state = checkpoint::resolve_state_file(&self.path);
        let ckpt_dir = state.parent().unwrap_or(Path::new(".")).to_path_buf();
        Checkpoint::remove_stale_temps(&ckpt_dir);
        ckpt_dir.parent().map(Path::to_path_buf).unwrap_or(ckpt_dir)
    }

    /// Puts the saved weights into `net` and the saved momenta into `opt`; every tensor must be
    /// there with its shape.
    pub fn try_restore<N: Net<D>, D: TrainDevice>(
        &self,
        net: &mut N,
        opt: &mut Optimizer<D>,
        dev: &D,
    ) -> Result<()> {
        let bad = |message| Error::Checkpoint {
            path: self.path.clone(),
            message,
        };
        checkpoint::try_restore(net, &self.checkpoint.model).map_err(bad)?;
        checkpoint::try_check_momenta(net, &self.checkpoint.momenta).map_err(bad)?;
        opt.set_momenta_host(dev, &self.checkpoint.momenta)
            .map_err(|e| Error::Device(format!("{e:?}")))
    }
}
