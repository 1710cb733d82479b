//! `trainer compare` driven through the built binary with a tiny budget: the table, the paired
//! differences, `compare.json` and the plot agree with the per-seed runs.

mod common;

use std::path::Path;

use common::{
    arg, assert_plot, assert_scored_on, finite_step_losses, num, read_json, temp, trainer_ok, with,
    TINY,
};
use trainer::report::mean_std;

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
