package vqbeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
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
// the VQ-VAE and writes the code grids, with their keys, to opt.Shards code
// files. Image i (in key order) goes to the shard whose range holds it, so
// the shards read one after another hold the images in the order vqgen
// encode writes them, and `vqgen codes merge` makes them one file equal to
// vqgen encode's. The checkpoint is loaded here once, to fail before the
// pipeline runs and to take the header's fields and the label mode (the
// VQ-VAE's data.labels, as vqgen encode takes it, unless opt.Images.Labels
// says otherwise); workers load it again in Setup. It returns the
// PCollection of ShardResult.
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
	v, err := loadVQVAE(ctx, opt.VQVAE)
	if err != nil {
		return beam.PCollection{}, err
	}
	hdr, err := codeHeader(v)
	if err != nil {
		return beam.PCollection{}, err
	}
	if !opt.Force {
		if err := checkOutputs(ctx, opt.Outputs()); err != nil {
			return beam.PCollection{}, err
		}
	}
	im := opt.Images.withLabels(v.Config().Data.Labels)
	s = s.Scope("vqgen.Encode")
	items, plans := planImages(s, im, opt.Shards)
	codes := beam.ParDo(s, &encodeFn{VQVAE: opt.VQVAE, Batch: opt.Batch}, items)
	grouped := beam.CoGroupByKey(s, codes, plans)
	return beam.ParDo(s, &writeCodesFn{Out: opt.Out, Shards: opt.Shards, Header: hdr}, grouped), nil
}

// codeHeader is the header of v's code files of an image folder, less the
// count and labels: the header vqgen encode writes.
func codeHeader(v *app.VQVAE) (datasets.CodeHeader, error) {
	fp, err := datasets.ParseCodeFingerprint(v.Fingerprint())
	if err != nil {
		return datasets.CodeHeader{}, err
	}
	sh := v.Shape()
	return datasets.CodeHeader{
		GridH: sh.GridH, GridW: sh.GridW, K: sh.K,
		ImageH: sh.Size, ImageW: sh.Size, Channels: sh.Channels,
		Keys: true, Fingerprint: fp,
	}, nil
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

// readImages reads and decodes the items' files on all cores, the common
// first step of encode and score.
func readImages(ctx context.Context, items []Item, sh app.Shape) ([][]float32, error) {
	n := len(items)
	pixels := make([][]float32, n)
	errs := make([]error, n)
	nn.ParallelFor(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			pixels[i], errs[i] = readImage(ctx, items[i].Path, sh.Size, sh.Channels)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pixels, nil
}

// encodeFn encodes images in batches: Setup loads the VQ-VAE once per
// worker; ProcessElement collects a batch and FinishBundle encodes the rest.
// Each batch is decoded on all of the worker's cores and encoded by
// app.VQVAE.Encode, as vqgen encode encodes, whose layers use all cores too.
type encodeFn struct {
	VQVAE string
	Batch int

	v     *app.VQVAE
	batch bundleBatch
}

func (f *encodeFn) Setup(ctx context.Context) error {
	v, err := loadVQVAE(ctx, f.VQVAE)
	if err != nil {
		return err
	}
	f.v = v
	if f.Batch <= 0 {
		f.Batch = DefaultEncodeBatch
	}
	return nil
}

func (f *encodeFn) ProcessElement(ctx context.Context, it Item, emit func(int, Encoded)) error {
	return f.encode(ctx, f.batch.add(it, f.Batch), emit)
}

func (f *encodeFn) FinishBundle(ctx context.Context, emit func(int, Encoded)) error {
	return f.encode(ctx, f.batch.rest(), emit)
}

func (f *encodeFn) encode(ctx context.Context, items []Item, emit func(int, Encoded)) error {
	if len(items) == 0 {
		return nil
	}
	sh := f.v.Shape()
	images, err := readImages(ctx, items, sh)
	if err != nil {
		return err
	}
	codes, err := f.v.Encode(images)
	if err != nil {
		return err
	}
	cells := sh.Cells()
	for i, it := range items {
		emit(it.Shard, Encoded{Rank: it.Rank, Key: it.Key, Label: it.Label, Codes: codes[i*cells : (i+1)*cells : (i+1)*cells]})
	}
	progress.done.Add(int64(len(items)))
	return nil
}

// bundleBatch collects the items of a bundle into batches for a DoFn that
// works a batch at a time (Beam hands it one element per call).
type bundleBatch struct{ pending []Item }

// add appends it and returns the batch once it holds size items (nil
// before).
func (b *bundleBatch) add(it Item, size int) []Item {
	b.pending = append(b.pending, it)
	if len(b.pending) < size {
		return nil
	}
	return b.rest()
}

// rest returns the items collected so far and starts a new batch.
func (b *bundleBatch) rest() []Item {
	items := b.pending
	b.pending = nil
	return items
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
			if err := cw.WriteKeyed(grid, label, e.Key); err != nil {
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
