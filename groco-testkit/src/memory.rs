//! Memory measurements for the tests that check memory stays flat over a training loop.

/// The resident set size of this process in bytes (Linux: field 2 of `/proc/self/statm`, in
/// 4 KiB pages). Panics where `/proc/self/statm` cannot be read.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("statm resident field");
    pages * 4096
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn rss_is_plausible() {
        let rss = super::rss_bytes();
        assert!(rss > 64 * 1024 && rss < 1 << 40, "{rss}");
    }
}
