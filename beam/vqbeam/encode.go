package vqbeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

// DefaultEncodeBatch is the number of images an encode worker decodes and
// encodes together, the batch vqgen encode uses.
const DefaultEncodeBatch = 500

// EncodeOptions configures Encode.
type EncodeOptions struct {
	Images Images
	// VQVAE is the checkpoint (vqvae.safetensors) on any Beam file system.
	VQVAE string
	// Out names the code file; with Shards > 1 each shard is
	// ShardName(Out, i, Shards).
	Out    string
	Shards int
	// Batch is the number of images encoded together (0:
	// DefaultEncodeBatch). It changes speed and memory, not the codes.
	Batch int
	// Force replaces existing outputs; without it Encode refuses to start.
	Force bool
}

// Outputs lists the files the pipeline writes, shard by shard.
func (o *EncodeOptions) Outputs() []string { return shardNames(o.Out, o.Shards) }

func shardNames(out string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = ShardName(out, i, n)
	}
	return names
}

// Encoded is one image's code grid on its way to its shard file.
type Encoded struct {
	Rank  int64
	Key   string
	Label int32
	Codes []int32
}

// ShardResult is what writing one shard produced.
type ShardResult struct {
	Shard  int
	Path   string
	Images int64
	Bytes  int64
}

func init() {
	register.DoFn3x1[context.Context, Item, func(int, Encoded), error](&encodeFn{})
	register.Emitter2[int, Encoded]()
	register.DoFn5x1[context.Context, int, func(*Encoded) bool, func(*ShardPlan) bool, func(ShardResult), error](&writeCodesFn{})
	register.Emitter1[ShardResult]()
}

// Encode adds to s a pipeline that encodes every image of opt.Images with
// the VQ-VAE and writes the code grids to opt.Shards code files. Image i
// (in key order) goes to the shard whose range holds it, so the shards read
// one after another hold the images in the order vqgen encode writes them,
// and datasets.MergeCodeFiles makes them one file equal to vqgen encode's.
// The checkpoint is loaded here once, to fail before the pipeline runs and
// to take the header's fields; workers load it again in Setup. It returns
// the PCollection of ShardResult.
func Encode(ctx context.Context, s beam.Scope, opt EncodeOptions) (beam.PCollection, error) {
	if err := opt.Images.validate(); err != nil {
		return beam.PCollection{}, err
	}
	if opt.Shards < 1 {
		return beam.PCollection{}, fmt.Errorf("shards %d: want at least 1", opt.Shards)
	}
	if opt.Out == "" {
		return beam.PCollection{}, errors.New("no output code file given")
	}
	m, err := loadVQVAE(ctx, opt.VQVAE)
	if err != nil {
		return beam.PCollection{}, err
	}
	if !opt.Force {
		if err := checkOutputs(ctx, opt.Outputs()); err != nil {
			return beam.PCollection{}, err
		}
	}
	s = s.Scope("vqgen.Encode")
	items, plans := planImages(s, opt.Images, opt.Shards)
	codes := beam.ParDo(s, &encodeFn{VQVAE: opt.VQVAE, Batch: opt.Batch}, items)
	grouped := beam.CoGroupByKey(s, codes, plans)
	return beam.ParDo(s, &writeCodesFn{Out: opt.Out, Shards: opt.Shards, Header: codeHeader(m)}, grouped), nil
}

// codeHeader is the header of m's code files, less the count and labels.
func codeHeader(m *vqvae.Model) datasets.CodeHeader {
	gh, gw := m.GridSize()
	return datasets.CodeHeader{
		GridH: gh, GridW: gw, K: m.Cfg.K,
		ImageH: m.Image.ImageSize, ImageW: m.Image.ImageSize, Channels: m.Image.Channels,
		Fingerprint: datasets.CodeFingerprint(m.Fingerprint()),
	}
}

// loadVQVAE loads a VQ-VAE checkpoint from any Beam file system.
func loadVQVAE(ctx context.Context, p string) (*vqvae.Model, error) {
	if p == "" {
		return nil, errors.New("no VQ-VAE checkpoint given")
	}
	local, cleanup, err := localCopy(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	m, _, err := vqvae.Load(local)
	if err != nil && local != p {
		err = fmt.Errorf("%s: %w", p, err)
	}
	return m, err
}

// readImage decodes one image file of any Beam file system, resized and
// cropped as vqgen's image folders are.
func readImage(ctx context.Context, p string, size, channels int) ([]float32, error) {
	if isLocal(p) {
		return datasets.ReadImage(p, size, channels)
	}
	// datasets reads image files by path; a remote image goes through a
	// local temporary copy.
	local, cleanup, err := localCopy(ctx, p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	px, err := datasets.ReadImage(local, size, channels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return px, nil
}

// imageBatcher reads and decodes batches of images on all cores into one
// NCHW tensor, the common first step of encode and score.
type imageBatcher struct {
	size, channels int
	x              *nn.Tensor
	pixels         [][]float32
	errs           []error
}

// load decodes the items' files into b.x (len(items) images).
func (b *imageBatcher) load(ctx context.Context, items []Item) (*nn.Tensor, error) {
	n := len(items)
	b.pixels = slices.Grow(b.pixels[:0], n)[:n]
	b.errs = slices.Grow(b.errs[:0], n)[:n]
	nn.ParallelFor(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			b.pixels[i], b.errs[i] = readImage(ctx, items[i].Path, b.size, b.channels)
		}
	})
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	per := b.channels * b.size * b.size
	b.x = nn.Ensure(b.x, n, b.channels, b.size, b.size)
	for i, px := range b.pixels {
		copy(b.x.Data[i*per:(i+1)*per], px)
	}
	return b.x, nil
}

// encodeFn encodes images in batches: Setup loads the VQ-VAE once per
// worker; ProcessElement collects a batch and FinishBundle encodes the rest.
// Each batch is decoded and encoded on all of the worker's cores.
type encodeFn struct {
	VQVAE string
	Batch int

	m       *vqvae.Model
	cells   int
	images  imageBatcher
	pending []Item
	codes   []int32
}

func (f *encodeFn) Setup(ctx context.Context) error {
	m, err := loadVQVAE(ctx, f.VQVAE)
	if err != nil {
		return err
	}
	gh, gw := m.GridSize()
	f.m, f.cells = m, gh*gw
	f.images = imageBatcher{size: m.Image.ImageSize, channels: m.Image.Channels}
	if f.Batch <= 0 {
		f.Batch = DefaultEncodeBatch
	}
	return nil
}

func (f *encodeFn) ProcessElement(ctx context.Context, it Item, emit func(int, Encoded)) error {
	f.pending = append(f.pending, it)
	if len(f.pending) < f.Batch {
		return nil
	}
	return f.flush(ctx, emit)
}

func (f *encodeFn) FinishBundle(ctx context.Context, emit func(int, Encoded)) error {
	return f.flush(ctx, emit)
}

func (f *encodeFn) flush(ctx context.Context, emit func(int, Encoded)) error {
	if len(f.pending) == 0 {
		return nil
	}
	items := f.pending
	f.pending = f.pending[:0]
	x, err := f.images.load(ctx, items)
	if err != nil {
		return err
	}
	n := len(items)
	f.codes = slices.Grow(f.codes[:0], n*f.cells)[:n*f.cells]
	f.m.Encode(x, f.codes)
	for i, it := range items {
		emit(it.Shard, Encoded{Rank: it.Rank, Key: it.Key, Label: it.Label, Codes: slices.Clone(f.codes[i*f.cells : (i+1)*f.cells])})
	}
	progress.done.Add(int64(n))
	return nil
}

// gatherShard collects a shard's records and its plan, checks that exactly
// the planned ranks arrived, and returns the records in rank order.
func gatherShard[T any](shard int, recs func(*T) bool, plans func(*ShardPlan) bool, rank func(*T) int64) ([]T, ShardPlan, error) {
	var sp ShardPlan
	nplans := 0
	for plans(&sp) {
		nplans++
	}
	if nplans != 1 {
		return nil, sp, fmt.Errorf("shard %d: %d plans, want 1", shard, nplans)
	}
	var out []T
	var r T
	for recs(&r) {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b T) int { return int(rank(&a) - rank(&b)) })
	if int64(len(out)) != sp.Count {
		return nil, sp, fmt.Errorf("shard %d: %d images arrived, %d were planned", shard, len(out), sp.Count)
	}
	for i := range out {
		if got := rank(&out[i]); got != sp.First+int64(i) {
			return nil, sp, fmt.Errorf("shard %d: image rank %d where %d was planned", shard, got, sp.First+int64(i))
		}
	}
	return out, sp, nil
}

// writeCodesFn writes one shard's code file.
type writeCodesFn struct {
	Out    string
	Shards int
	Header datasets.CodeHeader
}

func (f *writeCodesFn) ProcessElement(ctx context.Context, shard int, recs func(*Encoded) bool, plans func(*ShardPlan) bool, emit func(ShardResult)) error {
	out, sp, err := gatherShard(shard, recs, plans, func(e *Encoded) int64 { return e.Rank })
	if err != nil {
		return err
	}
	hdr := f.Header
	hdr.Count = sp.Count
	hdr.Labels, hdr.NumClasses = sp.Classes > 0, sp.Classes
	p := ShardName(f.Out, shard, f.Shards)
	var size countingWriter
	err = writeOutput(ctx, p, func(w io.Writer) error {
		size.w = w
		cw, err := datasets.NewCodeWriter(&size, hdr)
		if err != nil {
			return err
		}
		grid := make([]uint16, hdr.Cells())
		for _, e := range out {
			if len(e.Codes) != len(grid) {
				return fmt.Errorf("%s: image %s has %d codes, want %d", p, e.Key, len(e.Codes), len(grid))
			}
			for i, c := range e.Codes {
				grid[i] = uint16(c)
			}
			label := datasets.CodeNoLabel
			if hdr.Labels {
				label = e.Label
			}
			if err := cw.Write(grid, label); err != nil {
				return err
			}
		}
		return cw.Close()
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", shard, err)
	}
	r := ShardResult{Shard: shard, Path: p, Images: sp.Count, Bytes: size.n}
	recordWritten(r)
	emit(r)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
