//! Crash safety: a training run of the real binary, as a child process, is killed with SIGKILL
//! at random points (mid-step, while the checkpoint or its `meta.json` is being written, and
//! while `summary.json` is being written after the last epoch) and resumed with `--resume` until
//! it completes. After every kill a loadable checkpoint exists (or none yet, before the first
//! epoch ended), it never goes back in time, and the temp file of an interrupted write is never
//! taken for it. The finished run's weights, momenta and k-NN score equal, bit for bit, those of
//! a run never interrupted.
//!
//! The kill schedule is seeded; `GROCO_SEED` overrides the seed, and failures print it. The
//! children run with the atomic-write test hook (`GROCO_TEST_ATOMIC_WRITE_DELAY_MS`), which
//! holds each written temp file for a moment before its rename so kills can land there.

use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::report::checkpoint::{resolve_state_file, Checkpoint, META_FILE, STATE_FILE};
use trainer::report::runlog::{is_temp_of, WRITE_DELAY_ENV};

const EPOCHS: usize = 5;
const WRITE_DELAY_MS: u64 = 80;
const KILLS: usize = 8;
const DEADLINE: Duration = Duration::from_secs(240);

fn fresh_args(out: &Path) -> Vec<String> {
    let epochs = EPOCHS.to_string();
    let out = out.display().to_string();
    [
        "train",
        "--dataset",
        "mnist5k",
        "--loss",
        "groco",
        "--batch-size",
        "16",
        "--topk-neg",
        "5",
        "--train-limit",
        "32",
        "--test-limit",
        "32",
        "--eval-every",
        "0",
        "--seed",
        "11",
        "--epochs",
        &epochs,
        "--out",
        &out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts the binary with `args`, output to `log`; with the write-delay hook when `hook`.
fn spawn(args: &[String], log: &Path, hook: bool) -> Child {
    let out = File::create(log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainer"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    if hook {
        cmd.env(WRITE_DELAY_ENV, WRITE_DELAY_MS.to_string());
    } else {
        cmd.env_remove(WRITE_DELAY_ENV);
    }
    cmd.spawn().unwrap()
}

/// Where to kill a child.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// After this long (mid-step, during start-up or evaluation).
    After(Duration),
    /// While the `nth` (1-based) write of `file` in `dir` is in flight, `extra` after its temp
    /// file appeared (`extra` is shorter than the hook's delay).
    DuringWrite {
        dir: &'static str,
        file: &'static str,
        nth: usize,
        extra: Duration,
    },
}

/// What watching a child saw.
struct Watched {
    status: ExitStatus,
    /// Whether it was killed (false: it exited by itself first).
    killed: bool,
    /// When each of its checkpoint writes began (its state temp file appeared).
    checkpoint_writes: Vec<Duration>,
}

/// Watches `child` (its run directory is `run`) until it exits, or SIGKILLs it at `at`
/// (`Child::kill` sends SIGKILL on Unix).
fn watch(child: &mut Child, run: &Path, at: Option<KillAt>, context: &str) -> Watched {
    let start = Instant::now();
    let pid = child.id();
    let temp = |dir: &str, file: &str| run.join(dir).join(format!(".{file}.tmp-{pid}"));
    let state_temp = temp("checkpoint", STATE_FILE);
    let (mut checkpoint_writes, mut in_state_write) = (Vec::new(), false);
    let (mut seen, mut present) = (0usize, false);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Watched {
                status,
                killed: false,
                checkpoint_writes,
            };
        }
        let now = start.elapsed();
        assert!(now < DEADLINE, "{context}: a child ran too long");
        let writing = state_temp.exists();
        if writing && !in_state_write {
            checkpoint_writes.push(now);
        }
        in_state_write = writing;
        let fire = match at {
            None => false,
            Some(KillAt::After(d)) => now >= d,
            Some(KillAt::DuringWrite {
                dir,
                file,
                nth,
                extra,
            }) => {
                let exists = temp(dir, file).exists();
                let appeared = exists && !present;
                present = exists;
                seen += usize::from(appeared);
                if appeared && seen == nth {
                    // The hook holds the temp file for WRITE_DELAY_MS > extra, so the write is
                    // still in flight unless this thread was descheduled for long.
                    std::thread::sleep(extra);
                    true
                } else {
                    false
                }
            }
        };
        if fire {
            child.kill().unwrap();
            return Watched {
                status: child.wait().unwrap(),
                killed: true,
                checkpoint_writes,
            };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Files in `dir` that are temp files of an atomic write.
fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp-"))
        .collect()
}

fn same_weights(a: &Checkpoint, b: &Checkpoint, context: &str) {
    assert_eq!(a.model.tensors.len(), b.model.tensors.len(), "{context}");
    for ((na, sa, va), (nb, sb, vb)) in a.model.tensors.iter().zip(&b.model.tensors) {
        assert_eq!((na, sa), (nb, sb), "{context}");
        let (ba, bb): (Vec<u32>, Vec<u32>) = (
            va.iter().map(|v| v.to_bits()).collect(),
            vb.iter().map(|v| v.to_bits()).collect(),
        );
        assert!(
            ba == bb,
            "{context}: tensor {na} differs from the uninterrupted run"
        );
    }
    assert!(a.momenta == b.momenta, "{context}: momenta differ");
}

#[test]
fn sigkilled_runs_resume_to_the_uninterrupted_weights() {
    let seed = groco_testkit::seed_or(20_261_201);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (reference, run) = (dir.path().join("reference"), dir.path().join("crashed"));

    // The uninterrupted run (with the hook too, so its timing matches the children's; the
    // hook never changes what is written). Its checkpoint times place the mid-epoch kills.
    let ref_log = dir.path().join("reference.log");
    let mut child = spawn(&fresh_args(&reference), &ref_log, true);
    let watched = watch(&mut child, &reference, None, "reference run");
    let log = fs::read_to_string(&ref_log).unwrap_or_default();
    assert!(watched.status.success(), "reference run failed: {log}");
    let writes = &watched.checkpoint_writes;
    assert_eq!(
        writes.len(),
        EPOCHS,
        "reference checkpoint writes: {writes:?}"
    );
    // The fastest epoch, and the start-up before the first.
    let epoch = writes.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    let startup = writes[0].saturating_sub(epoch);
    eprintln!("reference run: start-up {startup:?}, epoch {epoch:?}, checkpoints at {writes:?}");
    let expected = Checkpoint::try_load(&reference).unwrap();
    assert_eq!(expected.meta["epochs_done"], EPOCHS);

    let state = run.join("checkpoint").join(STATE_FILE);
    let mut epochs_seen = 0u64;
    let mut kills = Vec::new();
    let mut write_kills = std::collections::BTreeMap::new();
    let mut summary_killed = false;
    for attempt in 0.. {
        let context = format!(
            "GROCO_SEED={seed}, attempt {attempt}, kills so far {kills:?} (rerun with this \
             seed to reproduce)"
        );
        assert!(attempt <= KILLS + 1, "{context}: the run never completed");
        let args = if state.exists() {
            vec!["train".into(), "--resume".into(), run.display().to_string()]
        } else {
            fresh_args(&run)
        };
        let remaining = EPOCHS - epochs_seen as usize;
        let summary_kill = KillAt::DuringWrite {
            dir: ".",
            file: "summary.json",
            nth: 1,
            extra: Duration::from_millis(rng.gen_range(0..WRITE_DELAY_MS / 2)),
        };
        let at = match attempt {
            _ if summary_killed => None,
            a if a == KILLS || remaining == 0 => {
                summary_killed = true;
                Some(summary_kill)
            }
            // In start-up (one in five) or mid-step in one of the next two epochs.
            a if a % 2 == 0 => Some(KillAt::After(if rng.gen_bool(0.2) {
                startup.mul_f64(rng.gen_range(0.0..1.0))
            } else {
                startup + epoch.mul_f64(rng.gen_range(0.05..remaining.min(2) as f64 - 0.2))
            })),
            _ => Some(KillAt::DuringWrite {
                dir: "checkpoint",
                file: if rng.gen_bool(0.6) {
                    STATE_FILE
                } else {
                    META_FILE
                },
                nth: rng.gen_range(1..=remaining.min(2)),
                extra: Duration::from_millis(rng.gen_range(0..WRITE_DELAY_MS / 2)),
            }),
        };
        let log_path = dir.path().join(format!("attempt{attempt}.log"));
        let mut child = spawn(&args, &log_path, true);
        let Watched { status, killed, .. } = watch(&mut child, &run, at, &context);
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        if !killed {
            assert!(status.success(), "{context}: the child failed: {log}");
            break;
        }
        assert_eq!(status.signal(), Some(9), "{context}: {status:?} {log}");
        kills.push(format!("{at:?}"));
        if let Some(KillAt::DuringWrite { file, .. }) = at {
            *write_kills.entry(file).or_insert(0usize) += 1;
        }

        // A valid checkpoint exists, or none yet because no epoch ever finished.
        if !state.exists() {
            assert_eq!(epochs_seen, 0, "{context}: the checkpoint disappeared");
            continue;
        }
        assert_eq!(resolve_state_file(&run), state, "{context}");
        let ckpt = Checkpoint::try_load(&run)
            .unwrap_or_else(|e| panic!("{context}: checkpoint after a kill: {e}"));
        let done = ckpt.meta["epochs_done"].as_u64().unwrap();
        assert!(
            (epochs_seen.max(1)..=EPOCHS as u64).contains(&done),
            "{context}: epochs_done {done} after {epochs_seen}"
        );
        epochs_seen = done;
        assert_eq!(ckpt.model.tensors.len(), expected.model.tensors.len());
        for ((n, s, v), (ne, se, _)) in ckpt.model.tensors.iter().zip(&expected.model.tensors) {
            assert_eq!((n, s), (ne, se), "{context}");
            assert!(v.iter().all(|x| x.is_finite()), "{context}: {n} not finite");
        }
        // A state temp file a kill left behind holds a newer checkpoint that was not adopted.
        let temp = run
            .join("checkpoint")
            .join(format!(".{STATE_FILE}.tmp-{}", child.id()));
        if let Ok(newer) = Checkpoint::try_load(&temp) {
            assert_eq!(
                newer.meta["epochs_done"].as_u64(),
                Some(done + 1),
                "{context}: the temp file is not the interrupted next checkpoint"
            );
        }
        for t in temp_files(&run.join("checkpoint")) {
            assert!(
                is_temp_of(&t, STATE_FILE) || is_temp_of(&t, META_FILE),
                "{context}: unexpected file {t}"
            );
        }
    }

    let got = Checkpoint::try_load(&run).unwrap();
    assert_eq!(got.meta["epochs_done"], EPOCHS);
    same_weights(&expected, &got, &format!("GROCO_SEED={seed}"));
    let summary = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    let (a, b) = (summary(&reference), summary(&run));
    for key in ["knn_top1", "knn1_top1", "final_loss", "epochs"] {
        assert_eq!(a[key], b[key], "GROCO_SEED={seed}: summary {key} differs");
    }
    // The resumed log holds each step and k-NN record once, as the uninterrupted run's does,
    // with the same loss, learning rate, gradient norm and k-NN scores, bit for bit (only the
    // throughput, a wall-clock figure, may differ).
    type Record = (Option<u64>, Option<u64>, String, [String; 5]);
    let records = |dir: &Path| -> Vec<Record> {
        let text = fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        text.lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("GROCO_SEED={seed}: torn metrics line {l:?}: {e}"));
                let event = r["event"].as_str().unwrap_or("step").to_string();
                let values = ["loss", "lr", "grad_norm", "knn_top1", "knn1_top1"]
                    .map(|key| r[key].to_string());
                (r["step"].as_u64(), r["epoch"].as_u64(), event, values)
            })
            .collect()
    };
    assert_eq!(
        records(&reference),
        records(&run),
        "GROCO_SEED={seed}: metrics.jsonl differs from the uninterrupted run's"
    );
    let leftovers: Vec<PathBuf> = [run.clone(), run.join("checkpoint")]
        .iter()
        .flat_map(|d| temp_files(d).into_iter().map(move |t| d.join(t)))
        .collect();
    assert!(
        leftovers.is_empty(),
        "GROCO_SEED={seed}: temp files left behind: {leftovers:?}"
    );
    let checkpoint_writes =
        write_kills.get(STATE_FILE).unwrap_or(&0) + write_kills.get(META_FILE).unwrap_or(&0);
    assert!(
        checkpoint_writes >= 2 && write_kills.contains_key("summary.json"),
        "GROCO_SEED={seed}: too few kills during writes: {kills:?}"
    );
    eprintln!("GROCO_SEED={seed}: {} kills: {kills:?}", kills.len());
}
