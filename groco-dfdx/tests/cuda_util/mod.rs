//! Shared by the Cuda tests (feature `cuda`): device 0, or one uncaptured line saying how many
//! Cuda tests of the binary did not run and why.

/// The `Cuda` device 0 for the `tests` Cuda tests of this binary, or `None` after printing one
/// line to stderr, uncaptured, saying how many did not run and why. With
/// `GROCO_REQUIRE_CUDA=1` (the GPU check sets it) a missing device fails instead: the Cuda
/// tests never pass silently where a GPU was expected.
pub fn cuda_or_skip(tests: usize, what: &str) -> Option<dfdx::tensor::Cuda> {
    use std::io::Write;
    match groco_dfdx::probe::try_open_cuda(0, 0) {
        Ok(dev) => Some(dev),
        Err(why) => {
            if std::env::var("GROCO_REQUIRE_CUDA").as_deref() == Ok("1") {
                panic!("GROCO_REQUIRE_CUDA=1 but no CUDA device: {why}");
            }
            let line = format!("{tests} Cuda tests ({what}) did not run: {why}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}
