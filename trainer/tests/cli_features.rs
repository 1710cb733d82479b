//! The trainer's features driven through the built `trainer` binary on real data (the embedded
//! digits, or small generated STL-10 / ImageFolder files) with tiny budgets, checking what the
//! commands print and write: multi-crop and LARS training, the linear probe and the `eval`
//! commands, the `stl10:` and `folder:` datasets, and the presets against the docs (`compare`
//! is in `cli_compare.rs`).

mod common;

use std::path::Path;

use common::{
    arg, assert_plot, assert_scored_on, finite_step_losses, num, read_json, read_metrics, temp,
    trainer_err, trainer_ok, with, write_folder, write_mnist_subset, write_stl10, TINY,
};
use trainer::config::{EncoderKind, OptimizerKind, TrainConfig, PRESETS};

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

/// Multi-crop on the digits: 2 global 28-px views plus 2 small crops of 26 px covering 5-40 % of
/// the image (26 px also fits small-cnn-flat's 4x4 map, 25..=32 px), trained with GroCo.
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
