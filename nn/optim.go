// Optimizers: Adam and AdamW with PyTorch's update rule, gradient clipping.
//
// With gradient g, parameter p, step t (1-based) and learning rate lr, Adam
// (Kingma & Ba) keeps running moments
//
//	m = beta1*m + (1-beta1)*g        v = beta2*v + (1-beta2)*g*g
//
// and updates
//
//	p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
//
// Dividing by the bias corrections 1-beta^t undoes the pull of the zero
// initial moments towards 0 in early steps. eps is added after the
// correction of sqrt(v), as torch.optim.Adam does, not to v itself.
//
// Weight decay wd differs between the two: Adam adds wd*p to g before the
// moments (L2 regularisation, which the adaptive scaling then weakens for
// parameters with large gradients); AdamW (Loshchilov & Hutter) decays the
// parameter directly, p *= 1 - lr*wd, before the Adam update, so every
// parameter shrinks at the same rate whatever its gradient history.
//
// The arithmetic follows torch.optim's single-tensor CPU path operation by
// operation in float32, with the scalar coefficients computed in float64 as
// Python does; results agree with torch to float32 rounding (torch's
// vectorised kernels may fuse multiply-adds, so bit equality with torch is
// not promised). Explicit float32 conversions keep the Go compiler from
// fusing multiply-adds on platforms that have FMA, so our bits do not depend
// on the machine, and the update is element-wise, so they do not depend on
// GOMAXPROCS either.
package nn

import (
	"fmt"
	"math"
	"strconv"

	"github.com/vqgen/vqgen/kernels"
)

// Adam is the Adam or AdamW optimizer. Its state binds to the parameter
// list of the first Step (or LoadState); later steps must pass the same
// parameters in the same order.
type Adam struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	Decoupled    bool // AdamW: decay the parameters instead of adding wd*p to the gradients

	t      int
	params []*Param
	m, v   [][]float32

	// per-step coefficients read by the workers
	k adamCoef
	// flat index of each param's first element, for splitting the work
	starts []int
	total  int
	pool   elemJob
}

type adamCoef struct {
	decayOn   bool    // AdamW with wd != 0
	decay     float32 // 1 - lr*wd
	gradDecay bool    // Adam with wd != 0
	wd        float32 // L2 coefficient added to the gradient
	w1        float32 // lerp weight 1 - beta1
	lerpHigh  bool    // torch's lerp switches formula at weight 0.5
	b2, c2    float32 // beta2, 1 - beta2
	bc2s      float32 // sqrt(1 - beta2^t)
	eps       float32
	negStep   float32 // -lr / (1 - beta1^t)
	// vec is the step for kernels.AdamStep, which covers every case but
	// Adam's L2 decay and torch's other lerp formula.
	vec    kernels.AdamCoefs
	useVec bool
}

// NewAdam returns Adam with L2 weight decay wd (0 for none). PyTorch's
// defaults are beta1 0.9, beta2 0.999, eps 1e-8.
func NewAdam(beta1, beta2, eps, wd float64) *Adam {
	return &Adam{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: wd}
}

// NewAdamW returns AdamW with decoupled weight decay wd (PyTorch's default
// is 0.01).
func NewAdamW(beta1, beta2, eps, wd float64) *Adam {
	return &Adam{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: wd, Decoupled: true}
}

// Steps returns the number of steps taken (restored by LoadState).
func (a *Adam) Steps() int { return a.t }

func (a *Adam) kind() string {
	if a.Decoupled {
		return "adamw"
	}
	return "adam"
}

// bind allocates the moments for ps on first use and otherwise checks that
// ps is the list the state belongs to; a different list is a programming
// error, since the moments would be applied to the wrong tensors.
func (a *Adam) bind(ps []*Param) {
	if a.params != nil {
		if len(ps) != len(a.params) {
			panic(fmt.Sprintf("nn: Adam.Step: %d params, but the optimizer was bound to %d", len(ps), len(a.params)))
		}
		for i, p := range ps {
			if p != a.params[i] || len(p.Data.Data) != len(a.m[i]) {
				panic(fmt.Sprintf("nn: Adam.Step: param %d (%s) is not the one the optimizer was bound to", i, p.Name))
			}
		}
		return
	}
	a.params = append([]*Param(nil), ps...)
	a.m = make([][]float32, len(ps))
	a.v = make([][]float32, len(ps))
	a.starts = make([]int, len(ps)+1)
	for i, p := range ps {
		if len(p.Grad.Data) != len(p.Data.Data) {
			panic(fmt.Sprintf("nn: Adam: param %s has %d values but %d gradients", p.Name, len(p.Data.Data), len(p.Grad.Data)))
		}
		a.m[i] = make([]float32, len(p.Data.Data))
		a.v[i] = make([]float32, len(p.Data.Data))
		a.starts[i+1] = a.starts[i] + len(p.Data.Data)
	}
	a.total = a.starts[len(ps)]
}

// Step applies one update to ps with learning rate lr, using their Grad.
// After the first call it allocates nothing.
func (a *Adam) Step(ps []*Param, lr float32) {
	a.bind(ps)
	a.t++
	t := float64(a.t)
	lr64 := float64(lr)
	bc1 := 1 - math.Pow(a.Beta1, t)
	bc2 := 1 - math.Pow(a.Beta2, t)
	w1 := 1 - a.Beta1
	a.k = adamCoef{
		w1:       float32(w1),
		lerpHigh: w1 >= 0.5,
		b2:       float32(a.Beta2),
		c2:       float32(1 - a.Beta2),
		bc2s:     float32(math.Sqrt(bc2)),
		eps:      float32(a.Eps),
		negStep:  float32(-lr64 / bc1),
	}
	if a.WeightDecay != 0 {
		if a.Decoupled {
			a.k.decayOn = true
			a.k.decay = float32(1 - lr64*a.WeightDecay)
		} else {
			a.k.gradDecay = true
			a.k.wd = float32(a.WeightDecay)
		}
	}
	a.k.vec = kernels.AdamCoefs{Decay: 1, W1: a.k.w1, B2: a.k.b2, C2: a.k.c2, Bc2s: a.k.bc2s, Eps: a.k.eps, NegStep: a.k.negStep}
	if a.k.decayOn {
		a.k.vec.Decay = a.k.decay // p*1 is p: the same bits without decay
	}
	a.k.useVec = !a.k.gradDecay && !a.k.lerpHigh
	runElems(a.total, &a.pool, a)
}

// run updates the flat element range [lo, hi) across all parameters.
func (a *Adam) run(lo, hi int) {
	// find the first param overlapping lo
	i := 0
	for a.starts[i+1] <= lo && i < len(a.params)-1 {
		i++
	}
	for ; i < len(a.params) && a.starts[i] < hi; i++ {
		s := a.starts[i]
		from, to := max(lo, s)-s, min(hi, a.starts[i+1])-s
		if from >= to {
			continue
		}
		p := a.params[i]
		adamUpdate(&a.k, p.Data.Data[from:to], p.Grad.Data[from:to], a.m[i][from:to], a.v[i][from:to])
	}
}

// adamUpdate is torch's _single_tensor_adam for one slice. Each float32(...)
// marks a rounding torch performs, and blocks FMA fusion.
func adamUpdate(k *adamCoef, p, g, m, v []float32) {
	if k.useVec {
		kernels.AdamStep(p, g, m, v, &k.vec)
		return
	}
	g = g[:len(p)]
	m = m[:len(p)]
	v = v[:len(p)]
	w1, b2, c2, bc2s, eps, ns := k.w1, k.b2, k.c2, k.bc2s, k.eps, k.negStep
	for j := range p {
		pj := p[j]
		gj := g[j]
		if k.decayOn {
			pj = float32(pj * k.decay) // param.mul_(1 - lr*wd)
		}
		if k.gradDecay {
			gj = gj + float32(k.wd*pj) // grad.add(param, alpha=wd)
		}
		// exp_avg.lerp_(grad, 1-beta1)
		mj := m[j]
		if k.lerpHigh {
			mj = gj - float32(float32(gj-mj)*(1-w1))
		} else {
			mj = mj + float32(w1*float32(gj-mj))
		}
		// exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
		vj := float32(v[j]*b2) + float32(float32(c2*gj)*gj)
		// denom = exp_avg_sq.sqrt() / sqrt(bc2) + eps
		den := float32(float32(math.Sqrt(float64(vj)))/bc2s) + eps
		// param.addcdiv_(exp_avg, denom, value=-step_size)
		p[j] = pj + float32(ns*float32(mj/den))
		m[j] = mj
		v[j] = vj
	}
}

// State returns copies of the moments, named "adam.m.<param>" and
// "adam.v.<param>" in parameter order, and metadata holding the step count
// and hyperparameters, ready for SaveSafetensors.
func (a *Adam) State() ([]NamedTensor, map[string]string) {
	ts := make([]NamedTensor, 0, 2*len(a.params))
	for i, p := range a.params {
		ts = append(ts,
			NamedTensor{"adam.m." + p.Name, FromData(append([]float32(nil), a.m[i]...), p.Data.Shape...)},
			NamedTensor{"adam.v." + p.Name, FromData(append([]float32(nil), a.v[i]...), p.Data.Shape...)})
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	meta := map[string]string{
		"adam.kind":         a.kind(),
		"adam.step":         strconv.Itoa(a.t),
		"adam.beta1":        f(a.Beta1),
		"adam.beta2":        f(a.Beta2),
		"adam.eps":          f(a.Eps),
		"adam.weight_decay": f(a.WeightDecay),
	}
	return ts, meta
}

// LoadState binds the optimizer to ps and restores the moments and step
// count saved by State, so training resumes with bit-identical updates. It
// checks everything before changing anything: each parameter's moments must
// be present with its shape, the step count must parse, and the saved kind
// (Adam or AdamW) must match. The hyperparameters themselves come from the
// receiver, so a resumed run may change them deliberately.
func (a *Adam) LoadState(ps []*Param, tensors map[string]*Tensor, meta map[string]string) error {
	if k, ok := meta["adam.kind"]; !ok {
		return fmt.Errorf("optimizer state: metadata has no adam.kind")
	} else if k != a.kind() {
		return fmt.Errorf("optimizer state: saved by %s, loading into %s", k, a.kind())
	}
	s, ok := meta["adam.step"]
	if !ok {
		return fmt.Errorf("optimizer state: metadata has no adam.step")
	}
	t, err := strconv.Atoi(s)
	if err != nil || t < 0 {
		return fmt.Errorf("optimizer state: adam.step %q is not a non-negative integer", s)
	}
	for _, p := range ps {
		for _, pre := range []string{"adam.m.", "adam.v."} {
			x, ok := tensors[pre+p.Name]
			if !ok {
				return fmt.Errorf("optimizer state: no tensor %q for parameter %s", pre+p.Name, p.Name)
			}
			if !x.SameShape(p.Data) || len(x.Data) != len(p.Data.Data) {
				return fmt.Errorf("optimizer state: tensor %q has shape %v, parameter %s has %v", pre+p.Name, x.Shape, p.Name, p.Data.Shape)
			}
		}
	}
	a.params = nil
	a.bind(ps)
	for i, p := range ps {
		copy(a.m[i], tensors["adam.m."+p.Name].Data)
		copy(a.v[i], tensors["adam.v."+p.Name].Data)
	}
	a.t = t
	return nil
}

// ClipGradNorm scales the gradients of ps so that their global L2 norm is at
// most maxNorm, as torch.nn.utils.clip_grad_norm_ does: when the norm
// exceeds maxNorm every gradient is multiplied by maxNorm/(norm+1e-6). It
// returns the norm before clipping, accumulated in float64 in a fixed order.
// A non-finite norm leaves the gradients untouched (torch would fill them
// with NaN); check GradsFinite to find the culprit.
func ClipGradNorm(ps []*Param, maxNorm float32) float32 {
	var s0, s1, s2, s3 float64
	for _, p := range ps {
		g := p.Grad.Data
		j := 0
		for ; j+4 <= len(g); j += 4 {
			a, b, c, d := float64(g[j]), float64(g[j+1]), float64(g[j+2]), float64(g[j+3])
			s0 += a * a
			s1 += b * b
			s2 += c * c
			s3 += d * d
		}
		for ; j < len(g); j++ {
			a := float64(g[j])
			s0 += a * a
		}
	}
	norm := float32(math.Sqrt((s0 + s1) + (s2 + s3)))
	if norm > maxNorm && !math.IsInf(float64(norm), 0) {
		coef := maxNorm / (norm + 1e-6)
		if coef < 1 {
			for _, p := range ps {
				g := p.Grad.Data
				for j := range g {
					g[j] *= coef
				}
			}
		}
	}
	return norm
}

// GradsFinite reports whether every gradient of ps is finite; if not, it
// returns the name of the first parameter holding a NaN or Inf.
func GradsFinite(ps []*Param) (name string, ok bool) {
	for _, p := range ps {
		for _, x := range p.Grad.Data {
			// x-x is NaN exactly when x is NaN or ±Inf
			if x-x != 0 {
				return p.Name, false
			}
		}
	}
	return "", true
}
