//! Fuzz harnesses for the trainer's parsers, shared by the `cargo fuzz` targets in
//! `fuzz/fuzz_targets/` and the regression tests in `trainer/tests/fuzz_regressions.rs` (both
//! include this file with `#[path]`), so a saved crash input replays through the same code.
//!
//! Each function takes the raw fuzzer input, never panics on bad input (a panic is a finding),
//! and checks the invariants of whatever parses.

use std::path::Path;

use trainer::config::{ConfigOverrides, TrainConfig};
use trainer::data::fuzzing::{try_parse_cifar_bytes, try_parse_idx_bytes, try_parse_stl10_bytes};
use trainer::data::{ImageSet, UNLABELED};
use trainer::report::checkpoint::{self, Checkpoint};

/// Splits `data` at the little-endian u16 in its first two bytes (taken modulo the rest's length).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let rest = &data[2..];
    let at = usize::from(u16::from_le_bytes([data[0], data[1]])) % (rest.len() + 1);
    rest.split_at(at)
}

/// `seed` repeated (or zeros if empty) to exactly `len` bytes.
pub fn tile(seed: &[u8], len: usize) -> Vec<u8> {
    if seed.is_empty() {
        return vec![0; len];
    }
    seed.iter().copied().cycle().take(len).collect()
}

fn check_set(set: &ImageSet, channels: usize) {
    assert_eq!(set.channels(), channels);
    assert!(set.height() > 0 && set.width() > 0);
    assert_eq!(set.pixels().len(), set.len() * set.image_len());
    assert!(set
        .labels()
        .iter()
        .all(|&l| l == UNLABELED || usize::from(l) < set.num_classes()));
    let names = set.class_names();
    assert!(names.is_empty() || names.len() == set.num_classes());
}

/// IDX: images file and labels file from [`split`].
pub fn idx_reader(data: &[u8]) {
    let (images, labels) = split(data);
    match try_parse_idx_bytes(images, labels) {
        Ok(set) => {
            check_set(&set, 1);
            let n = u32::from_be_bytes([labels[4], labels[5], labels[6], labels[7]]);
            assert_eq!(set.len() as u64, u64::from(n));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// CIFAR: byte 0 holds flags (bit 0: CIFAR-100; bit 1: tile the rest to whole records, with
/// bits 2..4 giving the record count and bit 4 adding one stray byte); the rest is the file.
pub fn cifar_reader(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let cifar100 = flags & 1 == 1;
    let record = if cifar100 { 2 } else { 1 } + 3072;
    let bytes = if flags & 2 != 0 {
        let n = usize::from((flags >> 2) & 3) * record + usize::from((flags >> 4) & 1);
        tile(rest, n)
    } else {
        rest.to_vec()
    };
    match try_parse_cifar_bytes(&bytes, cifar100) {
        Ok(set) => {
            check_set(&set, 3);
            assert_eq!((set.height(), set.width()), (32, 32));
            assert_eq!(set.len() * record, bytes.len());
            assert_eq!(set.num_classes(), if cifar100 { 100 } else { 10 });
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// STL-10: byte 0 holds flags (bit 0: tile the images to whole records, bits 1..3 giving the
/// count, bit 3 adding one stray byte); the rest is split by [`split`] into labels and images.
pub fn stl10_reader(data: &[u8]) {
    const RECORD: usize = 3 * 96 * 96;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (labels, images) = split(rest);
    let images = if flags & 1 != 0 {
        let n = usize::from((flags >> 1) & 3) * RECORD + usize::from((flags >> 3) & 1);
        tile(images, n)
    } else {
        images.to_vec()
    };
    let n_bytes = images.len();
    match try_parse_stl10_bytes(images, labels) {
        Ok(set) => {
            check_set(&set, 3);
            assert_eq!(set.len() * RECORD, n_bytes);
            assert_eq!(set.len(), labels.len());
            assert_eq!(set.num_classes(), 10);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Checks a resolved configuration that passed `try_validate`: it serialises to TOML and JSON
/// (as a run writes it) and both read back equal.
fn check_valid_config(config: &TrainConfig) {
    let text = config.to_toml();
    let back: TrainConfig =
        toml::from_str(&text).expect("config.toml of a valid config reads back");
    assert_eq!(&back, config);
    let json = serde_json::to_value(config).expect("a valid config serialises to JSON");
    let back: TrainConfig =
        serde_json::from_value(json).expect("JSON of a valid config reads back");
    assert_eq!(&back, config);
}

/// Config: the input as the text of a `--config` TOML file, resolved as `try_resolve` does
/// (defaults, then the file's preset, then the file), then validated.
pub fn config_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    let overrides: ConfigOverrides = match TrainConfig::try_overrides_from_str(text, path) {
        Ok(o) => o,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.toml"), "{e}");
            return;
        }
    };
    let mut config = match overrides.preset.as_deref() {
        Some(name) => match TrainConfig::try_preset(name) {
            Ok(c) => c,
            Err(e) => return assert!(!e.to_string().is_empty()),
        },
        None => TrainConfig::default(),
    };
    config.apply(&overrides);
    if config.try_validate().is_ok() {
        check_valid_config(&config);
    }
}

/// The default `small-cnn` model (one input channel) that checkpoints are restored into.
pub type FuzzNet = trainer::model::SmallCnnModel<1, dfdx::prelude::Cpu>;

/// A freshly built [`FuzzNet`] and the bytes of a valid checkpoint of it (with momenta and the
/// default config in its metadata), built once per thread.
pub fn with_net<R>(f: impl FnOnce(&mut FuzzNet, &Checkpoint, &[u8]) -> R) -> R {
    use dfdx::prelude::*;
    use std::cell::RefCell;
    use trainer::model::Net;
    thread_local! {
        static NET: RefCell<Option<(FuzzNet, Checkpoint, Vec<u8>)>> = const { RefCell::new(None) };
    }
    NET.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (net, ckpt, bytes) = slot.get_or_insert_with(|| {
            let dev = Cpu::seed_from_u64(0);
            let net = <FuzzNet as Net<Cpu>>::try_build(&dev).expect("small-cnn builds");
            let ckpt = Checkpoint {
                model: checkpoint::snapshot(&net).expect("snapshot"),
                momenta: vec![vec![0.5; 3], vec![]],
                meta: serde_json::json!({
                    "config": serde_json::to_value(TrainConfig::default()).unwrap(),
                    "epochs_done": 1,
                }),
            };
            let bytes = ckpt.to_bytes();
            (net, ckpt, bytes)
        });
        f(net, ckpt, bytes)
    })
}

/// Loads `bytes` as a checkpoint and, if it parses, restores it into [`FuzzNet`] as a resumed
/// run does: weights, optimiser buffers (which must fit the model) and the saved config.
pub fn load_and_restore(net: &mut FuzzNet, bytes: &[u8]) {
    let path = Path::new("fuzz/state.safetensors");
    let ckpt = match Checkpoint::try_from_bytes(bytes, path) {
        Ok(c) => c,
        Err(e) => return assert!(e.to_string().contains("state.safetensors"), "{e}"),
    };
    let restored = checkpoint::try_restore(net, &ckpt.model);
    let momenta = checkpoint::try_check_momenta(net, &ckpt.momenta);
    if restored.is_ok() && momenta.is_ok() {
        // A step with zero gradients and lr = 0 touches every momentum buffer (it would panic on
        // a length mismatch) and leaves the weights as they are.
        use dfdx::prelude::*;
        use trainer::train::optim::{Optimizer, OptimizerConfig, Rule};
        let dev = Cpu::default();
        let mut opt = Optimizer::<Cpu>::new(OptimizerConfig {
            rule: Rule::Sgd,
            momentum: 0.9,
            weight_decay: 0.0,
            lars_eta: 0.02,
        });
        opt.set_momenta_host(&dev, &ckpt.momenta)
            .expect("host momenta load");
        let grads = net.try_alloc_grads().expect("zero gradients");
        opt.try_step(net, &grads, 0.0)
            .expect("a step with restored momenta");
    }
    if let Ok(config) = checkpoint::try_saved_config(path, &ckpt) {
        if config.try_validate().is_ok() {
            check_valid_config(&config);
        }
    }
}

/// Checkpoint: byte 0 picks a mode. 0: the rest is the file. 1: the rest is (u16 offset, u8
/// value) edits applied to the header region of a valid checkpoint, then the first two bytes
/// of what remains truncate it. 2: a structural change (drop/reshape a tensor, change momenta,
/// replace metadata) to a valid checkpoint, driven by the rest.
pub fn checkpoint_loader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    with_net(|net, valid, valid_bytes| match mode % 3 {
        0 => load_and_restore(net, rest),
        1 => {
            let mut bytes = valid_bytes.to_vec();
            let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let mut edits = rest.chunks_exact(3);
            for e in &mut edits {
                let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % (header + 16);
                bytes[at] = e[2];
            }
            if let [a, b] = edits.remainder() {
                let cut = usize::from(u16::from_le_bytes([*a, *b]));
                bytes.truncate(cut.min(bytes.len()));
            }
            load_and_restore(net, &bytes);
        }
        _ => {
            let mut ckpt = valid.clone();
            for op in rest.chunks(3) {
                let k = op.get(1).copied().unwrap_or(0) as usize;
                let v = op.get(2).copied().unwrap_or(0) as usize;
                let t = &mut ckpt.model.tensors;
                match op[0] % 6 {
                    0 if !t.is_empty() => {
                        t.remove(k % t.len());
                    }
                    1 if !t.is_empty() => {
                        let i = k % t.len();
                        let (_, shape, values) = &mut t[i];
                        shape.push(1);
                        if v % 2 == 1 {
                            shape.reverse();
                        }
                        if v % 4 >= 2 {
                            values.truncate(values.len() / 2);
                            *shape = vec![values.len()];
                        }
                    }
                    2 => ckpt.momenta.push(vec![0.25; v]),
                    3 if !ckpt.momenta.is_empty() => {
                        let i = k % ckpt.momenta.len();
                        ckpt.momenta[i] = vec![1.0; v * 97];
                    }
                    4 => {
                        let field = ["epochs", "seed", "batch_size", "lr", "steepness"][k % 5];
                        let value = [
                            serde_json::json!(-1.0),
                            serde_json::json!(0),
                            serde_json::json!(u64::MAX),
                            serde_json::json!(1e300),
                            serde_json::json!("x"),
                            serde_json::Value::Null,
                            serde_json::json!(i64::MAX as u64 + 1),
                        ][v % 7]
                            .clone();
                        ckpt.meta["config"][field] = value;
                    }
                    5 if !t.is_empty() => {
                        let i = k % t.len();
                        t[i].0 = format!("{}{}", t[i].0, ["", ".x", "\u{0}", "é"][v % 4]);
                    }
                    _ => {}
                }
            }
            load_and_restore(net, &ckpt.to_bytes());
        }
    })
}
