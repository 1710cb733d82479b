//! Asks the CUDA driver, without panicking, whether a CUDA device can be used, and opens dfdx's
//! `Cuda` device only after it answered.
//!
//! cudarc 0.9's `CudaDevice::new` (which dfdx's `Cuda::try_build` calls) unwraps `cuInit` and
//! `cuDeviceGet`, so on a machine with a driver but no usable GPU, or with a device ordinal the
//! driver does not have, it panics instead of returning an error. [`cuda_probe`] makes the same
//! driver calls through cudarc's fallible `result` API first and turns every failure into a
//! [`NoCuda`] whose `Display` is one human sentence (for example `no CUDA device: cuInit returned
//! CUDA_ERROR_NO_DEVICE (100)`); `try_open_cuda` (feature `cuda`) builds the dfdx device only
//! after the probe passed. Without the `cuda` feature every call answers
//! [`NoCuda::NotBuilt`].
//!
//! # A missing `libcuda.so.1`
//! cudarc 0.9 links the driver library at load time (its build script emits
//! `rustc-link-lib=dylib=cuda`; it does not `dlopen` it), so a binary built with `cuda` on a
//! machine without `libcuda.so.1` never reaches `main`: the dynamic loader stops it with
//! `error while loading shared libraries: libcuda.so.1: cannot open shared object file`. No
//! in-process probe can report that case; builds without `cuda` do not link the library at all.

use std::fmt;

/// The reason [`cuda_probe`] gives in a build without the `cuda` feature.
pub const NOT_BUILT: &str = "this binary was built without `--features cuda`";

/// A CUDA device that answered [`cuda_probe`].
///
/// ```
/// use groco_dfdx::probe::CudaInfo;
/// let info = CudaInfo {
///     ordinal: 0,
///     name: "NVIDIA H100 80GB HBM3".into(),
///     total_memory: 80 << 30,
///     count: 1,
/// };
/// assert_eq!(info.to_string(), "cuda:0 NVIDIA H100 80GB HBM3, 80.0 GiB");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaInfo {
    /// The device's ordinal (0 is the first device).
    pub ordinal: usize,
    /// The device's name, as the driver reports it.
    pub name: String,
    /// The device's total memory, in bytes.
    pub total_memory: usize,
    /// How many CUDA devices the driver sees.
    pub count: usize,
}

impl fmt::Display for CudaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = self.total_memory as f64 / (1u64 << 30) as f64;
        write!(f, "cuda:{} {}, {gib:.1} GiB", self.ordinal, self.name)
    }
}

/// Why no CUDA device can be used; its `Display` is one sentence without a trailing period.
///
/// ```
/// use groco_dfdx::probe::NoCuda;
/// let e = NoCuda::Driver { call: "cuInit", error: "CUDA_ERROR_NO_DEVICE".into(), code: 100 };
/// assert_eq!(e.to_string(), "no CUDA device: cuInit returned CUDA_ERROR_NO_DEVICE (100)");
/// assert_eq!(
///     NoCuda::NotBuilt.to_string(),
///     "this binary was built without `--features cuda`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoCuda {
    /// The binary was built without the `cuda` feature.
    NotBuilt,
    /// A CUDA driver call failed.
    Driver {
        /// The driver function (for example `"cuInit"`).
        call: &'static str,
        /// The `CUresult` it returned, by name (for example `"CUDA_ERROR_NO_DEVICE"`).
        error: String,
        /// The `CUresult`'s numeric value (for example 100).
        code: u32,
    },
    /// The driver initialised but reports no device.
    NoDevice,
    /// The driver has fewer devices than the ordinal asked for.
    Ordinal {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many devices the driver reports.
        count: usize,
    },
    /// The device answered the probe, but dfdx could not open it (out of memory, cuBLAS failed
    /// to start, ...); the text says what failed.
    Open(String),
}

impl fmt::Display for NoCuda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoCuda::NotBuilt => f.write_str(NOT_BUILT),
            NoCuda::Driver { call, error, code } => {
                let what = match *code {
                    100 => "no CUDA device",
                    35 => "the CUDA driver is older than this binary needs",
                    3 => "the CUDA driver is not initialised",
                    999 => "the CUDA driver failed",
                    _ => "the CUDA driver cannot be used",
                };
                write!(f, "{what}: {call} returned {error} ({code})")
            }
            NoCuda::NoDevice => f.write_str("no CUDA device: the driver reports 0 devices"),
            NoCuda::Ordinal { ordinal, count } => write!(
                f,
                "no CUDA device {ordinal}: the driver reports {count} (ordinals 0 to {})",
                count.saturating_sub(1)
            ),
            NoCuda::Open(why) => write!(f, "dfdx could not open the CUDA device: {why}"),
        }
    }
}

impl std::error::Error for NoCuda {}

/// Asks the CUDA driver for device `ordinal` (`cuInit`, `cuDeviceGetCount`, `cuDeviceGet`, its
/// name and memory) without creating a context; never panics.
///
/// ```
/// use groco_dfdx::probe::{cuda_probe, NoCuda};
/// match cuda_probe(0) {
///     Ok(info) => println!("CUDA: {info}"),
///     Err(why) => println!("CPU: {why}"),
/// }
/// # #[cfg(not(feature = "cuda"))]
/// assert_eq!(cuda_probe(0), Err(NoCuda::NotBuilt));
/// ```
pub fn cuda_probe(ordinal: usize) -> Result<CudaInfo, NoCuda> {
    #[cfg(feature = "cuda")]
    {
        driver::probe(ordinal)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Err(NoCuda::NotBuilt)
    }
}

/// Device 0 as one line: `Ok` with its [`CudaInfo`] text when it answers, else `Err` with the
/// reason it does not. For choosing between CUDA and the CPU; never panics.
///
/// ```
/// match groco_dfdx::probe::cuda_status() {
///     Ok(device) => assert!(device.starts_with("cuda:0 ")),
///     Err(why) => assert!(!why.is_empty()),
/// }
/// ```
pub fn cuda_status() -> Result<String, String> {
    cuda_probe(0)
        .map(|info| info.to_string())
        .map_err(|why| why.to_string())
}

/// Opens dfdx's `Cuda` device `ordinal`, seeded with `seed`, after [`cuda_probe`] found it;
/// every failure, a panic inside cudarc included, is a [`NoCuda`]. Such a panic still passes
/// through the panic hook (by default its message goes to stderr); a caller that wants only its
/// own error line installs a silent hook around the call, as the trainer does.
///
/// ```no_run
/// let dev = groco_dfdx::probe::try_open_cuda(0, 42)?;
/// # drop(dev);
/// # Ok::<(), groco_dfdx::probe::NoCuda>(())
/// ```
#[cfg(feature = "cuda")]
pub fn try_open_cuda(ordinal: usize, seed: u64) -> Result<dfdx::tensor::Cuda, NoCuda> {
    driver::probe(ordinal)?;
    match std::panic::catch_unwind(|| dfdx::tensor::Cuda::try_build(ordinal, seed)) {
        Ok(Ok(dev)) => Ok(dev),
        Ok(Err(e)) => Err(NoCuda::Open(driver::describe(&e))),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(NoCuda::Open(format!("cudarc panicked: {text}")))
        }
    }
}

#[cfg(feature = "cuda")]
mod driver {
    use core::ffi::c_char;

    use cudarc::driver::{result, sys};

    use super::{CudaInfo, NoCuda};

    /// A failed driver call as a [`NoCuda`]. `DriverError`'s own `Debug` unwraps
    /// `cuGetErrorString`, so only the `CUresult` enum's derived `Debug` is used.
    fn failed(call: &'static str, e: result::DriverError) -> NoCuda {
        NoCuda::Driver {
            call,
            error: format!("{:?}", e.0),
            code: e.0 as u32,
        }
    }

    pub(super) fn probe(ordinal: usize) -> Result<CudaInfo, NoCuda> {
        result::init().map_err(|e| failed("cuInit", e))?;
        let count = result::device::get_count().map_err(|e| failed("cuDeviceGetCount", e))?;
        let count = usize::try_from(count).unwrap_or(0);
        if count == 0 {
            return Err(NoCuda::NoDevice);
        }
        let index = match i32::try_from(ordinal) {
            Ok(i) if ordinal < count => i,
            _ => return Err(NoCuda::Ordinal { ordinal, count }),
        };
        let dev = result::device::get(index).map_err(|e| failed("cuDeviceGet", e))?;
        let mut buf = [0 as c_char; 256];
        // SAFETY: `buf` is writable for its full length, which is passed as `len`; the driver
        // writes a NUL-terminated string of at most `len` bytes. `dev` came from `cuDeviceGet`.
        unsafe { sys::cuDeviceGetName(buf.as_mut_ptr(), buf.len() as i32, dev) }
            .result()
            .map_err(|e| failed("cuDeviceGetName", e))?;
        let bytes: Vec<u8> = buf
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        let name = String::from_utf8_lossy(&bytes).trim().to_string();
        // SAFETY: `dev` is a device handle returned by `cuDeviceGet` above.
        let total_memory =
            unsafe { result::device::total_mem(dev) }.map_err(|e| failed("cuDeviceTotalMem", e))?;
        Ok(CudaInfo {
            ordinal,
            name,
            total_memory,
            count,
        })
    }

    /// dfdx's `CudaError` as text, without `DriverError`'s panicking `Debug`.
    pub(super) fn describe(e: &dfdx::tensor::CudaError) -> String {
        use dfdx::tensor::CudaError;
        match e {
            CudaError::Driver(d) => format!("{:?} ({})", d.0, d.0 as u32),
            CudaError::Blas(b) => format!("cuBLAS {:?}", b.0),
            CudaError::Cpu(c) => format!("{c:?}"),
            // dfdx's `cudnn` feature adds a variant.
            #[allow(unreachable_patterns)]
            _ => "a CUDA library failed".into(),
        }
    }
}
