//! "Device by default", through the built `trainer` binary: `--device auto` (the default) trains
//! on the CPU in a build without the `cuda` feature and says why, on stdout and in
//! `summary.json`; `--device cuda` where no CUDA device can be used is one `error:` line naming
//! cuda and the reason, exit code 1, no panic, in every command that takes `--device`; and a run
//! saved with `device = "cpu"` still resumes.

mod common;

use std::path::Path;

use common::{arg, read_json, temp, trainer, trainer_ok, Run};

/// Flags of a tiny run: epochs of two batches of 32 digits, k-NN on 40 test digits (one epoch
/// unless `--epochs` is given).
const TINY: &[&str] = &[
    "--batch-size",
    "32",
    "--topk-neg",
    "5",
    "--train-limit",
    "64",
    "--test-limit",
    "40",
];

/// The reason `auto` gives in a build without the `cuda` feature.
const NOT_BUILT: &str = "auto: this binary was built without `--features cuda`";

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// The `device: ...` line of a run's stdout.
fn device_line(run: &Run) -> &str {
    run.stdout
        .lines()
        .find(|l| l.starts_with("device: "))
        .unwrap_or_else(|| panic!("no device line in\n{}", run.stdout))
}

/// Trains a tiny run of `epochs` epochs in `dir/name` with `extra` flags; returns what it
/// printed and its summary.json.
fn tiny_train(dir: &Path, name: &str, epochs: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    let out = arg(dir, name);
    let args = with(
        &with(&["train", "--epochs", epochs], TINY),
        &with(extra, &["--out", &out]),
    );
    let run = trainer_ok(dir, &args);
    let summary = read_json(&Path::new(&out).join("summary.json"));
    (run, summary)
}

#[test]
fn auto_is_the_default_and_trains_on_the_cpu_saying_why() {
    if cfg!(feature = "cuda") {
        return; // A `cuda` build picks whatever the machine has; see the dispatch unit test.
    }
    let dir = temp();
    for (name, flags) in [("default", &[][..]), ("auto", &["--device", "auto"][..])] {
        let (run, summary) = tiny_train(dir.path(), name, "1", flags);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(
            lines.len() >= 2 && lines[0].starts_with("training small-cnn on mnist5k"),
            "{name}: {}",
            run.stdout
        );
        assert_eq!(lines[1], format!("device: cpu ({NOT_BUILT})"), "{name}");
        assert_eq!(summary["device"], "cpu", "{name}: {summary}");
        assert_eq!(summary["device_reason"], NOT_BUILT, "{name}: {summary}");
        // The Summary fields are all still there.
        for key in ["knn_top1", "knn1_top1", "epochs", "final_loss", "seed"] {
            assert!(
                summary.get(key).is_some(),
                "{name}: summary.json lacks {key}"
            );
        }
        let config = std::fs::read_to_string(dir.path().join(name).join("config.toml")).unwrap();
        assert!(config.contains("device = \"auto\""), "{name}: {config}");
    }
}

/// Asserts `run` failed with exit code 1 and exactly one stderr line, an `error:` naming cuda,
/// with nothing on stdout and no panic; returns that line.
fn one_cuda_error(what: &str, run: &Run) -> String {
    assert_eq!(run.code, Some(1), "{what}: {run:?}");
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: stderr {:?}", run.stderr);
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("cuda"),
        "{what}: {}",
        lines[0]
    );
    assert_eq!(run.stdout, "", "{what}: stdout {:?}", run.stdout);
    lines[0].to_string()
}

#[test]
fn cuda_without_a_usable_device_is_one_error_line_in_every_command() {
    if cfg!(feature = "cuda") {
        return; // A `cuda` build may have a GPU here.
    }
    let dir = temp();
    let out = arg(dir.path(), "run");
    let train = trainer(
        dir.path(),
        &with(
            &with(&["train", "--epochs", "1"], TINY),
            &["--device", "cuda", "--out", &out],
        ),
    );
    let line = one_cuda_error("train", &train);
    assert_eq!(
        line,
        "error: device: cuda was asked for but cannot be used: this binary was built without \
         `--features cuda` (use --device cpu or --device auto)"
    );
    assert!(!Path::new(&out).exists(), "a run directory was made");

    // The same line from a config file.
    let file = dir.path().join("gpu.toml");
    std::fs::write(&file, "device = \"cuda\"\n").unwrap();
    let file = file.display().to_string();
    let run = trainer(
        dir.path(),
        &with(
            &with(&["train", "--epochs", "1"], TINY),
            &["--config", &file],
        ),
    );
    assert_eq!(one_cuda_error("train --config", &run), line);

    let bench = [
        "bench",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--batch-size",
        "16",
    ];
    let run = trainer(dir.path(), &with(&bench, &["--device", "cuda"]));
    assert_eq!(one_cuda_error("bench", &run), line);
    let knn = ["eval", "knn", "--random-init", "--device", "cuda"];
    assert_eq!(one_cuda_error("eval knn", &trainer(dir.path(), &knn)), line);
    let cmp = [
        "compare",
        "--epochs",
        "1",
        "--device",
        "cuda",
        "--out",
        out.as_str(),
    ];
    let run = trainer(dir.path(), &with(&cmp, TINY));
    assert_eq!(one_cuda_error("compare", &run), line);
    assert!(!Path::new(&out).exists(), "a comparison directory was made");
}

#[test]
fn bench_prints_the_device_it_picked_first() {
    let dir = temp();
    let bench = [
        "bench",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--batch-size",
        "16",
    ];
    let run = trainer_ok(dir.path(), &bench);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, device_line(&run), "{}", run.stdout);
    if !cfg!(feature = "cuda") {
        assert_eq!(first, format!("device: cpu ({NOT_BUILT})"));
    }
    let run = trainer_ok(dir.path(), &with(&bench, &["--device", "cpu"]));
    assert_eq!(device_line(&run), "device: cpu (as asked)");
    assert!(run.stdout.contains("median step"), "{}", run.stdout);
}

#[test]
fn a_run_saved_with_device_cpu_resumes_on_the_cpu() {
    let dir = temp();
    let (first, _) = tiny_train(
        dir.path(),
        "cpu",
        "2",
        &["--device", "cpu", "--stop-after-epochs", "1"],
    );
    assert_eq!(device_line(&first), "device: cpu (as asked)");
    let run_dir = dir.path().join("cpu");
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("device = \"cpu\""), "{config}");
    let resumed = trainer_ok(
        dir.path(),
        &["train", "--resume", &run_dir.display().to_string()],
    );
    assert_eq!(device_line(&resumed), "device: cpu (as asked)");
    let summary = read_json(&run_dir.join("summary.json"));
    assert_eq!(summary["epochs"], 2, "{summary}");
    assert_eq!(summary["device"], "cpu");
    assert_eq!(summary["device_reason"], "as asked");
}
