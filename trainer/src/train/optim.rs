//! Optimisers over any dfdx `TensorCollection`: SGD with momentum and weight decay (PyTorch's
//! update rule), and LARS, with state that can be checkpointed and restored exactly.
//!
//! SGD: d = g + wd·p; m ← μ·m + d (m = d on the first step); p ← p − lr·m.
//! LARS (You et al. 2017, as solo-learn applies it): for weight tensors of rank ≥ 2,
//! d = trust · (g + wd·p) with trust = η‖p‖ / (‖g‖ + wd‖p‖) (1 when either norm is 0);
//! rank-1 tensors (biases, BatchNorm scales and shifts) get neither weight decay nor adaptation.

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorRef,
};
use dfdx::prelude::*;
use groco_dfdx::transfer::{download_scalar, download_vec, upload};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// SGD with momentum and L2 weight decay.
    Sgd,
    /// LARS with trust coefficient `eta`; BatchNorm and bias parameters excluded.
    Lars,
}

/// Hyper-parameters of the update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerConfig {
    /// The update rule.
    pub rule: Rule,
    /// Momentum μ.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// LARS trust coefficient η.
    pub lars_eta: f32,
}

/// Statistics of one step, for logging.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Global L2 norm of the gradient over every updated tensor.
    pub grad_norm: f64,
    /// Whether every gradient value was finite.
    pub finite: bool,
}

/// An optimiser with one momentum buffer per trainable tensor, in visiting order.
#[derive(Debug)]
pub struct Optimizer<D: Device<f32>> {
    config: OptimizerConfig,
    momenta: Vec<Option<Tensor<(usize,), f32, D>>>,
}

impl<D: Device<f32>> Optimizer<D> {
    /// A fresh optimiser (no momentum yet).
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            momenta: Vec::new(),
        }
    }

    /// Applies one update to every trainable tensor of `model` with rate `lr`, on the device
    /// (nothing is copied to the host). Tensors with no gradient are left unchanged.
    pub fn try_step<M: TensorCollection<f32, D>>(
        &mut self,
        model: &mut M,
        grads: &Gradients<f32, D>,
        lr: f32,
    ) -> Result<(), D::Err> {
        let mut visitor = Update {
            opt: self,
            grads,
            lr,
            index: 0,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: model,
            f: &mut visitor,
        })?;
        Ok(())
    }

    /// Σ g² over every trainable tensor's gradient, as one scalar on the device (a single
    /// reduction per tensor, no copy to the host). Non-finite when any gradient value is;
    /// `None` when the model has no trainable tensor.
    pub fn try_grad_sq<M: TensorCollection<f32, D>>(
        &self,
        model: &M,
        grads: &Gradients<f32, D>,
    ) -> Result<Option<Tensor<Rank0, f32, D>>, D::Err> {
        let mut norm = GradNorm { grads, sq: None };
        M::iter_tensors(&mut RecursiveWalker {
            m: model,
            f: &mut norm,
        })?;
        Ok(norm.sq)
    }

    /// Like [`Optimizer::try_step`], but first checks the global gradient norm (one scalar
    /// copied to the host) and leaves everything untouched (returning `None`) if it is not
    /// finite.
    pub fn try_step_checked<M: TensorCollection<f32, D>>(
        &mut self,
        model: &mut M,
        grads: &Gradients<f32, D>,
        lr: f32,
    ) -> Result<Option<StepStats>, D::Err> {
        let sq = match self.try_grad_sq(model, grads)? {
            Some(sq) => download_scalar(&sq, "gradient norm") as f64,
            None => 0.0,
        };
        if !sq.is_finite() {
            return Ok(None);
        }
        self.try_step(model, grads, lr)?;
        Ok(Some(StepStats {
            grad_norm: sq.sqrt(),
            finite: true,
        }))
    }

    /// The momentum buffers as host vectors (empty where a tensor has not been updated yet).
    pub fn momenta_host(&self) -> Vec<Vec<f32>> {
        self.momenta
            .iter()
            .map(|m| {
                m.as_ref()
                    .map(|t| download_vec(t, "optimiser momenta"))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Restores momentum buffers saved by [`Optimizer::momenta_host`].
    pub fn set_momenta_host(
        &mut self,
        dev: &D,
        momenta: &[Vec<f32>],
    ) -> Result<(), groco_dfdx::Error> {
        self.momenta = momenta
            .iter()
            .map(|m| match m.is_empty() {
                true => Ok(None),
                false => upload(dev, (m.len(),), m, "optimiser momenta").map(Some),
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

struct GradNorm<'a, D: Device<f32>> {
    grads: &'a Gradients<f32, D>,
    sq: Option<Tensor<Rank0, f32, D>>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for GradNorm<'_, D> {
    type Viewer = ViewTensorRef;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        p: &Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        if opts.do_gradient_update {
            let sq = self.grads.get(p).try_square()?.try_sum::<Rank0, _>()?;
            self.sq = Some(match self.sq.take() {
                Some(acc) => acc.try_add(sq)?,
                None => sq,
            });
        }
        Ok(None)
    }
}

struct Update<'a, D: Device<f32>> {
    opt: &'a mut Optimizer<D>,
    grads: &'a Gradients<f32, D>,
    lr: f32,
    index: usize,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Update<'_, D> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        p: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, D::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let slot = self.index;
        self.index += 1;
        if self.opt.momenta.len() <= slot {
            self.opt.momenta.resize(slot + 1, None);
        }
        let shape = *p.shape();
        let n = shape.num_elements();
        let g = self.grads.get(p).try_reshape_like(&(n,))?;
        let w = p.clone().try_reshape_like(&(n,))?;
        let c = self.opt.config;
        let is_vector = S::NUM_DIMS <= 1;
        let (wd, trust) = match c.rule {
            Rule::Sgd => (c.weight_decay, None),
            Rule::Lars if is_vector => (0.0, None),
            Rule::Lars => (c.weight_decay, Some(lars_trust(&w, &g, c)?)),
        };
        let mut d = if wd != 0.0 {
            g.try_add(w.clone().try_mul(wd)?)?
        } else {
            g
        };
        if let Some(trust) = trust {
            d = d.try_mul(trust.try_broadcast_like(&(n,))?)?;
        }
        let m = match self.opt.momenta[slot].take() {
            Some(m) if c.momentum != 0.0 => m.try_mul(c.momentum)?.try_add(d)?,
            _ => d,
        };
        let updated = w.try_sub(m.clone().try_mul(self.lr)?)?;
        self.opt.momenta[slot] = Some(m);
        *p = updated.try_reshape_like(&shape)?;
        Ok(None)
    }
}

/// LARS's trust ratio η‖p‖ / (‖g‖ + wd‖p‖), 1 when ‖p‖ or the denominator is not > 0, as a
/// scalar on the device.
fn lars_trust<D: Device<f32>>(
    w: &Tensor<(usize,), f32, D>,
    g: &Tensor<(usize,), f32, D>,
    c: OptimizerConfig,
) -> Result<Tensor<Rank0, f32, D>, D::Err> {
    let norm =
        |t: &Tensor<(usize,), f32, D>| t.clone().try_square()?.try_sum::<Rank0, _>()?.try_sqrt();
    let (w_norm, g_norm) = (norm(w)?, norm(g)?);
    let denom = g_norm.try_add(w_norm.clone().try_mul(c.weight_decay)?)?;
    let ok = bool_and(&w_norm.try_gt(0.0)?, &denom.try_gt(0.0)?);
    let ratio = w_norm.try_mul(c.lars_eta)?.try_div(denom)?;
    let one = w.device().try_zeros::<Rank0>()?.try_add(1.0)?;
    ok.try_choose(ratio, one)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-finite gradient leaves the weights and the momenta untouched.
    #[test]
    fn checked_step_refuses_non_finite_gradients() {
        let dev: Cpu = Default::default();
        let mut model = dev.build_module::<Linear<2, 1>, f32>();
        let before = model.weight.as_vec();
        let cfg = OptimizerConfig {
            rule: Rule::Sgd,
            momentum: 0.9,
            weight_decay: 0.0,
            lars_eta: 0.001,
        };
        let mut opt = Optimizer::new(cfg);
        let x = dev.tensor([[f32::NAN, 1.0]]);
        let grads = model
            .forward(x.traced(model.alloc_grads()))
            .sum()
            .backward();
        assert_eq!(opt.try_step_checked(&mut model, &grads, 0.1).unwrap(), None);
        assert_eq!(model.weight.as_vec(), before);
        assert!(opt.momenta_host().is_empty());
    }

    /// Three SGD steps on a Linear layer agree with PyTorch's rule written out by hand.
    #[test]
    fn sgd_matches_the_pytorch_rule() {
        let dev: Cpu = Default::default();
        let mut model = dev.build_module::<Linear<3, 2>, f32>();
        let cfg = OptimizerConfig {
            rule: Rule::Sgd,
            momentum: 0.9,
            weight_decay: 0.01,
            lars_eta: 0.001,
        };
        let mut opt = Optimizer::new(cfg);
        let x = dev.tensor([[1.0f32, -2.0, 0.5], [0.3, 0.2, -0.1]]);
        let mut w = model.weight.as_vec();
        let mut buf: Option<Vec<f32>> = None;
        for _ in 0..3 {
            let grads = model.alloc_grads();
            let y = model.forward(x.clone().traced(grads));
            let grads = y.square().sum().backward();
            let g = grads.get(&model.weight).as_vec();
            let d: Vec<f32> = g.iter().zip(&w).map(|(g, w)| g + 0.01 * w).collect();
            let m: Vec<f32> = match &buf {
                None => d,
                Some(b) => b.iter().zip(&d).map(|(b, d)| 0.9 * b + d).collect(),
            };
            w = w.iter().zip(&m).map(|(w, m)| w - 0.1 * m).collect();
            buf = Some(m);
            opt.try_step(&mut model, &grads, 0.1).unwrap();
        }
        for (a, b) in model.weight.as_vec().iter().zip(&w) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
