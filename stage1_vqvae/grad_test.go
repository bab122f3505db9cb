package vqvae

import (
	"testing"

	"github.com/vqgen/vqgen/nn"
)

// The whole encoder-quantizer-decoder chain, checked by finite differences.
// The straight-through estimator is not the derivative of the true loss (q is
// piecewise constant in z), so the check uses the surrogate the estimator
// differentiates: q = z + (q0 - z0) with q0, z0 taken at the unperturbed
// point, plus the commitment term beta*|z - q0|^2/(M*D). Its gradient w.r.t.
// every encoder and decoder parameter must equal the analytic one.
func TestModelGradients(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.VQVAE.Hidden, cfg.VQVAE.ResHidden, cfg.VQVAE.K, cfg.VQVAE.D = 8, 4, 16, 4
	rng := nn.NewRNG(11)
	m, err := New(cfg.VQVAE, cfg.Data, rng)
	if err != nil {
		t.Fatal(err)
	}
	x := nn.NewTensor(2, 1, 28, 28)
	rng.Uniform(x.Data, -0.5, 0.5)
	var mse nn.MSE
	z0 := m.Enc.Forward(x).Clone()
	q0, _ := m.VQ.Forward(z0)
	q0 = q0.Clone()
	beta := float64(m.VQ.Beta)
	loss := func() float64 {
		z := m.Enc.Forward(x)
		q := nn.NewTensor(z.Shape...)
		var commit float64
		for i, v := range z.Data {
			q.Data[i] = v + q0.Data[i] - z0.Data[i]
			d := float64(v - q0.Data[i])
			commit += d * d
		}
		return float64(mse.Forward(m.Dec.Forward(q), x)) + beta*commit/float64(len(z.Data))
	}
	m.Enc.Forward(x)
	m.VQ.Forward(z0)
	nn.ZeroGrad(m.Params())
	mse.Forward(m.Dec.Forward(q0), x)
	m.Enc.Backward(m.VQ.Backward(m.Dec.Backward(mse.Backward())))
	var targets []nn.GradTarget
	for _, p := range append(m.Enc.Params(), m.Dec.Params()...) {
		targets = append(targets, nn.GradTarget{Name: p.Name, X: p.Data.Data, G: p.Grad.Data})
	}
	res := nn.GradCheck(loss, targets, rng, 6, 2e-3)
	t.Logf("VQ-VAE max rel err %.2e (%s)", res.MaxRelErr, res.Worst)
	if res.MaxRelErr > 5e-2 {
		t.Fatalf("gradient check failed: %s", res.Worst)
	}
}
