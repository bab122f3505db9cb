package vqbeam

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/app"
)

// SampleOptions configures Sample.
type SampleOptions struct {
	VQVAE, Prior string
	// Sample are vqgen sample's settings; start from SampleDefaults (the
	// [sample] section of the prior's config, as vqgen sample does) and
	// change what the user gave.
	Sample app.SampleOptions
	// Out names the code file of the samples; with Shards > 1 each shard is
	// ShardName(Out, i, Shards), holding samples of consecutive indices.
	Out    string
	Shards int
	// PNGDir, if set, also receives one PNG per sample, named as vqgen
	// sample --save-each names them (sample-0000.png, ...).
	PNGDir string
	Force  bool
}

// Outputs lists the code files the pipeline writes, shard by shard.
func (o *SampleOptions) Outputs() []string { return shardNames(o.Out, o.Shards) }

// SampleDefaults are the sampling settings of the prior's stored config,
// what vqgen sample uses for every flag not given.
func SampleDefaults(ctx context.Context, vqvae, prior string) (app.SampleOptions, error) {
	m, err := loadModels(ctx, vqvae, prior)
	if err != nil {
		return app.SampleOptions{}, err
	}
	return m.SampleDefaults(), nil
}

// SampleShard is one shard's share of the samples: indices [Lo, Hi).
type SampleShard struct {
	Shard, Lo, Hi int
}

func init() {
	register.DoFn3x1[context.Context, SampleShard, func(ShardResult), error](&sampleFn{})
}

// Sample adds to s a pipeline that draws the samples of opt.Sample as
// opt.Shards independent shards of consecutive indices. Shard i draws its
// range with app.Models.SampleRange: exactly the grids vqgen sample draws
// there with the same options, so every sharding gives the same samples,
// and the shards merged in order equal vqgen sample --codes. It returns the
// PCollection of ShardResult.
func Sample(ctx context.Context, s beam.Scope, opt SampleOptions) (beam.PCollection, error) {
	none := beam.PCollection{}
	if opt.Out == "" {
		return none, errors.New("no output code file given")
	}
	m, err := loadModels(ctx, opt.VQVAE, opt.Prior)
	if err != nil {
		return none, err
	}
	if err := m.CheckSample(opt.Sample); err != nil {
		return none, err
	}
	n := opt.Sample.N
	if opt.Sample.PerClass > 0 {
		n = m.Prior().Classes * opt.Sample.PerClass
	}
	switch {
	case opt.Shards < 1:
		return none, fmt.Errorf("shards %d: want at least 1", opt.Shards)
	case opt.Shards > n:
		return none, fmt.Errorf("shards %d: more shards than the %d samples", opt.Shards, n)
	}
	if !opt.Force {
		outs := opt.Outputs()
		if opt.PNGDir != "" {
			for i := range n {
				outs = append(outs, joinPath(opt.PNGDir, app.EachName(i)))
			}
		}
		if err := checkOutputs(ctx, outs); err != nil {
			return none, err
		}
	}
	shards := make([]SampleShard, opt.Shards)
	for i := range shards {
		shards[i] = SampleShard{Shard: i, Lo: i * n / opt.Shards, Hi: (i + 1) * n / opt.Shards}
	}
	progress.total.Store(int64(n))
	s = s.Scope("vqgen.Sample")
	work := beam.Reshuffle(s, beam.CreateList(s, shards))
	fn := &sampleFn{VQVAE: opt.VQVAE, Prior: opt.Prior, Options: opt.Sample, Out: opt.Out, Shards: opt.Shards, PNGDir: opt.PNGDir}
	return beam.ParDo(s, fn, work), nil
}

// sampleFn draws and writes one shard of samples; the models are loaded
// once per worker.
type sampleFn struct {
	VQVAE, Prior string
	Options      app.SampleOptions
	Out          string
	Shards       int
	PNGDir       string

	m *app.Models
}

func (f *sampleFn) Setup(ctx context.Context) error {
	m, err := loadModels(ctx, f.VQVAE, f.Prior)
	if err != nil {
		return err
	}
	f.m = m
	return nil
}

func (f *sampleFn) ProcessElement(ctx context.Context, sh SampleShard, emit func(ShardResult)) error {
	set, err := f.m.SampleRange(ctx, f.Options, sh.Lo, sh.Hi, f.PNGDir != "", &cellProgress{samples: sh.Hi - sh.Lo})
	if err != nil {
		return fmt.Errorf("shard %d: %w", sh.Shard, err)
	}
	p := ShardName(f.Out, sh.Shard, f.Shards)
	var size countingWriter
	err = writeOutput(ctx, p, func(w io.Writer) error {
		size.w = w
		return f.m.WriteCodes(&size, set.Codes, set.Classes)
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", sh.Shard, err)
	}
	for i, im := range set.Images {
		err := writeOutput(ctx, joinPath(f.PNGDir, app.EachName(sh.Lo+i)), func(w io.Writer) error {
			return app.EncodePNG(w, im, set.Shape.Channels, set.Shape.Size)
		})
		if err != nil {
			return fmt.Errorf("shard %d: %w", sh.Shard, err)
		}
	}
	r := ShardResult{Shard: sh.Shard, Path: p, Images: int64(sh.Hi - sh.Lo), Bytes: size.n}
	recordWritten(r)
	emit(r)
	return nil
}

// cellProgress turns a shard's sampled cells into samples done, for the
// in-process progress line.
type cellProgress struct {
	samples     int
	total, done int
}

func (c *cellProgress) Begin(p app.Phase) { c.total, c.done = p.Total, 0 }
func (c *cellProgress) Update(cells int, _ ...app.Field) {
	if c.total <= 0 {
		return
	}
	now := cells * c.samples / c.total
	progress.done.Add(int64(now - c.done))
	c.done = now
}
func (c *cellProgress) Note(string) {}
func (c *cellProgress) End()        {}
