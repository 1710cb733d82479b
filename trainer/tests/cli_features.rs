//! Issue 5's features driven through the built `trainer` binary on real data (the embedded
//! digits, or small generated STL-10 / ImageFolder files) with tiny budgets, checking what the
//! commands print and write: `compare`, multi-crop and LARS training, the linear probe and the
//! `eval` commands, the `stl10:` and `folder:` datasets, and the presets against the docs.

mod common;

use std::path::Path;

use common::{
    arg, assert_plot, finite_step_losses, num, read_json, read_metrics, temp, trainer_err,
    trainer_ok, write_folder, write_mnist_subset, write_stl10,
};
use trainer::config::{EncoderKind, OptimizerKind, TrainConfig, PRESETS};
use trainer::report::mean_std;

/// Flags of a tiny GroCo run: one epoch, small batches.
const TINY: &[&str] = &["--epochs", "1", "--batch-size", "32", "--topk-neg", "5"];

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// The cells after the method name of the table row `| method | ... |` in `stdout`.
fn table_row<'a>(stdout: &'a str, method: &str) -> Vec<&'a str> {
    let prefix = format!("| {method} |");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no table row for {method} in\n{stdout}"));
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    // "", method, five cells, "".
    assert_eq!(cells.len(), 8, "row {line:?}");
    cells[2..7].to_vec()
}

/// "m ± s" as (m, s).
fn mean_pm_std(cell: &str) -> (f64, f64) {
    let (m, s) = cell
        .split_once(" ± ")
        .unwrap_or_else(|| panic!("{cell:?} is not 'mean ± std'"));
    (m.parse().unwrap(), s.parse().unwrap())
}

/// The number before the `%` that follows `key` in `line`.
fn percent_after(line: &str, key: &str) -> f64 {
    let rest = &line[line
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} not in {line:?}"))
        + key.len()..];
    rest.trim_start()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// Asserts that `value` percent is a whole number of `1/queries` (it was scored on `queries`
/// images).
fn assert_scored_on(value: f64, queries: usize, what: &str) {
    let hits = value / 100.0 * queries as f64;
    assert!(
        (hits - hits.round()).abs() < 1e-6 && (0.0..=100.0).contains(&value),
        "{what} = {value}% is not a score on {queries} test images"
    );
}

#[test]
fn compare_over_two_seeds_prints_the_table_and_writes_json_and_plot() {
    let dir = temp();
    let out = arg(dir.path(), "cmp");
    let test_images = 40;
    let run = trainer_ok(
        dir.path(),
        &with(
            &["compare"],
            &with(
                TINY,
                &[
                    "--seeds",
                    "2",
                    "--train-limit",
                    "64",
                    "--test-limit",
                    "40",
                    "--linear-probe",
                    "--linear-epochs",
                    "5",
                    "--out",
                    &out,
                ],
            ),
        ),
    );
    let header = run
        .stdout
        .lines()
        .find(|l| l.starts_with("| method |"))
        .unwrap_or_else(|| panic!("no table header in\n{}", run.stdout));
    for col in [
        "k-NN top-1 k=1",
        "k-NN top-1 k=20",
        "linear top-1",
        "wall (s)",
        "images/s",
    ] {
        assert!(header.contains(col), "header {header:?} lacks {col:?}");
    }

    let doc = read_json(&Path::new(&out).join("compare.json"));
    assert_eq!(doc["seeds"], 2);
    let methods = doc["methods"].as_array().expect("methods is an array");
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    // GroCo and NT-Xent at the same epochs, then (when their step costs differ by more than
    // 5 %) the cheaper loss for as many epochs as the dearer one's wall time, then random init.
    let n = names.len();
    assert_eq!(
        (names[..2].to_vec(), names[n - 1]),
        (vec!["groco", "nt-xent"], "random-init")
    );
    assert!(
        n == 3 || (n == 4 && names[2].ends_with("epochs, same wall time)")),
        "{names:?}"
    );
    // Paired by seed: the mean of the per-seed differences, the standard error of their mean.
    let paired = doc["paired"].as_array().expect("paired is an array");
    assert_eq!(paired.len(), n - 2, "{paired:?}");
    assert_eq!(paired[0]["pairing"], "same epochs (1 each)");
    let knn = |m: &serde_json::Value| -> Vec<f64> {
        let runs = m["runs"].as_array().unwrap();
        runs.iter().map(|r| num(r, "knn_top1")).collect()
    };
    let diffs: Vec<f64> = knn(&methods[0])
        .iter()
        .zip(knn(&methods[1]))
        .map(|(g, x)| g - x)
        .collect();
    let (mean, std) = mean_std(&diffs);
    let got = &paired[0]["knn_top1"];
    assert!((num(got, "mean") - mean).abs() < 1e-9, "{got}");
    assert!((num(got, "se") - std / 2f64.sqrt()).abs() < 1e-9, "{got}");
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("| same epochs (1 each) |"));
    let cells: Vec<&str> = line
        .expect("a paired row")
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(cells[2], format!("{mean:+.2} ± {:.2}", std / 2f64.sqrt()));
    for m in &methods[..2] {
        let name = m["method"].as_str().unwrap();
        let runs = m["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{name}: one entry per seed");
        for (seed, r) in runs.iter().enumerate() {
            assert_eq!(r["seed"], seed as u64, "{name}");
            assert_eq!(r["loss"], name);
            assert_eq!(r["epochs"], 1);
            assert!(num(r, "final_loss").is_finite(), "{name}: {r}");
            assert!(num(r, "seconds") > 0.0 && num(r, "images_per_second") > 0.0);
            for key in ["knn_top1", "knn1_top1", "linear_top1"] {
                assert_scored_on(
                    num(r, key),
                    test_images,
                    &format!("{name} seed {seed} {key}"),
                );
            }
            let run_dir = Path::new(&out).join(format!("{name}-seed{seed}"));
            assert!(run_dir.join("checkpoint/state.safetensors").is_file());
            finite_step_losses(&run_dir);
        }
        // The table and the JSON report the same mean ± std of the per-seed values.
        let cells = table_row(&run.stdout, name);
        for (cell, key) in cells.iter().zip([
            "knn1_top1",
            "knn_top1",
            "linear_top1",
            "seconds",
            "images_per_second",
        ]) {
            let values: Vec<f64> = runs.iter().map(|r| num(r, key)).collect();
            let (mean, std) = mean_std(&values);
            assert!(
                (num(&m[key], "mean") - mean).abs() < 1e-9
                    && (num(&m[key], "std") - std).abs() < 1e-9,
                "{name} {key}: json {} vs per-seed {values:?}",
                m[key]
            );
            assert_eq!(
                *cell,
                format!("{mean:.2} ± {std:.2}"),
                "{name} {key} in the table"
            );
        }
    }
    // The random-init encoder is scored on the same 40 test images as the trained ones.
    let random = &methods[n - 1];
    let cells = table_row(&run.stdout, "random-init");
    assert_eq!(&cells[3..], ["-", "-"]);
    for (i, key) in ["knn1_top1", "knn_top1", "linear_top1"]
        .into_iter()
        .enumerate()
    {
        let values: Vec<f64> = random["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| num(r, key))
            .collect();
        assert_eq!(values.len(), 2);
        for &v in &values {
            assert_scored_on(v, test_images, &format!("random-init {key}"));
        }
        let (mean, _) = mean_pm_std(cells[i]);
        assert!((mean - mean_std(&values).0).abs() < 0.006, "{key}");
    }
    assert_plot(&Path::new(&out).join("compare.png"));
}

/// Multi-crop on the digits: 2 global 28-px views plus 2 small crops of 26 px covering 5-40 % of
/// the image (small-cnn's flattened 4x4 map needs 25..=32 px), trained with GroCo.
#[test]
fn multi_crop_training_runs_and_bad_crop_flags_are_refused() {
    let dir = temp();
    let out = arg(dir.path(), "mc");
    let run = trainer_ok(
        dir.path(),
        &with(
            &["train"],
            &with(
                TINY,
                &[
                    "--small-crops",
                    "2",
                    "--small-crop-size",
                    "26",
                    "--train-limit",
                    "64",
                    "--test-limit",
                    "40",
                    "--out",
                    &out,
                ],
            ),
        ),
    );
    let out = Path::new(&out);
    assert!(run.stdout.contains("k-NN top-1"), "{}", run.stdout);
    assert_eq!(finite_step_losses(out).len(), 1, "step 0 of 2 is logged");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["epochs"], 1);
    assert!(num(&summary, "final_loss").is_finite());
    assert_scored_on(num(&summary, "knn_top1"), 40, "knn_top1");
    let config: TrainConfig =
        toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    assert_eq!((config.small_crops, config.small_crop_size), (2, 26));

    // Refused before any training (the tiny budget only bounds the cost of a regression).
    let tiny = with(TINY, &["--train-limit", "64", "--test-limit", "40"]);
    let e = trainer_err(
        dir.path(),
        &with(
            &[
                "train",
                "--encoder",
                "small-cnn-flat",
                "--small-crops",
                "2",
                "--small-crop-size",
                "12",
            ],
            &tiny,
        ),
    );
    // small-cnn-flat flattens a 4x4 final map: 12-px crops (a 2x2 map) cannot feed its head.
    assert!(
        e.contains("small_crop_size") && e.contains("25..=32"),
        "{e}"
    );
    let e = trainer_err(
        dir.path(),
        &with(&["train", "--loss", "nt-xent", "--small-crops", "2"], &tiny),
    );
    assert!(
        e.contains("nt-xent takes exactly 2 views and no small crops"),
        "{e}"
    );
}

/// Trains with LARS and the linear probe on 256 real digits (IDX files written from the
/// embedded set), then checks that `eval knn` and `eval linear` on the checkpoint reproduce the
/// run's own k-NN and probe scores, since they see the same data, weights and probe seed.
#[test]
fn lars_training_with_linear_probe_and_eval_commands_agree() {
    let dir = temp();
    let digits = dir.path().join("digits");
    write_mnist_subset(&digits, 256, 100);
    let dataset = format!("idx:{}", digits.display());
    let out = arg(dir.path(), "lars");
    trainer_ok(
        dir.path(),
        &with(
            &["train"],
            &with(
                TINY,
                &[
                    "--dataset",
                    &dataset,
                    "--optimizer",
                    "lars",
                    "--linear-probe",
                    "--linear-epochs",
                    "20",
                    "--out",
                    &out,
                ],
            ),
        ),
    );
    let run_dir = Path::new(&out);
    finite_step_losses(run_dir);
    let config: TrainConfig =
        toml::from_str(&std::fs::read_to_string(run_dir.join("config.toml")).unwrap()).unwrap();
    assert_eq!(config.optimizer, OptimizerKind::Lars);
    let summary = read_json(&run_dir.join("summary.json"));
    let linear = num(&summary, "linear_top1");
    assert_scored_on(linear, 100, "linear_top1");
    assert!(linear > 30.0, "linear probe {linear}% is near chance (10%)");
    let probe = read_metrics(run_dir)
        .into_iter()
        .find(|r| r["event"] == "linear")
        .expect("a linear event in metrics.jsonl");
    assert!(num(&probe, "top5") >= num(&probe, "top1"));

    let knn = trainer_ok(
        dir.path(),
        &["eval", "knn", "--checkpoint", &out, "--dataset", &dataset],
    );
    let lines: Vec<&str> = knn.stdout.lines().filter(|l| l.contains("k-NN")).collect();
    assert_eq!(lines.len(), 2, "{}", knn.stdout);
    for (line, key) in lines.iter().zip(["knn1_top1", "knn_top1"]) {
        assert!(line.ends_with("on 100 test images"), "{line}");
        let top1 = percent_after(line, "top-1");
        assert_eq!(
            format!("{top1:.2}"),
            format!("{:.2}", num(&summary, key)),
            "eval knn vs the run's {key}: {line}"
        );
        assert!(top1 > 30.0, "{line}");
    }

    let lin = trainer_ok(
        dir.path(),
        &[
            "eval",
            "linear",
            "--checkpoint",
            &out,
            "--dataset",
            &dataset,
            "--epochs",
            "20",
        ],
    );
    let line = lin
        .stdout
        .lines()
        .find(|l| l.contains("linear probe"))
        .unwrap_or_else(|| panic!("no linear probe line in\n{}", lin.stdout));
    let (top1, top5) = (percent_after(line, "top-1"), percent_after(line, "top-5"));
    assert!(top5 >= top1, "{line}");
    assert_eq!(
        format!("{top1:.2}"),
        format!("{linear:.2}"),
        "eval linear vs the run's probe: {line}"
    );
}

#[test]
fn stl10_pretrains_on_train_plus_unlabeled() {
    let dir = temp();
    let data = dir.path().join("stl");
    // 24 labelled + 48 unlabeled images of 2 classes; batches of 8.
    write_stl10(&data.join("stl10_binary"), 2, 24, 12, 48);
    let config = dir.path().join("log_every_step.toml");
    std::fs::write(&config, "log_every = 1\ntopk_neg = 3\n").unwrap();
    let out = arg(dir.path(), "run");
    trainer_ok(
        dir.path(),
        &[
            "train",
            "--config",
            &config.display().to_string(),
            "--dataset",
            &format!("stl10:{}", data.display()),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--out",
            &out,
        ],
    );
    let run_dir = Path::new(&out);
    assert_eq!(
        finite_step_losses(run_dir).len(),
        (24 + 48) / 8,
        "one epoch covers the labelled and the unlabeled images"
    );
    assert!(run_dir.join("checkpoint/state.safetensors").is_file());
    let meta = read_json(&run_dir.join("checkpoint/meta.json"));
    assert_eq!(
        (meta["channels"].as_u64(), meta["input_size"].as_u64()),
        (Some(3), Some(32))
    );
    let summary = read_json(&run_dir.join("summary.json"));
    let knn = num(&summary, "knn_top1");
    assert_scored_on(knn, 12, "knn_top1");
    assert!(knn >= 75.0, "k-NN {knn}% on two separable classes");
}

#[test]
fn folder_dataset_trains_end_to_end_with_plots() {
    let dir = temp();
    let data = dir.path().join("imgs");
    write_folder(&data, 3, 10, 4, 40);
    let out = arg(dir.path(), "run");
    let run = trainer_ok(
        dir.path(),
        &[
            "train",
            "--dataset",
            &format!("folder:{}", data.display()),
            "--epochs",
            "1",
            "--batch-size",
            "10",
            "--topk-neg",
            "3",
            "--out",
            &out,
        ],
    );
    assert!(run.stdout.contains("on folder:"), "{}", run.stdout);
    let run_dir = Path::new(&out);
    finite_step_losses(run_dir);
    assert!(run_dir.join("checkpoint/state.safetensors").is_file());
    let meta = read_json(&run_dir.join("checkpoint/meta.json"));
    assert_eq!(meta["channels"], 3);
    let summary = read_json(&run_dir.join("summary.json"));
    let knn = num(&summary, "knn_top1");
    assert_scored_on(knn, 12, "knn_top1");
    assert!(knn >= 66.0, "k-NN {knn}% on three separable classes");
    for plot in ["loss", "lr", "knn", "pca"] {
        assert_plot(&run_dir.join(format!("{plot}.png")));
    }
}

/// The value after `key` in `text`, up to the next space or comma.
fn word_after<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} not in {text:?}"))
        + key.len();
    text[at..]
        .trim_start()
        .split([' ', ',', ')'])
        .next()
        .unwrap()
}

#[test]
fn presets_resolve_from_the_cli_and_match_the_docs() {
    let help = trainer_ok(Path::new("."), &["train", "--help"]).stdout;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the workspace README");
    let presets_doc = &readme[readme.find("**Presets**").expect("a Presets paragraph")..];
    let presets_doc = &presets_doc[..presets_doc.find("\n\n").unwrap_or(presets_doc.len())];
    let presets_doc = presets_doc.replace('\n', " ");
    for name in PRESETS {
        assert!(
            help.contains(name),
            "train --help does not name preset {name}"
        );
        assert!(
            presets_doc.contains(&format!("`{name}`")),
            "README lacks preset {name}"
        );
    }
    // The README's one line for the ResNet-18 presets: "(LARS, lr 0.4 × B/256, wd 1e-5,
    // 10 warm-up epochs, 2048-2048-256 head, ...)".
    let lr: f64 = word_after(&presets_doc, "lr ").parse().unwrap();
    let wd: f64 = word_after(&presets_doc, "wd ").parse().unwrap();
    let warmup: f64 = presets_doc
        .split(" warm-up epochs")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let head = presets_doc
        .split(" head")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(presets_doc.contains("LARS"), "{presets_doc}");
    let folder_side = trainer::data::LoadOptions::default().folder_size;
    for name in PRESETS.iter().filter(|n| n.ends_with("-resnet18")) {
        let c = TrainConfig::try_preset(name).unwrap();
        c.try_validate().unwrap();
        assert_eq!(c.encoder, EncoderKind::Resnet18, "{name}");
        assert_eq!(c.optimizer, OptimizerKind::Lars, "{name}");
        assert_eq!(
            (c.lr, c.weight_decay, c.warmup_epochs),
            (lr, wd, warmup),
            "{name}"
        );
        assert_eq!(
            format!("{0}-{0}-{1}", c.head_hidden, c.head_out),
            head,
            "{name}"
        );
        let dataset = name.trim_end_matches("-resnet18");
        assert!(c.dataset.contains(dataset), "{name}: {}", c.dataset);
        if c.small_crops > 0 {
            let native = if dataset == "imagenet100" {
                folder_side
            } else {
                96
            };
            let global = trainer::data::input_size(c.encoder, native);
            assert!(
                c.small_crop_size < global,
                "{name}: small crops of {} px are not smaller than the {global}-px global crops",
                c.small_crop_size
            );
        }
        // From the command line the preset resolves and reaches the data loader, which names
        // the preset's (absent) dataset directory.
        let cwd = temp();
        let e = trainer_err(cwd.path(), &["train", "--preset", name]);
        let dir = c.dataset.split_once(':').unwrap().1;
        assert!(e.contains(dir), "--preset {name}: {e}");
    }
    // mnist5k is the default run the README measures.
    let c = TrainConfig::try_preset("mnist5k").unwrap();
    assert_eq!(c, TrainConfig::default());
    let default_run = &readme[readme
        .find("### Default run")
        .expect("a Default run section")..];
    let default_run = default_run.replace('\n', " ");
    assert_eq!(
        word_after(&default_run, "topk_neg "),
        c.topk_neg.to_string()
    );
    assert_eq!(word_after(&default_run, "batch "), c.batch_size.to_string());
    assert_eq!(word_after(&default_run, "SGD lr "), format!("{:.1}", c.lr));
    assert!(default_run.contains(&format!("{} epochs", c.epochs)));
    assert!(default_run.contains(&format!("{} warm-up epochs", c.warmup_epochs)));
    let e = trainer_err(Path::new("."), &["train", "--preset", "nope"]);
    assert!(
        e.contains("unknown preset") && e.contains("imagenet100-resnet18"),
        "{e}"
    );
}
