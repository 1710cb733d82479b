//! Progress reporting: an indicatif bar (loss, learning rate, images/s, ETA) when stdout is a
//! terminal, plain lines every few seconds otherwise, nothing when quiet.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports training progress.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: u64,
    last_line: Instant,
    started: Instant,
}

impl Progress {
    /// A reporter for `total` steps; `verbose = false` prints nothing.
    pub fn new(verbose: bool, total: usize) -> Self {
        let tty = std::io::stdout().is_terminal();
        let bar = (verbose && tty).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
                )
                .expect("valid template"),
            );
            bar
        });
        Progress {
            bar,
            plain: verbose && !tty,
            total: total as u64,
            done: 0,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    /// One step done.
    pub fn step(&mut self, epoch: usize, loss: f64, lr: f64, images_per_second: f64) {
        self.done += 1;
        let msg = format!(
            "epoch {} loss {loss:.4} lr {lr:.4} {images_per_second:.0} img/s",
            epoch + 1
        );
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.inc(1);
        } else if self.plain && self.last_line.elapsed() > Duration::from_secs(5) {
            self.last_line = Instant::now();
            let elapsed = self.started.elapsed().as_secs_f64();
            let eta = elapsed / self.done as f64 * (self.total - self.done) as f64;
            println!("step {}/{}  {msg}  eta {eta:.0}s", self.done, self.total);
        }
    }

    /// A line of text above the bar (or plain).
    pub fn message(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if self.plain => println!("{text}"),
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
