//! The layers against PyTorch: every case under `fixtures/layers/` (and, when `GROCO_FIXTURES` is
//! set, `$GROCO_FIXTURES/layers/`) is a small network (conv + BN + ReLU, strided grouped conv +
//! BN [+ ReLU], optional max/avg pooling, global average pool or flatten, a loss) with PyTorch's
//! float64 output, loss, parameter and input gradients and updated running statistics, written
//! by `fixtures/generate_layers.py`. The same network is built here from the fixture's weights and
//! run on `Cpu` in f64 (host kernels and the device-generic path that `Cuda` runs, and with the
//! `cuda` feature on `Cuda` itself); everything must agree to 1e-9 relative. Every file in those folders must
//! parse as a case of kind "layers_net".

use dfdx::prelude::*;
use groco_dfdx::layers::{self, BatchNormAct2d, LayerDevice, PoolKind, Window};
use groco_dfdx::path::{with_cpu_path, CpuPath};
use groco_testkit::fixtures::sources_from;

#[cfg(feature = "cuda")]
mod cuda_util;
use serde_json::Value;

const REL: f64 = 1e-9;

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field {key:?}"))
}

fn floats(v: &Value, key: &str) -> Result<Vec<f64>, String> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("{key} is not an array"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| format!("{key} holds a non-number"))
        })
        .collect()
}

fn uint(v: &Value, key: &str) -> Result<usize, String> {
    field(v, key)?
        .as_u64()
        .map(|u| u as usize)
        .ok_or_else(|| format!("{key} is not an unsigned integer"))
}

fn flag(v: &Value, key: &str) -> Result<bool, String> {
    field(v, key)?
        .as_bool()
        .ok_or_else(|| format!("{key} is not a bool"))
}

fn compare(what: &str, got: &[f64], want: &[f64]) -> Result<(), String> {
    compare_floor(what, got, want, 1e-6)
}

/// Relative error against `max(max |want|, floor)`: a gradient that is exactly 0 in theory (a
/// conv bias before batch norm) is rounding noise, compared on the scale given by `floor`.
fn compare_floor(what: &str, got: &[f64], want: &[f64], floor: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, PyTorch has {}",
            got.len(),
            want.len()
        ));
    }
    let scale = want.iter().fold(floor, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale;
    if err > REL {
        return Err(format!("{what}: relative error {err:.3e} > {REL:.0e}"));
    }
    Ok(())
}

struct Conv<D: Storage<f64>> {
    w: Tensor<(usize, usize, usize, usize), f64, D>,
    b: Option<Tensor<(usize,), f64, D>>,
    win: Window,
    groups: usize,
    name: &'static str,
}

fn conv<D: LayerDevice<f64>>(
    dev: &D,
    case: &Value,
    name: &'static str,
    cin: usize,
) -> Result<Conv<D>, String> {
    let spec = field(case, name)?;
    let params = field(case, "params")?;
    let (o, k, g) = (
        uint(spec, "out")?,
        uint(spec, "kernel")?,
        uint(spec, "groups")?,
    );
    let w = floats(params, &format!("{name}.weight"))?;
    let shape = (o, cin / g.max(1), k, k);
    if w.len() != o * (cin / g.max(1)) * k * k {
        return Err(format!(
            "{name}.weight has {} values, not {shape:?}",
            w.len()
        ));
    }
    let b = if flag(spec, "bias")? {
        Some(dev.tensor_from_vec(floats(params, &format!("{name}.bias"))?, (o,)))
    } else {
        None
    };
    let win = Window {
        kernel: k,
        stride: uint(spec, "stride")?,
        padding: uint(spec, "padding")?,
    };
    Ok(Conv {
        w: dev.tensor_from_vec(w, shape),
        b,
        win,
        groups: g,
        name,
    })
}

fn bn<const C: usize, const R: bool, D: LayerDevice<f64>>(
    dev: &D,
    case: &Value,
    name: &str,
) -> Result<BatchNormAct2d<C, R, f64, D>, String> {
    let params = field(case, "params")?;
    let mut m = BatchNormAct2d::<C, R, f64, D>::build(dev);
    let get = |p: &str| -> Result<Vec<f64>, String> {
        let v = floats(params, &format!("{name}.{p}"))?;
        if v.len() != C {
            return Err(format!(
                "{name}.{p} has {} values, the network needs {C}",
                v.len()
            ));
        }
        Ok(v)
    };
    m.scale.copy_from(&get("weight")?);
    m.bias.copy_from(&get("bias")?);
    m.running_mean.copy_from(&get("running_mean")?);
    m.running_var.copy_from(&get("running_var")?);
    m.momentum = field(case, "momentum")?
        .as_f64()
        .ok_or("momentum is not a number")?;
    m.epsilon = field(case, "eps")?.as_f64().ok_or("eps is not a number")?;
    Ok(m)
}

type Act<D> = layers::Activation<f64, D, OwnedTape<f64, D>>;

fn run_case<D: LayerDevice<f64>>(dev: &D, case: &Value) -> Result<(), String> {
    let kind = field(case, "kind")?
        .as_str()
        .ok_or("kind is not a string")?;
    if kind != "layers_net" {
        return Err(format!("unknown kind {kind:?}"));
    }
    let input = field(case, "input")?;
    let (b, c, h, w) = (
        uint(input, "b")?,
        uint(input, "c")?,
        uint(input, "h")?,
        uint(input, "w")?,
    );
    let x = layers::images_to_activation(dev, &floats(input, "x")?, b, c, h, w)
        .map_err(|e| e.to_string())?;
    let c1 = conv(dev, case, "conv1", c)?;
    let c2 = conv(dev, case, "conv2", uint(field(case, "conv1")?, "out")?)?;
    if (
        uint(field(case, "conv1")?, "out")?,
        uint(field(case, "conv2")?, "out")?,
    ) != (4, 6)
    {
        return Err("this test builds conv1 -> 4 and conv2 -> 6 channels only".into());
    }
    let mut bn1 = bn::<4, true, D>(dev, case, "bn1")?;
    let relu2 = flag(case, "bn2_relu")?;
    let (mut bn2r, mut bn2) = (
        bn::<6, true, D>(dev, case, "bn2")?,
        bn::<6, false, D>(dev, case, "bn2")?,
    );

    let e = |e: groco_dfdx::Error| e.to_string();
    let fwd = |cv: &Conv<D>, x: Act<D>| {
        layers::try_conv2d(x, &cv.w, cv.b.as_ref(), cv.win, cv.groups).map_err(e)
    };
    let y = fwd(&c1, x.leaky_trace())?;
    let y = bn1.try_forward_train(y).map_err(e)?;
    let y = fwd(&c2, y)?;
    let mut y = if relu2 {
        bn2r.try_forward_train(y)
    } else {
        bn2.try_forward_train(y)
    }
    .map_err(e)?;
    let pool = field(case, "pool")?;
    if !pool.is_null() {
        let kind = match field(pool, "kind")?.as_str() {
            Some("max") => PoolKind::Max,
            Some("avg") => PoolKind::Avg,
            other => return Err(format!("unknown pool kind {other:?}")),
        };
        let win = Window {
            kernel: uint(pool, "kernel")?,
            stride: uint(pool, "stride")?,
            padding: uint(pool, "padding")?,
        };
        y = layers::try_pool2d(y, win, kind).map_err(e)?;
    }
    let rows = match field(case, "head")?.as_str() {
        Some("gap") => layers::try_global_avg_pool(y),
        Some("flatten") => layers::try_flatten(y),
        other => return Err(format!("unknown head {other:?}")),
    }
    .map_err(e)?;
    compare(
        "output",
        &rows.retaped::<NoneTape>().as_vec(),
        &floats(case, "output")?,
    )?;
    let loss = match field(case, "loss")?.as_str() {
        Some("sum_squares") => rows.square().sum(),
        Some("weighted") => {
            let r = dev.tensor_from_vec(floats(case, "loss_weights")?, *rows.shape());
            (rows * r).sum()
        }
        other => return Err(format!("unknown loss {other:?}")),
    };
    let want_loss = field(case, "loss_value")?
        .as_f64()
        .ok_or("loss_value is not a number")?;
    compare("loss", &[loss.as_vec()[0]], &[want_loss])?;
    let grads = loss.backward();
    let want = field(case, "grads")?;
    compare(
        "grad_input",
        &layers::activation_to_images(&grads.get(&x)),
        &floats(case, "grad_input")?,
    )?;
    for cv in [&c1, &c2] {
        let want_w = floats(want, &format!("{}.weight", cv.name))?;
        compare(
            &format!("{}.weight grad", cv.name),
            &grads.get(&cv.w).as_vec(),
            &want_w,
        )?;
        if let Some(bias) = &cv.b {
            // followed by batch norm, the bias gradient is 0 up to rounding on the weight's scale
            let floor = want_w.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
            compare_floor(
                &format!("{}.bias grad", cv.name),
                &grads.get(bias).as_vec(),
                &floats(want, &format!("{}.bias", cv.name))?,
                floor,
            )?;
        }
    }
    let (s2, b2, m2, v2) = if relu2 {
        (
            &bn2r.scale,
            &bn2r.bias,
            &bn2r.running_mean,
            &bn2r.running_var,
        )
    } else {
        (&bn2.scale, &bn2.bias, &bn2.running_mean, &bn2.running_var)
    };
    compare(
        "bn1.weight grad",
        &grads.get(&bn1.scale).as_vec(),
        &floats(want, "bn1.weight")?,
    )?;
    compare(
        "bn1.bias grad",
        &grads.get(&bn1.bias).as_vec(),
        &floats(want, "bn1.bias")?,
    )?;
    compare(
        "bn2.weight grad",
        &grads.get(s2).as_vec(),
        &floats(want, "bn2.weight")?,
    )?;
    compare(
        "bn2.bias grad",
        &grads.get(b2).as_vec(),
        &floats(want, "bn2.bias")?,
    )?;
    let running = field(case, "running")?;
    compare(
        "bn1.running_mean",
        &bn1.running_mean.as_vec(),
        &floats(running, "bn1.running_mean")?,
    )?;
    compare(
        "bn1.running_var",
        &bn1.running_var.as_vec(),
        &floats(running, "bn1.running_var")?,
    )?;
    compare(
        "bn2.running_mean",
        &m2.as_vec(),
        &floats(running, "bn2.running_mean")?,
    )?;
    compare(
        "bn2.running_var",
        &v2.as_vec(),
        &floats(running, "bn2.running_var")?,
    )?;
    Ok(())
}

#[test]
fn layers_match_pytorch_fixtures() {
    run_all(&Cpu::default());
}

/// The device-generic layers (what `Cuda` runs: composed dfdx ops, recomputing convolution),
/// here on `Cpu`.
#[test]
fn composed_layers_match_pytorch_fixtures() {
    with_cpu_path(CpuPath::Composed, || run_all(&Cpu::default()));
}

/// The same cases and tolerance through `Cuda` (feature `cuda`); see `cuda_or_skip`.
#[cfg(feature = "cuda")]
#[test]
fn cuda_layers_match_pytorch_fixtures() {
    if let Some(dev) = cuda_util::cuda_or_skip(1, "layers fixtures") {
        run_all(&dev);
    }
}

fn run_all<D: LayerDevice<f64>>(dev: &D) {
    let sources = sources_from("layers", "fixtures/generate_layers.py");
    let (mut checked, mut failures) = (0, Vec::new());
    for file in &sources {
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                serde_json::from_str::<Value>(&s).map_err(|e| format!("unparsable: {e}"))
            });
        checked += 1;
        if let Err(err) = parsed.and_then(|case| run_case(dev, &case)) {
            failures.push(format!("{}: {err}", file.display()));
        }
    }
    println!("{checked} cases, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
