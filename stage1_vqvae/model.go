// Package vqvae is stage one of vqgen: a VQ-VAE (van den Oord et al. 2017)
// that turns an image into a small grid of codebook indices and back.
//
// The encoder maps an image x to a grid of D-dimensional vectors z; the
// quantizer replaces each by its nearest codebook entry e_k; the decoder
// maps the quantized grid back to an image. Training minimises
//
//	|x - dec(q)|^2 + beta*|z - sg(q)|^2 (+ |sg(z) - q|^2 in gradient mode)
//
// with the straight-through estimator carrying dL/dq to z unchanged. With
// EMA updates (the default) the codebook follows running means of the
// vectors assigned to it instead of the codebook loss; see Quantizer.
//
// The networks follow Sonnet's VQ-VAE example and
// ../shared/reference/torch_vqvae.py, with the same parameter names, so a
// checkpoint loads into that PyTorch module:
//
//	encoder: log2(f) strided 4x4 convs each followed by ReLU, a 3x3 conv, residual
//	         blocks, ReLU, a 1x1 conv to D channels ("pre")
//	decoder: a 3x3 conv from D channels, residual blocks, ReLU, log2(f)
//	         transposed 4x4 stride-2 convs (ReLU between)
//	residual block: x + conv1x1(relu(conv3x3(relu(x)))), no biases
//
// Pixels enter in [0, 1] and the networks see x - 0.5.
package vqvae

import (
	"fmt"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
)

// resBlock is x + c2(relu(c1(relu(x)))). Wherever a ReLU directly follows
// a convolution in these networks it is fused into it (Conv2d.ReLU), which
// saves two passes over the activations per ReLU; only ReLUs whose input
// is also used elsewhere (here relu(x), x being the skip) stay layers.
type resBlock struct {
	relu1  nn.ReLU
	c1, c2 *nn.Conv2d // c1 with its ReLU fused, c2 adding the skip
	acc    nn.Accumulate
}

func newResBlock(name string, h, rh int, rng *nn.RNG) *resBlock {
	r := &resBlock{
		c1: nn.NewConv2d(name+".c1", h, rh, 3, 1, 1, false, rng),
		c2: nn.NewConv2d(name+".c2", rh, h, 1, 1, 0, false, rng),
	}
	r.c1.ReLU = true
	return r
}

func (r *resBlock) Forward(x *nn.Tensor) *nn.Tensor {
	return r.c2.ForwardAdd(r.c1.Forward(r.relu1.Forward(x)), x)
}

// Backward passes dy to the branch as it is (c2 only reads it) and adds it
// to the branch's input gradient for the skip.
func (r *resBlock) Backward(dy *nn.Tensor) *nn.Tensor {
	d := r.relu1.Backward(r.c1.Backward(r.c2.Backward(dy)))
	r.acc.Into(d, dy)
	return d
}

func (r *resBlock) Params() []*nn.Param { return append(r.c1.Params(), r.c2.Params()...) }

// Encoder maps [N, C, H, W] images to [N, D, H/f, W/f] vectors.
type Encoder struct {
	down    []*nn.Conv2d // each with its ReLU fused
	mid     *nn.Conv2d
	res     []*resBlock
	preRelu nn.ReLU
	pre     *nn.Conv2d
}

// Decoder maps [N, D, h, w] quantized vectors to [N, C, h*f, w*f] images.
type Decoder struct {
	in     *nn.Conv2d
	res    []*resBlock
	upRelu nn.ReLU               // before the first transposed conv
	up     []*nn.ConvTranspose2d // all but the last with the next ReLU fused
}

// Model is the whole VQ-VAE.
type Model struct {
	Cfg   configs.VQVAE
	Image configs.Data
	Enc   *Encoder
	VQ    *Quantizer
	Dec   *Decoder
}

func log2(f int) int {
	n := 0
	for f > 1 {
		f >>= 1
		n++
	}
	return n
}

// New builds a VQ-VAE for images of data's size and channels.
func New(cfg configs.VQVAE, data configs.Data, rng *nn.RNG) (*Model, error) {
	if data.ImageSize%cfg.Downsample != 0 {
		return nil, fmt.Errorf("vqvae: image size %d does not divide by downsampling factor %d", data.ImageSize, cfg.Downsample)
	}
	h, rh, c := cfg.Hidden, cfg.ResHidden, data.Channels
	n := log2(cfg.Downsample)
	enc := &Encoder{}
	for i := 0; i < n; i++ {
		in, out := h/2, h/2
		if i == 0 {
			in = c
		}
		if i == n-1 {
			out = h
		}
		d := nn.NewConv2d(fmt.Sprintf("enc.c%d", i+1), in, out, 4, 2, 1, true, rng)
		d.ReLU = true
		enc.down = append(enc.down, d)
	}
	enc.mid = nn.NewConv2d(fmt.Sprintf("enc.c%d", n+1), h, h, 3, 1, 1, true, rng)
	for i := 0; i < cfg.ResBlocks; i++ {
		enc.res = append(enc.res, newResBlock(fmt.Sprintf("enc.res.%d", i), h, rh, rng))
	}
	enc.pre = nn.NewConv2d("enc.pre", h, cfg.D, 1, 1, 0, true, rng)

	vq := NewQuantizer(cfg.K, cfg.D, float32(cfg.Beta), cfg.Codebook == "ema", float32(cfg.EMADecay), float32(cfg.EMAEps), rng)

	dec := &Decoder{in: nn.NewConv2d("dec.c1", cfg.D, h, 3, 1, 1, true, rng)}
	for i := 0; i < cfg.ResBlocks; i++ {
		dec.res = append(dec.res, newResBlock(fmt.Sprintf("dec.res.%d", i), h, rh, rng))
	}
	for i := 0; i < n; i++ {
		in, out := h/2, h/2
		if i == 0 {
			in = h
		}
		if i == n-1 {
			out = c
		}
		t := nn.NewConvTranspose2d(fmt.Sprintf("dec.t%d", i+1), in, out, 4, 2, 1, true, rng)
		t.ReLU = i < n-1
		dec.up = append(dec.up, t)
	}
	return &Model{Cfg: cfg, Image: data, Enc: enc, VQ: vq, Dec: dec}, nil
}

// Forward maps images (already shifted to [-0.5, 0.5]) to encoder vectors.
func (e *Encoder) Forward(x *nn.Tensor) *nn.Tensor {
	for _, c := range e.down {
		x = c.Forward(x)
	}
	x = e.mid.Forward(x)
	for _, r := range e.res {
		x = r.Forward(x)
	}
	return e.pre.Forward(e.preRelu.Forward(x))
}

// Backward returns dL/dx for the images; the encoder's parameter gradients
// accumulate.
func (e *Encoder) Backward(dz *nn.Tensor) *nn.Tensor {
	d := e.preRelu.Backward(e.pre.Backward(dz))
	for i := len(e.res) - 1; i >= 0; i-- {
		d = e.res[i].Backward(d)
	}
	d = e.mid.Backward(d)
	for i := len(e.down) - 1; i >= 0; i-- {
		d = e.down[i].Backward(d)
	}
	return d
}

// Params lists the encoder's parameters in PyTorch's order.
func (e *Encoder) Params() []*nn.Param {
	var ps []*nn.Param
	for _, c := range e.down {
		ps = append(ps, c.Params()...)
	}
	ps = append(ps, e.mid.Params()...)
	for _, r := range e.res {
		ps = append(ps, r.Params()...)
	}
	return append(ps, e.pre.Params()...)
}

// Forward maps quantized vectors to images in [-0.5, 0.5] (unclamped).
func (d *Decoder) Forward(q *nn.Tensor) *nn.Tensor {
	x := d.in.Forward(q)
	for _, r := range d.res {
		x = r.Forward(x)
	}
	x = d.upRelu.Forward(x)
	for _, t := range d.up {
		x = t.Forward(x)
	}
	return x
}

// Backward returns dL/dq.
func (d *Decoder) Backward(dy *nn.Tensor) *nn.Tensor {
	g := dy
	for i := len(d.up) - 1; i >= 0; i-- {
		g = d.up[i].Backward(g)
	}
	g = d.upRelu.Backward(g)
	for i := len(d.res) - 1; i >= 0; i-- {
		g = d.res[i].Backward(g)
	}
	return d.in.Backward(g)
}

// Params lists the decoder's parameters in PyTorch's order.
func (d *Decoder) Params() []*nn.Param {
	ps := d.in.Params()
	for _, r := range d.res {
		ps = append(ps, r.Params()...)
	}
	for _, t := range d.up {
		ps = append(ps, t.Params()...)
	}
	return ps
}

// Params lists every learned parameter: encoder, codebook, decoder.
func (m *Model) Params() []*nn.Param {
	ps := m.Enc.Params()
	ps = append(ps, m.VQ.Codebook)
	return append(ps, m.Dec.Params()...)
}

// GridSize is the code grid's height and width.
func (m *Model) GridSize() (int, int) {
	s := m.Image.ImageSize / m.Cfg.Downsample
	return s, s
}
