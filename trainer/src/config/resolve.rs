//! Composing a configuration: defaults, then a named preset, then a TOML file, then the
//! command-line flags (later wins); reading config files; and checking that a resumed run asks
//! for nothing its checkpoint was not trained with.

use std::path::{Path, PathBuf};

use crate::error::Error;

use super::fields::{ConfigOverrides, TrainConfig};
#[cfg(test)]
use super::kinds::{DeviceKind, LossKind};
#[cfg(test)]
use super::presets::PRESETS;

impl TrainConfig {
    /// Reads a TOML config file holding any subset of the fields; unknown keys are an error.
    pub fn try_overrides_from_file(path: &Path) -> Result<ConfigOverrides, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::try_overrides_from_str(&text, path)
    }

    /// Parses the text of a TOML config file, as [`TrainConfig::try_overrides_from_file`] does
    /// after reading it; `path` only names the file in errors.
    ///
    /// ```
    /// use std::path::Path;
    /// use trainer::config::TrainConfig;
    /// let o = TrainConfig::try_overrides_from_str("epochs = 3", Path::new("c.toml")).unwrap();
    /// assert_eq!(o.epochs, Some(3));
    /// assert!(TrainConfig::try_overrides_from_str("epoch = 3", Path::new("c.toml")).is_err());
    /// ```
    pub fn try_overrides_from_str(text: &str, path: &Path) -> Result<ConfigOverrides, Error> {
        toml::from_str(text).map_err(|e| Error::Parse {
            file: path.display().to_string(),
            line: e
                .span()
                .map(|r| {
                    text.get(..r.start)
                        .map_or(0, |t| t.matches('\n').count() + 1)
                })
                .unwrap_or(0),
            reason: e.message().to_string(),
        })
    }

    /// Serialises the resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a TrainConfig always serialises")
    }

    /// With `--resume`, a run continues the configuration saved in its checkpoint (`self`).
    /// A preset, config file or flag that asks for a different value is an error naming the
    /// first such field, instead of being silently ignored.
    pub fn try_check_resume(
        &self,
        checkpoint: &Path,
        preset: Option<&str>,
        file: Option<&PathBuf>,
        flags: &ConfigOverrides,
    ) -> Result<(), Error> {
        let from_file = match file {
            Some(path) => TrainConfig::try_overrides_from_file(path)?,
            None => ConfigOverrides::default(),
        };
        let mut wanted = match preset.or(from_file.preset.as_deref()) {
            Some(name) => TrainConfig::try_preset(name)?,
            None => self.clone(),
        };
        wanted.apply(&from_file);
        wanted.apply(flags);
        // The device is where the run executes, not what it trains: a preset's default
        // (`auto`) does not conflict with the device a checkpoint was saved with (runs saved
        // before `auto` existed say `cpu`); only an explicit file or flag setting does.
        if from_file.device.is_none() && flags.device.is_none() {
            wanted.device = self.device;
        }
        let (Ok(serde_json::Value::Object(saved)), Ok(serde_json::Value::Object(asked))) =
            (serde_json::to_value(self), serde_json::to_value(&wanted))
        else {
            return Ok(());
        };
        let null = serde_json::Value::Null;
        match saved.iter().find(|(k, v)| asked.get(*k) != Some(*v)) {
            Some((field, value)) => Err(Error::Checkpoint {
                path: checkpoint.to_path_buf(),
                message: format!(
                    "was trained with {field} = {value}, but {field} = {} was asked for; a \
                     resumed run continues its saved configuration (drop the setting, or start \
                     a new run)",
                    asked.get(field).unwrap_or(&null)
                ),
            }),
            None => Ok(()),
        }
    }
}

/// Resolves defaults, then the preset (flag or file), then the file, then the flags.
pub fn try_resolve(
    preset: Option<&str>,
    file: Option<&PathBuf>,
    flags: &ConfigOverrides,
) -> Result<TrainConfig, Error> {
    let from_file = match file {
        Some(path) => TrainConfig::try_overrides_from_file(path)?,
        None => ConfigOverrides::default(),
    };
    let preset = preset.or(from_file.preset.as_deref());
    let mut config = match preset {
        Some(name) => TrainConfig::try_preset(name)?,
        None => TrainConfig::default(),
    };
    config.apply(&from_file);
    config.apply(flags);
    config.try_validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_i64_are_refused_so_config_toml_can_be_written() {
        // Found by the config/checkpoint fuzz targets: `to_toml` panicked on such a seed.
        let c = TrainConfig {
            seed: u64::MAX,
            ..TrainConfig::default()
        };
        let e = c.try_validate().unwrap_err().to_string();
        assert!(
            e.contains("seed") && e.contains("18446744073709551615"),
            "{e}"
        );
        let c = TrainConfig {
            seed: i64::MAX as u64,
            ..TrainConfig::default()
        };
        c.try_validate().unwrap();
        assert!(c.to_toml().contains("seed = 9223372036854775807"));
    }

    fn write_temp(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let (_d, path) = write_temp("epochs = 7\nbatch_size = 64\nloss = \"nt-xent\"\n");
        let flags = ConfigOverrides {
            epochs: Some(3),
            ..Default::default()
        };
        let c = try_resolve(None, Some(&path), &flags).unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.loss, LossKind::NtXent);
        assert_eq!(c.views, TrainConfig::default().views);
    }

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let (_d, path) = write_temp("epochz = 7\n");
        let err = try_resolve(None, Some(&path), &ConfigOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("epochz"), "{err}");
    }

    #[test]
    fn invalid_values_are_named() {
        let cases: [(&str, ConfigOverrides); 4] = [
            (
                "views",
                ConfigOverrides {
                    views: Some(1),
                    ..Default::default()
                },
            ),
            (
                "topk_neg",
                ConfigOverrides {
                    topk_neg: Some(256),
                    ..Default::default()
                },
            ),
            (
                "steepness",
                ConfigOverrides {
                    steepness: Some(0.0),
                    ..Default::default()
                },
            ),
            (
                "knn_k",
                ConfigOverrides {
                    knn_k: Some(0),
                    ..Default::default()
                },
            ),
        ];
        for (field, flags) in cases {
            let err = try_resolve(None, None, &flags).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let c = TrainConfig::try_preset("cifar10-resnet18").unwrap();
        let back: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn device_defaults_to_auto_everywhere_and_cpu_configs_still_parse() {
        assert_eq!(TrainConfig::default().device, DeviceKind::Auto);
        for name in PRESETS {
            assert_eq!(
                TrainConfig::try_preset(name).unwrap().device,
                DeviceKind::Auto
            );
        }
        // A config.toml written before `auto` existed.
        let saved = TrainConfig {
            device: DeviceKind::Cpu,
            ..TrainConfig::default()
        };
        let text = saved.to_toml();
        assert!(text.contains("device = \"cpu\""), "{text}");
        let back: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, saved);
        let auto = TrainConfig::default().to_toml();
        assert!(auto.contains("device = \"auto\""), "{auto}");
        let (_d, path) = write_temp("device = \"gpu\"\n");
        let err = try_resolve(None, Some(&path), &ConfigOverrides::default()).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("gpu") && err.contains("auto"), "{err}");
    }

    #[test]
    fn a_cpu_checkpoint_resumes_under_a_preset_but_not_under_another_device_flag() {
        let saved = TrainConfig {
            device: DeviceKind::Cpu,
            ..TrainConfig::default()
        };
        let ckpt = Path::new("run/checkpoint");
        let none = ConfigOverrides::default();
        saved.try_check_resume(ckpt, None, None, &none).unwrap();
        saved
            .try_check_resume(ckpt, Some("mnist5k"), None, &none)
            .unwrap();
        let cpu = ConfigOverrides {
            device: Some(DeviceKind::Cpu),
            ..Default::default()
        };
        saved.try_check_resume(ckpt, None, None, &cpu).unwrap();
        let cuda = ConfigOverrides {
            device: Some(DeviceKind::Cuda),
            ..Default::default()
        };
        let err = saved
            .try_check_resume(ckpt, Some("mnist5k"), None, &cuda)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("device = \"cpu\"") && err.contains("\"cuda\""),
            "{err}"
        );
    }

    #[test]
    fn every_preset_validates() {
        for name in PRESETS {
            TrainConfig::try_preset(name)
                .unwrap()
                .try_validate()
                .unwrap();
        }
        assert!(TrainConfig::try_preset("nope").is_err());
    }
}
