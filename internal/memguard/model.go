package memguard

import "github.com/vqgen/vqgen/configs"

// net tallies the float32 buffers of a network the way package nn keeps
// them: every layer owns its output (sized by the largest batch it has
// seen, training or evaluation), its gradients (sized by the training
// batch), scratch per worker goroutine, and per-chunk weight-gradient
// partials whose number grows with the batch.
type net struct {
	params  int64 // learned values
	state   int64 // other values held once (a codebook's moving averages)
	fwd     int64 // forward outputs per item
	bwd     int64 // backward buffers per item
	worker  int64 // scratch per worker, forward and backward
	partial []partial
}

type partial struct {
	positions int   // output positions per item, which fix the chunk size
	size      int64 // floats of one partial (the weight and bias)
}

// pow2Cover is nn's: the smallest power of two c with c*p >= target.
func pow2Cover(p, target int) int {
	c := 1
	for c*p < target {
		c *= 2
	}
	return c
}

// conv adds an nn.Conv2d (kh x kw kernel) from inC channels at h x w to
// outC channels at oh x ow: output, input gradient and the output gradient
// gathered per group; per worker the patch matrix, its gradient and the
// group's output; per chunk of images a weight-gradient partial.
func (n *net) conv(inC, outC, kh, kw, h, w, oh, ow int, bias bool) {
	p, k := oh*ow, inC*kh*kw
	w0 := int64(outC * k)
	if bias {
		w0 += int64(outC)
	}
	gp := int64(pow2Cover(p, 384) * p)
	n.params += w0
	n.fwd += int64(outC * p)
	n.bwd += int64(inC*h*w + outC*p)
	n.worker += (2*int64(k) + int64(outC)) * gp
	n.partial = append(n.partial, partial{p, w0})
}

// convT adds an nn.ConvTranspose2d (k x k) from inC channels at h x w to
// outC channels at oh x ow.
func (n *net) convT(inC, outC, k, h, w, oh, ow int, relu bool) {
	p, r := h*w, outC*k*k
	w0 := int64(inC*r + outC)
	gp := int64(pow2Cover(p, 384) * p)
	n.params += w0
	n.fwd += int64(outC * oh * ow)
	n.bwd += int64(inC * h * w)
	n.worker += (int64(r) + 2*int64(inC)) * gp
	if relu {
		n.worker += int64(outC * oh * ow)
	}
	n.partial = append(n.partial, partial{p, w0})
}

// act adds a layer of size values per item that keeps its output and its
// input gradient (a ReLU, a shift, a residual sum).
func (n *net) act(size int) {
	n.fwd += int64(size)
	n.bwd += int64(size)
}

// partials is the floats of every layer's chunk partials at batch b: nn
// sums a chunk's weight gradient into its own buffer so that the result
// does not depend on the number of cores.
func (n *net) partials(b int) int64 {
	var s int64
	for _, p := range n.partial {
		chunk := pow2Cover(p.positions, 768)
		s += int64((b+chunk-1)/chunk) * p.size
	}
	return s
}

// vqvaeNet is stage one's encoder, quantizer and decoder (see
// stage1_vqvae.New).
func vqvaeNet(v configs.VQVAE, d configs.Data) *net {
	n := &net{}
	s, c, h, rh := d.ImageSize, d.Channels, v.Hidden, v.ResHidden
	levels := 0
	for f := v.Downsample; f > 1; f >>= 1 {
		levels++
	}
	g := s / v.Downsample
	n.act(c * s * s) // the batch and the loss gradient
	size, in := s, c
	for i := range levels {
		out := h / 2
		if i == levels-1 {
			out = h
		}
		n.conv(in, out, 4, 4, size, size, size/2, size/2, true)
		in, size = out, size/2
	}
	n.conv(h, h, 3, 3, g, g, g, g, true)
	res := func() {
		for range v.ResBlocks {
			n.act(h * g * g) // relu(x)
			n.conv(h, rh, 3, 3, g, g, g, g, false)
			n.conv(rh, h, 1, 1, g, g, g, g, false)
			n.act(h * g * g) // the skip's sum
		}
	}
	res()
	n.act(h * g * g)
	n.conv(h, v.D, 1, 1, g, g, g, g, true)
	// Quantizer: the rows, their quantized values and gradient, indices.
	n.fwd += int64(3*v.D*g*g + g*g)
	n.params += int64(v.K * v.D)           // codebook
	n.state += int64(v.K*v.D + 3*v.K)      // its moving sums, counts, last use
	n.conv(v.D, h, 3, 3, g, g, g, g, true) // decoder
	res()
	n.act(h * g * g)
	size, in = g, h
	for i := range levels {
		out := h / 2
		if i == levels-1 {
			out = c
		}
		n.convT(in, out, 4, size, size, 2*size, 2*size, i < levels-1)
		in, size = out, 2*size
	}
	return n
}

// transformerNet is the causal Transformer prior over t = g*g positions
// (see stage2_prior.NewTransformer), per grid.
func transformerNet(tc configs.Transformer, k, g, classes int) *net {
	n := &net{}
	d, m, t := tc.Dim, tc.MLPMult*tc.Dim, g*g
	rows := k + max(1, classes) // code and class embeddings share wte
	if classes > 0 {
		rows++                               // the null class
		n.params += int64((classes + 1) * d) // wcls
	}
	n.params += int64(rows*d + 2*g*d) // wte, row and column positions
	for range tc.Layers {
		n.params += int64(2*d + (3*d*d + 3*d) + (d*d + d) + 2*d + (d*m + m) + (m*d + d))
		// Per position: layer norms, qkv, attention row, heads merged,
		// projection, residuals, the MLP's hidden values before and after
		// the GELU; backward the same gradients.
		n.fwd += int64(t * (10*d + 2*m + tc.Heads*t))
		n.bwd += int64(t * (11*d + 2*m))
		n.worker += int64(t * t)
	}
	n.params += int64(2*d + d*k)
	n.fwd += int64(t * (3*d + k))   // embeddings, final norm, logits
	n.bwd += int64(t * (3*d + 2*k)) // their gradients, the softmax
	return n
}

// pixelCNNNet is the gated PixelCNN prior (see stage2_prior.NewPixelCNN),
// per grid of g x g.
func pixelCNNNet(pc configs.PixelCNN, k, g, classes int) *net {
	n := &net{}
	c, e, hw := pc.Channels, pc.Embed, g*g
	n.params += int64(k * e)
	n.act(e * hw)              // embedded codes
	n.bwd += int64(2 * c * hw) // the gradient of a layer's [h; skip], one buffer for all layers
	for l := range pc.Layers {
		in := c
		if l == 0 {
			in = e
		}
		n.conv(in, 2*c, pc.Kernel, pc.Kernel, g, g, g, g, true)
		n.conv(in, 2*c, 1, pc.Kernel, g, g, g, g, true)
		n.act(2 * c * hw) // shift down
		n.conv(2*c, 2*c, 1, 1, g, g, g, g, true)
		n.conv(c, 2*c, 1, 1, g, g, g, g, true)
		n.fwd += int64(2 * 3 * c * hw) // two gates: output and two halves each
		n.bwd += int64(2 * 2 * c * hw)
		if classes > 0 {
			n.params += int64((classes + 1) * 2 * c)
		}
	}
	n.act(c * hw) // ReLU(skip); the skip sum is h_out's output's second half
	n.conv(c, pc.HeadHidden, 1, 1, g, g, g, g, true)
	n.bwd += int64(pc.HeadHidden * hw)               // the fused ReLU's masked gradient
	n.conv(pc.HeadHidden, k, 1, 1, g, g, g, g, true) // the logits, a row per position
	n.bwd += int64(2 * k * hw)                       // their gradient, the softmax
	return n
}
