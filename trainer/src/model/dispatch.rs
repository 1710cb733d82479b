//! Picks the device and the concrete network type (encoder × input channels) for a task at run
//! time, and runs the task's generic body with them.
//!
//! [`try_resolve_device`] turns `auto`, `cpu` or `cuda` into a concrete device with the reason
//! for the choice. The CUDA driver is asked once per process (`groco_dfdx::probe`, which never
//! panics), so the line a command prints, the device a task runs on and what `summary.json`
//! records agree.

use std::fmt;
use std::sync::OnceLock;

use dfdx::prelude::*;
use groco_dfdx::path::{cpu_path, CpuPath};
use groco_dfdx::probe::{cuda_probe, CudaInfo, NoCuda};

use super::device::TrainDevice;
use super::net::{Net, ResNet18Model, SmallCnnFlatModel, SmallCnnModel};
use crate::config::{DeviceKind, EncoderKind};
use crate::error::{Error, Result};

/// A job generic over the network and device types.
pub trait NetTask {
    /// What the job returns.
    type Output;
    /// Runs the job with network type `N` on device `dev`.
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Self::Output>;
}

/// A concrete device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concrete {
    /// dfdx's `Cpu`.
    Cpu,
    /// dfdx's `Cuda` on this ordinal.
    Cuda(usize),
}

/// The device a [`DeviceKind`] resolved to, and why.
///
/// ```
/// use trainer::config::DeviceKind;
/// use trainer::model::{try_resolve_device, Concrete};
/// let cpu = try_resolve_device(DeviceKind::Cpu).unwrap();
/// assert_eq!(cpu.to_string(), "cpu (as asked)");
/// let auto = try_resolve_device(DeviceKind::Auto).unwrap();
/// if cfg!(not(feature = "cuda")) {
///     assert_eq!(auto.kind, Concrete::Cpu);
///     assert_eq!(auto.reason, "auto: this binary was built without `--features cuda`");
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedDevice {
    /// Which device.
    pub kind: Concrete,
    /// `cpu`, or the CUDA device with its name and memory (`cuda:0 NVIDIA H100 ..., 79.1 GiB`).
    pub name: String,
    /// Why it was picked: `as asked`, `auto: a CUDA device answered` or `auto: <why not CUDA>`.
    pub reason: String,
}

impl fmt::Display for ResolvedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.reason)
    }
}

/// What the CUDA driver said about device 0, asked once per process.
fn cuda0() -> &'static std::result::Result<CudaInfo, NoCuda> {
    static PROBE: OnceLock<std::result::Result<CudaInfo, NoCuda>> = OnceLock::new();
    PROBE.get_or_init(|| cuda_probe(0))
}

/// Resolves `device` to a concrete device: `cpu` is the CPU; `cuda` is CUDA device 0 when it
/// answers the driver, else an error naming cuda and the reason (one line, no fallback); `auto`
/// is CUDA device 0 when this binary was built with `--features cuda` and the device answers,
/// else the CPU. Never panics.
pub fn try_resolve_device(device: DeviceKind) -> Result<ResolvedDevice> {
    let resolved = |kind, name: String, reason: String| ResolvedDevice { kind, name, reason };
    let cuda = |info: &CudaInfo| (Concrete::Cuda(info.ordinal), info.to_string());
    match device {
        DeviceKind::Cpu => Ok(resolved(Concrete::Cpu, "cpu".into(), "as asked".into())),
        DeviceKind::Cuda => match cuda0() {
            Ok(info) => {
                let (kind, name) = cuda(info);
                Ok(resolved(kind, name, "as asked".into()))
            }
            Err(why) => Err(unavailable(why)),
        },
        DeviceKind::Auto => match cuda0() {
            Ok(info) => {
                let (kind, name) = cuda(info);
                Ok(resolved(kind, name, "auto: a CUDA device answered".into()))
            }
            Err(why) => Ok(resolved(
                Concrete::Cpu,
                "cpu".into(),
                format!("auto: {why}"),
            )),
        },
    }
}

fn unavailable(why: &NoCuda) -> Error {
    Error::Device(format!(
        "cuda was asked for but cannot be used: {why} (use --device cpu or --device auto)"
    ))
}

/// Runs `task` on `device` (seeded with `seed`) with the `encoder` for `channels` input channels.
pub fn try_dispatch<T: NetTask>(
    device: DeviceKind,
    seed: u64,
    encoder: EncoderKind,
    channels: usize,
    task: T,
) -> Result<T::Output> {
    match try_resolve_device(device)?.kind {
        Concrete::Cpu => {
            let dev = Cpu::seed_from_u64(seed);
            // dfdx's allocation cache on the host kernels' path: a step's tensors come back in
            // the same sizes every step, so they are reused instead of fresh zeroed allocations
            // that page-fault (no code on that path hands dfdx a fresh `Vec`; see groco-dfdx's
            // crate docs). The composed path keeps it off: its many intermediates of one-off
            // sizes would stay cached, and its peak heap is what `--cpu-path composed` measures.
            if cpu_path() == CpuPath::Native {
                dev.enable_cache();
            }
            with_net(dev, encoder, channels, task)
        }
        #[cfg(feature = "cuda")]
        Concrete::Cuda(ordinal) => {
            // cudarc 0.9 unwraps some driver calls while dfdx builds the device; `try_open_cuda`
            // turns such a panic into an error, and the silent hook keeps its message and
            // backtrace off stderr, so the failure is the one `error:` line. Devices are opened
            // before a task starts its worker threads.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let opened = groco_dfdx::probe::try_open_cuda(ordinal, seed);
            std::panic::set_hook(hook);
            let dev = opened.map_err(|why| {
                Error::Device(format!(
                    "cuda:{ordinal} answered the driver, but {why} (use --device cpu)"
                ))
            })?;
            with_net(dev, encoder, channels, task)
        }
        // Only a `cuda` build resolves to CUDA; kept so the match is total in every build.
        #[cfg(not(feature = "cuda"))]
        Concrete::Cuda(_) => Err(unavailable(&NoCuda::NotBuilt)),
    }
}

fn with_net<D: TrainDevice, T: NetTask>(
    dev: D,
    encoder: EncoderKind,
    channels: usize,
    task: T,
) -> Result<T::Output> {
    match (encoder, channels) {
        (EncoderKind::SmallCnn, 1) => task.run::<SmallCnnModel<1, D>, D>(dev),
        (EncoderKind::SmallCnn, 3) => task.run::<SmallCnnModel<3, D>, D>(dev),
        (EncoderKind::SmallCnnFlat, 1) => task.run::<SmallCnnFlatModel<1, D>, D>(dev),
        (EncoderKind::SmallCnnFlat, 3) => task.run::<SmallCnnFlatModel<3, D>, D>(dev),
        (EncoderKind::Resnet18, 1) => task.run::<ResNet18Model<1, D>, D>(dev),
        (EncoderKind::Resnet18, 3) => task.run::<ResNet18Model<3, D>, D>(dev),
        (_, c) => Err(Error::config(
            "channels",
            c,
            "the encoders take 1 or 3 channels",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_resolves_or_names_cuda_and_the_reason() {
        let cpu = try_resolve_device(DeviceKind::Cpu).unwrap();
        assert_eq!((cpu.kind, cpu.name.as_str()), (Concrete::Cpu, "cpu"));
        let auto = try_resolve_device(DeviceKind::Auto).unwrap();
        match try_resolve_device(DeviceKind::Cuda) {
            Ok(cuda) => {
                assert!(matches!(cuda.kind, Concrete::Cuda(0)), "{cuda}");
                assert_eq!(auto.kind, cuda.kind);
                assert_eq!(auto.reason, "auto: a CUDA device answered");
            }
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("cuda") && !e.contains('\n'), "{e}");
                assert_eq!(auto.kind, Concrete::Cpu);
                assert!(auto.reason.starts_with("auto: "), "{auto}");
                // The same reason in both.
                assert!(e.contains(&auto.reason["auto: ".len()..]), "{e} / {auto}");
            }
        }
        if cfg!(not(feature = "cuda")) {
            let e = try_resolve_device(DeviceKind::Cuda)
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                "device: cuda was asked for but cannot be used: this binary was built without \
                 `--features cuda` (use --device cpu or --device auto)"
            );
        }
    }
}
