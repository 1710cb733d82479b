//! Learning-rate schedule: linear warm-up from 0 to the peak rate, then cosine decay to 0.
//!
//! lr(t) = peak * t / W for t < W, and peak * ½(1 + cos(π (t - W) / (T - W))) after,
//! with t, W and T counted in optimiser steps.

/// A warm-up + cosine schedule over a fixed number of steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineSchedule {
    peak: f64,
    warmup_steps: usize,
    total_steps: usize,
}

impl CosineSchedule {
    /// A schedule peaking at `peak` after `warmup_steps`, ending at 0 after `total_steps`.
    ///
    /// ```
    /// let s = trainer::train::CosineSchedule::new(1.0, 10, 110);
    /// assert_eq!(s.lr(0), 0.1);
    /// assert!((s.lr(10) - 1.0).abs() < 1e-12);
    /// assert!(s.lr(109) < 1e-3);
    /// ```
    pub fn new(peak: f64, warmup_steps: usize, total_steps: usize) -> Self {
        CosineSchedule {
            peak,
            warmup_steps: warmup_steps.min(total_steps),
            total_steps: total_steps.max(1),
        }
    }

    /// The rate for step `step` (0-based). Warm-up uses (step + 1) / W so step 0 is not wasted.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = (self.total_steps - self.warmup_steps).max(1) as f64;
        let t = ((step - self.warmup_steps) as f64 / decay_steps).min(1.0);
        self.peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_linear_and_decay_is_monotone() {
        let s = CosineSchedule::new(2.0, 4, 20);
        assert_eq!(s.lr(0), 0.5);
        assert_eq!(s.lr(3), 2.0);
        let mut prev = f64::INFINITY;
        for step in 4..20 {
            let lr = s.lr(step);
            assert!(lr <= prev && lr >= 0.0, "step {step}: {lr}");
            prev = lr;
        }
        // Halfway through the decay the cosine is at half the peak.
        assert!((s.lr(12) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_warmup_starts_at_peak() {
        let s = CosineSchedule::new(1.5, 0, 10);
        assert_eq!(s.lr(0), 1.5);
    }
}
