//! The `device:` line every command prints first: the device a kind resolves to and why.

use crate::config::DeviceKind;
use crate::error::Result;
use crate::model::try_resolve_device;

/// Prints the device `device` resolves to and why, or fails (`--device cuda` without a usable
/// GPU) before anything else is printed or written.
pub fn try_print_device(device: DeviceKind) -> Result<()> {
    let device = try_resolve_device(device)?;
    println!("device: {device}");
    Ok(())
}
