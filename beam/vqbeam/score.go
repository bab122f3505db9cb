package vqbeam

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/app"
)

// Score output formats.
const (
	FormatText  = "text"  // KEY <tab> NLL bits, one image per line
	FormatJSONL = "jsonl" // {"image": KEY, "label": L, "nll_bits": B}, one per line
)

// ScoreOptions configures Score.
type ScoreOptions struct {
	Images Images
	// VQVAE and Prior are the checkpoints; the prior must have been
	// trained on the VQ-VAE's codes.
	VQVAE, Prior string
	// Class scores every image under this class of a conditional prior;
	// -1 uses each image's label (its class folder).
	Class int
	// Out names the output; with Shards > 1 each shard is
	// ShardName(Out, i, Shards). Lines are in key order within and across
	// shards.
	Out    string
	Shards int
	// Format is FormatText or FormatJSONL; "" picks JSON lines for a .jsonl
	// or .json name and text otherwise.
	Format string
	Batch  int // images per pass (0: DefaultEncodeBatch)
	Force  bool
}

// Outputs lists the files the pipeline writes, shard by shard.
func (o *ScoreOptions) Outputs() []string { return shardNames(o.Out, o.Shards) }

func (o *ScoreOptions) format() (string, error) {
	switch o.Format {
	case FormatText, FormatJSONL:
		return o.Format, nil
	case "":
		if e := path.Ext(o.Out); e == ".jsonl" || e == ".json" {
			return FormatJSONL, nil
		}
		return FormatText, nil
	}
	return "", fmt.Errorf("format %q: want %s or %s", o.Format, FormatText, FormatJSONL)
}

// Scored is one image's negative log-likelihood under the prior.
type Scored struct {
	Rank  int64
	Key   string
	Label int32
	Bits  float64
}

// ScoreLine is one line of JSON-lines output.
type ScoreLine struct {
	Image string  `json:"image"`
	Label *int32  `json:"label,omitempty"`
	Bits  float64 `json:"nll_bits"`
}

func init() {
	register.DoFn3x1[context.Context, Item, func(int, Scored), error](&scoreFn{})
	register.Emitter2[int, Scored]()
	register.DoFn5x1[context.Context, int, func(*Scored) bool, func(*ShardPlan) bool, func(ShardResult), error](&writeScoresFn{})
}

// Score adds to s a pipeline that encodes every image of opt.Images with the
// VQ-VAE and writes -log2 p(codes) under the prior for each, as vqgen score
// does: the same bits for the same image. It returns the PCollection of
// ShardResult.
func Score(ctx context.Context, s beam.Scope, opt ScoreOptions) (beam.PCollection, error) {
	none := beam.PCollection{}
	if err := opt.Images.validate(); err != nil {
		return none, err
	}
	if opt.Shards < 1 {
		return none, fmt.Errorf("shards %d: want at least 1", opt.Shards)
	}
	if opt.Out == "" {
		return none, errors.New("no output file given")
	}
	format, err := opt.format()
	if err != nil {
		return none, err
	}
	m, err := loadModels(ctx, opt.VQVAE, opt.Prior)
	if err != nil {
		return none, err
	}
	im := opt.Images.withLabels(m.VQVAE.Config().Data.Labels)
	classes := m.Prior().Classes
	switch {
	case opt.Class < -1:
		return none, fmt.Errorf("class %d: want a class of the prior, or -1 for each image's label", opt.Class)
	case opt.Class >= 0 && classes == 0:
		return none, fmt.Errorf("class %d: the prior is unconditional (trained without labels)", opt.Class)
	case opt.Class >= classes && classes > 0:
		return none, fmt.Errorf("class %d: the prior has classes 0 to %d", opt.Class, classes-1)
	case classes > 0 && opt.Class < 0 && im.Labels == LabelsNone:
		return none, fmt.Errorf("the prior is class-conditional: give a class, or labels from class folders")
	}
	if !opt.Force {
		if err := checkOutputs(ctx, opt.Outputs()); err != nil {
			return none, err
		}
	}
	s = s.Scope("vqgen.Score")
	items, plans := planImages(s, im, opt.Shards)
	scores := beam.ParDo(s, &scoreFn{VQVAE: opt.VQVAE, Prior: opt.Prior, Class: opt.Class, Batch: opt.Batch}, items)
	grouped := beam.CoGroupByKey(s, scores, plans)
	return beam.ParDo(s, &writeScoresFn{Out: opt.Out, Shards: opt.Shards, Format: format}, grouped), nil
}

// scoreFn encodes and scores images in batches with app.Models.Score, as
// vqgen score does; the models are loaded once per worker.
type scoreFn struct {
	VQVAE, Prior string
	Class        int
	Batch        int

	m     *app.Models
	batch bundleBatch
}

func (f *scoreFn) Setup(ctx context.Context) error {
	m, err := loadModels(ctx, f.VQVAE, f.Prior)
	if err != nil {
		return err
	}
	f.m = m
	if f.Batch <= 0 {
		f.Batch = DefaultEncodeBatch
	}
	return nil
}

func (f *scoreFn) ProcessElement(ctx context.Context, it Item, emit func(int, Scored)) error {
	return f.score(ctx, f.batch.add(it, f.Batch), emit)
}

func (f *scoreFn) FinishBundle(ctx context.Context, emit func(int, Scored)) error {
	return f.score(ctx, f.batch.rest(), emit)
}

func (f *scoreFn) score(ctx context.Context, items []Item, emit func(int, Scored)) error {
	if len(items) == 0 {
		return nil
	}
	images, err := readImages(ctx, items, f.m.VQVAE.Shape())
	if err != nil {
		return err
	}
	var classes []int32
	if f.m.Prior().Classes > 0 {
		classes = make([]int32, len(items))
		for i, it := range items {
			c := int32(f.Class)
			if f.Class < 0 {
				if it.Label < 0 {
					return fmt.Errorf("%s: the prior is class-conditional but the image has no label (no class folders); give a class", it.Path)
				}
				c = it.Label
			}
			classes[i] = c
		}
	}
	// A grid's bits do not depend on which grids share its batch
	// (TestScoreEqualsVqgenScore checks them equal to vqgen score's).
	bits, err := f.m.Score(ctx, images, classes)
	if err != nil {
		return err
	}
	for i, it := range items {
		emit(it.Shard, Scored{Rank: it.Rank, Key: it.Key, Label: it.Label, Bits: bits[i]})
	}
	progress.done.Add(int64(len(items)))
	return nil
}

// writeScoresFn writes one shard of scores, in key order.
type writeScoresFn struct {
	Out    string
	Shards int
	Format string
}

func (f *writeScoresFn) ProcessElement(ctx context.Context, shard int, recs func(*Scored) bool, plans func(*ShardPlan) bool, emit func(ShardResult)) error {
	out, sp, err := gatherShard(shard, recs, plans, func(s *Scored) int64 { return s.Rank })
	if err != nil {
		return err
	}
	p := ShardName(f.Out, shard, f.Shards)
	var size countingWriter
	err = writeOutput(ctx, p, func(w io.Writer) error {
		size.w = w
		bw := bufio.NewWriter(&size)
		if err := writeScores(bw, out, f.Format); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("shard %d: %w", shard, err)
	}
	r := ShardResult{Shard: shard, Path: p, Images: sp.Count, Bytes: size.n}
	recordWritten(r)
	emit(r)
	return nil
}

// writeScores writes scores as text (KEY, a tab, the bits with 4 decimals)
// or JSON lines (the bits in full: the shortest decimal that reads back as
// the same float64).
func writeScores(w io.Writer, scores []Scored, format string) error {
	enc := json.NewEncoder(w)
	var line []byte
	for i := range scores {
		s := &scores[i]
		if format == FormatJSONL {
			l := ScoreLine{Image: s.Key, Bits: s.Bits}
			if s.Label >= 0 {
				l.Label = &s.Label
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
			continue
		}
		line = append(line[:0], s.Key...)
		line = append(line, '\t')
		line = strconv.AppendFloat(line, s.Bits, 'f', 4, 64)
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}
