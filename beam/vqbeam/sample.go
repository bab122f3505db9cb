package vqbeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// decodeBatch bounds the decoder's activations, as vqgen sample does: 250
// MNIST images through a 128-channel decoder take about 100 MB.
const decodeBatch = 250

// SampleOptions configures Sample. The filter fields mean what vqgen
// sample's flags of the same names mean.
type SampleOptions struct {
	VQVAE, Prior string
	N            int
	Seed         uint64
	Temperature  float64 // > 0; 1 leaves the logits as they are
	TopK         int     // 0: off
	TopP         float64 // in (0, 1]; 1: off
	Guidance     float64 // classifier-free guidance weight; 1 (or 0): off
	// Class draws every sample as this class of a conditional prior; -1
	// draws each sample's class uniformly (stratified over all N).
	Class int
	// Out names the code file of the samples; with Shards > 1 each shard is
	// ShardName(Out, i, Shards), holding samples of consecutive indices.
	Out    string
	Shards int
	// PNGDir, if set, also receives one PNG per sample, named as vqgen
	// sample --save-each names them (sample-0000.png, ...).
	PNGDir string
	Batch  int // grids per prior pass (0: sampler.DefaultBatch)
	Force  bool
}

// Outputs lists the code files the pipeline writes, shard by shard.
func (o *SampleOptions) Outputs() []string { return shardNames(o.Out, o.Shards) }

// SampleName is the file name of sample i in PNGDir, vqgen sample's
// --save-each name.
func SampleName(i int) string { return fmt.Sprintf("sample-%04d.png", i) }

// options checks the filter settings against the prior and returns the
// sampler options for all N samples (without the per-sample classes).
func (o *SampleOptions) options(info prior.Info) (sampler.Options, error) {
	opt := sampler.Options{N: o.N, Temperature: float32(o.Temperature), TopK: o.TopK, TopP: float32(o.TopP),
		Seed: o.Seed, Batch: o.Batch, Guidance: float32(o.Guidance)}
	switch {
	case o.N < 1:
		return opt, fmt.Errorf("n %d: want at least 1 sample", o.N)
	case !(o.Temperature > 0) || math.IsInf(o.Temperature, 1):
		return opt, fmt.Errorf("temperature %g: want a finite value > 0", o.Temperature)
	case o.TopK < 0:
		return opt, fmt.Errorf("top-k %d: want >= 0 (0 turns it off)", o.TopK)
	case !(o.TopP > 0 && o.TopP <= 1):
		return opt, fmt.Errorf("top-p %g: want a value in (0, 1] (1 turns it off)", o.TopP)
	case !(o.Guidance >= 0) || math.IsInf(o.Guidance, 1):
		return opt, fmt.Errorf("guidance %g: want a finite value >= 0 (1 turns it off)", o.Guidance)
	case o.Guidance != 1 && o.Guidance != 0 && info.Classes == 0:
		return opt, fmt.Errorf("guidance %g: the prior is unconditional (trained without labels); guidance needs a class-conditional prior (1 turns it off)", o.Guidance)
	case o.Class < -1:
		return opt, fmt.Errorf("class %d: want a class 0 to %d, or -1 for none", o.Class, max(info.Classes-1, 0))
	case o.Class >= 0 && info.Classes == 0:
		return opt, fmt.Errorf("class %d: the prior is unconditional (trained without labels), so it cannot draw a class", o.Class)
	case o.Class >= info.Classes && info.Classes > 0:
		return opt, fmt.Errorf("class %d: the prior has classes 0 to %d", o.Class, info.Classes-1)
	case o.Shards < 1:
		return opt, fmt.Errorf("shards %d: want at least 1", o.Shards)
	case o.Shards > o.N:
		return opt, fmt.Errorf("shards %d: more shards than the %d samples", o.Shards, o.N)
	case o.Batch < 0:
		return opt, fmt.Errorf("batch %d: want >= 0 (0: %d)", o.Batch, sampler.DefaultBatch)
	}
	return opt, nil
}

// SampleShard is one shard's share of the samples: indices [Lo, Hi).
type SampleShard struct {
	Shard, Lo, Hi int
}

func init() {
	register.DoFn3x1[context.Context, SampleShard, func(ShardResult), error](&sampleFn{})
}

// Sample adds to s a pipeline that draws opt.N samples as opt.Shards
// independent shards of consecutive indices. Sample i is grid i of the N
// grids vqgen sample draws with the same seed and options
// (sampler.SampleRange), so every sharding gives the same samples, and the
// shards merged in order equal vqgen sample --codes. It returns the
// PCollection of ShardResult.
func Sample(ctx context.Context, s beam.Scope, opt SampleOptions) (beam.PCollection, error) {
	none := beam.PCollection{}
	if opt.Out == "" {
		return none, errors.New("no output code file given")
	}
	m, ck, err := loadPair(ctx, opt.VQVAE, opt.Prior)
	if err != nil {
		return none, err
	}
	sopt, err := opt.options(ck.Prior.Info())
	if err != nil {
		return none, err
	}
	if !opt.Force {
		outs := opt.Outputs()
		if opt.PNGDir != "" {
			for i := range opt.N {
				outs = append(outs, joinPath(opt.PNGDir, SampleName(i)))
			}
		}
		if err := checkOutputs(ctx, outs); err != nil {
			return none, err
		}
	}
	shards := make([]SampleShard, opt.Shards)
	for i := range shards {
		shards[i] = SampleShard{Shard: i, Lo: i * opt.N / opt.Shards, Hi: (i + 1) * opt.N / opt.Shards}
	}
	progress.total.Store(int64(opt.N))
	s = s.Scope("vqgen.Sample")
	work := beam.Reshuffle(s, beam.CreateList(s, shards))
	fn := &sampleFn{VQVAE: opt.VQVAE, Prior: opt.Prior, Options: sopt, Class: opt.Class,
		Out: opt.Out, Shards: opt.Shards, PNGDir: opt.PNGDir, Header: codeHeader(m)}
	return beam.ParDo(s, fn, work), nil
}

// sampleFn draws and writes one shard of samples; the models are loaded
// once per worker.
type sampleFn struct {
	VQVAE, Prior string
	Options      sampler.Options // without Classes
	Class        int
	Out          string
	Shards       int
	PNGDir       string
	Header       datasets.CodeHeader

	m *vqvae.Model
	p prior.Prior
}

func (f *sampleFn) Setup(ctx context.Context) error {
	m, ck, err := loadPair(ctx, f.VQVAE, f.Prior)
	if err != nil {
		return err
	}
	f.m, f.p = m, ck.Prior
	return nil
}

func (f *sampleFn) ProcessElement(ctx context.Context, sh SampleShard, emit func(ShardResult)) error {
	opt := f.Options
	if f.Class >= 0 {
		opt.Classes = make([]int32, opt.N)
		for i := range opt.Classes {
			opt.Classes[i] = int32(f.Class)
		}
	}
	var done int64
	g, err := sampler.SampleRange(f.p, opt, sh.Lo, sh.Hi, func(d, total int) {
		// Cells to samples, for the in-process progress line.
		now := int64(d * (sh.Hi - sh.Lo) / total)
		progress.done.Add(now - done)
		done = now
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", sh.Shard, err)
	}
	p := ShardName(f.Out, sh.Shard, f.Shards)
	hdr := f.Header
	hdr.Count = int64(g.N)
	if g.Classes != nil {
		hdr.Labels, hdr.NumClasses = true, f.p.Info().Classes
	}
	var size countingWriter
	err = writeOutput(ctx, p, func(w io.Writer) error {
		size.w = w
		cw, err := datasets.NewCodeWriter(&size, hdr)
		if err != nil {
			return err
		}
		grids := make([]uint16, len(g.Codes))
		for i, c := range g.Codes {
			grids[i] = uint16(c)
		}
		if err := cw.WriteBatch(grids, g.Classes); err != nil {
			return err
		}
		return cw.Close()
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", sh.Shard, err)
	}
	if f.PNGDir != "" {
		if err := f.writePNGs(ctx, g, sh.Lo); err != nil {
			return fmt.Errorf("shard %d: %w", sh.Shard, err)
		}
	}
	r := ShardResult{Shard: sh.Shard, Path: p, Images: int64(g.N), Bytes: size.n}
	recordWritten(r)
	emit(r)
	return nil
}

// writePNGs decodes the grids and writes sample lo+i for grid i.
func (f *sampleFn) writePNGs(ctx context.Context, g *sampler.Grids, lo int) error {
	hw := g.H * g.W
	for a := 0; a < g.N; a += decodeBatch {
		b := min(a+decodeBatch, g.N)
		t, err := f.m.Decode(g.Codes[a*hw:b*hw], b-a)
		if err != nil {
			return err
		}
		ims, c, h, w, err := datasets.TensorImages(t)
		if err != nil {
			return err
		}
		for i, im := range ims {
			err := writeOutput(ctx, joinPath(f.PNGDir, SampleName(lo+a+i)), func(wr io.Writer) error {
				return datasets.EncodePNG(wr, im, c, h, w)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
