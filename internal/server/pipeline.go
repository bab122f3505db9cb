package server

// This file is the server's only contact with the stage packages: a thin
// Backend over a loaded VQ-VAE and prior, calling them as cmd/vqgen's
// sample and edit verbs do. It is meant to be replaced by the application
// layer (issue 12) with the same interface.

import (
	"context"
	"fmt"
	"io"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// pair is a Backend over one VQ-VAE and prior checkpoint.
type pair struct {
	m       *vqvae.Model
	ck      *prior.Checkpoint
	info    Info
	test    *datasets.Dataset
	testErr error
	// lock lets one call at a time use the models: their layers reuse
	// buffers, and each call already spreads over every core.
	lock chan struct{}
}

// OpenPair loads a VQ-VAE and the prior trained on its codes, and the test
// split named by the VQ-VAE's config (the images the edit view offers by
// index). A test set that cannot be loaded leaves TestImages 0.
func OpenPair(vqPath, priorPath string) (Backend, error) {
	m, vcfg, err := vqvae.Load(vqPath)
	if err != nil {
		return nil, err
	}
	ck, err := prior.Load(priorPath)
	if err != nil {
		return nil, err
	}
	gh, gw := m.GridSize()
	if err := ck.CheckMatches(m.FingerprintHex(), m.Cfg.K, gh, gw); err != nil {
		return nil, err
	}
	pi := ck.Prior.Info()
	cfg := ck.Config
	b := &pair{m: m, ck: ck, lock: make(chan struct{}, 1)}
	b.info = Info{
		ImageSize: m.Image.ImageSize, Channels: m.Image.Channels, GridH: gh, GridW: gw,
		K: pi.K, Classes: pi.Classes, Arch: pi.Arch,
		Sample: SampleDefaults{N: cfg.Sample.N, Temperature: cfg.Sample.Temperature, TopK: cfg.Sample.TopK,
			TopP: cfg.Sample.TopP, Guidance: cfg.Sample.Guidance, Seed: cfg.Sample.Seed},
		// Edits take the CLI's filter defaults: the [edit] section has
		// none of its own.
		Edit: EditDefaults{Method: cfg.Edit.Method, Sweeps: cfg.Edit.Sweeps, N: cfg.Edit.N,
			Temperature: 1, TopK: 0, TopP: 1, Seed: cfg.Sample.Seed},
	}
	if pi.Classes == 0 {
		b.info.Sample.Guidance = 1
	}
	b.test, b.testErr = vqvae.LoadTest(vcfg)
	if b.testErr == nil {
		b.info.TestSet, b.info.TestImages = b.test.Name, b.test.N
	}
	return b, nil
}

func (b *pair) Info() Info { return b.info }

// aborted is the panic that unwinds a sampler call from its progress
// callback once the context is cancelled: the sampler takes no context.
type aborted struct{}

// use runs f holding the models. f's progress checks ctx between steps.
func (b *pair) use(ctx context.Context, progress Progress, f func(sampler.Progress) error) (err error) {
	select {
	case b.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.lock }()
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(aborted); !ok {
				panic(r)
			}
			err = ctx.Err()
		}
	}()
	return f(func(done, total int) {
		if ctx.Err() != nil {
			panic(aborted{})
		}
		if progress != nil {
			progress(done, total)
		}
	})
}

func (b *pair) encode(px []float32) []int32 {
	s := b.m.Image.ImageSize
	x := nn.NewTensor(1, b.m.Image.Channels, s, s)
	copy(x.Data, px) // Encode shifts its input in place
	gh, gw := b.m.GridSize()
	codes := make([]int32, gh*gw)
	b.m.Encode(x, codes)
	return codes
}

// decode turns n grids into images, a bounded batch at a time.
func (b *pair) decode(codes []int32, n int) ([][]float32, error) {
	const batch = 64
	hw := b.info.GridH * b.info.GridW
	out := make([][]float32, 0, n)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		t, err := b.m.Decode(codes[lo*hw:hi*hw], hi-lo)
		if err != nil {
			return nil, err
		}
		per := len(t.Data) / (hi - lo)
		for i := range hi - lo {
			out = append(out, append([]float32(nil), t.Data[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

func (b *pair) picture(ctx context.Context, px []float32, label int) (*Picture, error) {
	p := &Picture{Pixels: px, Label: label}
	err := b.use(ctx, nil, func(sampler.Progress) error {
		p.Codes = b.encode(px)
		ims, err := b.decode(p.Codes, 1)
		if err == nil {
			p.Recon = ims[0]
		}
		return err
	})
	return p, err
}

func (b *pair) TestImage(ctx context.Context, index int) (*Picture, error) {
	if b.testErr != nil {
		return nil, &FieldError{Field: "index", Err: fmt.Errorf("no test set: %w", b.testErr)}
	}
	if index < 0 || index >= b.test.N {
		return nil, fieldErr("index", fmt.Sprintf("%d: the test set %s has images 0 to %d", index, b.test.Name, b.test.N-1))
	}
	label := -1
	if b.test.Labels != nil {
		label = int(b.test.Labels[index])
	}
	return b.picture(ctx, append([]float32(nil), b.test.Image(index)...), label)
}

func (b *pair) Encode(ctx context.Context, file []byte) (*Picture, error) {
	px, err := datasets.DecodeImage("image", file, b.m.Image.ImageSize, b.m.Image.Channels)
	if err != nil {
		return nil, &FieldError{Field: "image", Err: err}
	}
	return b.picture(ctx, px, -1)
}

func (b *pair) Decode(ctx context.Context, grids [][]int32) ([][]float32, error) {
	var flat []int32
	for _, g := range grids {
		flat = append(flat, g...)
	}
	var ims [][]float32
	err := b.use(ctx, nil, func(sampler.Progress) error {
		var err error
		ims, err = b.decode(flat, len(grids))
		return err
	})
	return ims, err
}

func pick[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

// classes repeats an optional class n times for the sampler.
func classes(c *int, n int) []int32 {
	if c == nil {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(*c)
	}
	return out
}

func (b *pair) Sample(ctx context.Context, o SampleOptions, progress Progress) (*Result, error) {
	d := b.info.Sample
	opt := sampler.Options{N: o.N, Temperature: float32(pick(o.Temperature, d.Temperature)),
		TopK: pick(o.TopK, d.TopK), TopP: float32(pick(o.TopP, d.TopP)), Seed: pick(o.Seed, d.Seed),
		Guidance: float32(pick(o.Guidance, d.Guidance))}
	if opt.N == 0 {
		opt.N = d.N
	}
	opt.Classes = classes(o.Class, opt.N)
	return b.draw(ctx, progress, func(pr sampler.Progress) (*sampler.Grids, error) {
		return sampler.Sample(b.ck.Prior, opt, pr)
	})
}

func (b *pair) Edit(ctx context.Context, o EditOptions, progress Progress) (*Result, error) {
	d := b.info.Edit
	keep := make([]bool, len(o.Redraw))
	for i, r := range o.Redraw {
		keep[i] = !r
	}
	opt := sampler.EditOptions{N: o.N, Method: o.Method, Sweeps: pick(o.Sweeps, d.Sweeps),
		Temperature: float32(pick(o.Temperature, d.Temperature)), TopK: pick(o.TopK, d.TopK),
		TopP: float32(pick(o.TopP, d.TopP)), Seed: pick(o.Seed, d.Seed)}
	if opt.N == 0 {
		opt.N = d.N
	}
	if opt.Method == "" {
		opt.Method = d.Method
	}
	opt.Classes = classes(o.Class, 1)
	return b.draw(ctx, progress, func(pr sampler.Progress) (*sampler.Grids, error) {
		return sampler.Edit(b.ck.Prior, o.Grid, keep, opt, pr)
	})
}

// draw runs a sampler call and decodes its grids.
func (b *pair) draw(ctx context.Context, progress Progress, f func(sampler.Progress) (*sampler.Grids, error)) (*Result, error) {
	var r Result
	err := b.use(ctx, progress, func(pr sampler.Progress) error {
		g, err := f(pr)
		if err != nil {
			return err
		}
		hw := g.H * g.W
		for i := range g.N {
			r.Grids = append(r.Grids, g.Codes[i*hw:(i+1)*hw])
			if g.Classes != nil {
				r.Classes = append(r.Classes, int(g.Classes[i]))
			}
		}
		r.Images, err = b.decode(g.Codes, g.N)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (b *pair) WriteCodes(w io.Writer, grids [][]int32, classes []int) error {
	m := b.m
	hdr := datasets.CodeHeader{
		Count: int64(len(grids)), GridH: b.info.GridH, GridW: b.info.GridW, K: m.Cfg.K,
		ImageH: m.Image.ImageSize, ImageW: m.Image.ImageSize, Channels: m.Image.Channels,
		Labels: classes != nil, Fingerprint: datasets.CodeFingerprint(m.Fingerprint()),
	}
	var labels []int32
	if classes != nil {
		hdr.NumClasses = b.info.Classes
		for _, c := range classes {
			labels = append(labels, int32(c))
		}
	}
	cw, err := datasets.NewCodeWriter(w, hdr)
	if err != nil {
		return err
	}
	var flat []uint16
	for _, g := range grids {
		for _, c := range g {
			flat = append(flat, uint16(c))
		}
	}
	if err := cw.WriteBatch(flat, labels); err != nil {
		return err
	}
	return cw.Close()
}
