package app

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/sampler"
)

// SampleOptions are the settings of one set of samples. Start from
// Models.SampleDefaults, which reads them from the [sample] section of the
// config stored in the prior's checkpoint (the built-in config fills keys it
// lacks), and change only what the caller asks for: decoding a JSON request
// over the defaults does exactly that. The same options give the same
// images, whatever the batch size or the number of cores.
type SampleOptions struct {
	// N is the number of images ([sample] n).
	N int `json:"n"`
	// Seed seeds the draw ([sample] seed).
	Seed uint64 `json:"seed"`
	// Temperature divides the logits: < 1 sharper and more typical, > 1
	// more varied ([sample] temperature).
	Temperature float64 `json:"temperature"`
	// TopK keeps the k most likely codes of every cell; 0 is off
	// ([sample] top_k).
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of codes with this probability mass
	// (nucleus sampling); 1 is off ([sample] top_p).
	TopP float64 `json:"top_p"`
	// Guidance is the classifier-free guidance weight of a conditional
	// prior: 1 (or 0) is off, 1.5 to 3 makes classes more recognisable at
	// some cost in variety, and costs two prior passes per cell
	// ([sample] guidance for a conditional prior, 1 for an unconditional
	// one, which refuses any other value).
	Guidance float64 `json:"guidance"`
	// Class draws every image as this class (conditional priors); -1
	// gives each image a class drawn uniformly, stratified so that ten or
	// more images cover every class.
	Class int `json:"class"`
	// PerClass > 0 draws PerClass images of every class in turn (class
	// 0 first) instead of N images: N becomes classes*PerClass and Class
	// must be -1. Conditional priors only.
	PerClass int `json:"per_class"`
	// Batch is the number of grids per prior pass (0: 256); it changes
	// speed and memory, never the images.
	Batch int `json:"batch,omitempty"`
}

// SampleDefaults returns the sampling settings of the prior's stored config.
func (m *Models) SampleDefaults() SampleOptions {
	s := m.ck.Config.Sample
	o := SampleOptions{N: s.N, Seed: s.Seed, Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP, Guidance: 1, Class: -1}
	if m.ck.Prior.Info().Classes > 0 {
		o.Guidance = s.Guidance
	}
	return o
}

// checkFilter validates the filters shared by sampling and raster edits.
func checkFilter(temperature float64, topK int, topP float64) error {
	if !(temperature > 0) || math.IsInf(temperature, 1) {
		return optionErr("temperature", "%g: want a finite value > 0", temperature)
	}
	if topK < 0 {
		return optionErr("top_k", "%d: want >= 0 (0 turns it off)", topK)
	}
	if !(topP > 0 && topP <= 1) {
		return optionErr("top_p", "%g: want a value in (0, 1] (1 turns it off)", topP)
	}
	return nil
}

// resolve checks o against the prior and turns it into sampler options.
func (m *Models) resolve(o SampleOptions) (SampleOptions, sampler.Options, error) {
	classes := m.ck.Prior.Info().Classes
	if err := checkFilter(o.Temperature, o.TopK, o.TopP); err != nil {
		return o, sampler.Options{}, err
	}
	if err := m.checkClass("class", o.Class); err != nil {
		return o, sampler.Options{}, err
	}
	if !(o.Guidance >= 0) || math.IsInf(o.Guidance, 1) {
		return o, sampler.Options{}, optionErr("guidance", "%g: want a finite value >= 0 (1 turns it off)", o.Guidance)
	}
	if o.Guidance != 1 && o.Guidance != 0 && classes == 0 {
		return o, sampler.Options{}, optionErr("guidance", "%g: the prior is unconditional (trained without labels); guidance needs a class-conditional prior (1 turns it off)", o.Guidance)
	}
	if o.Batch < 0 {
		return o, sampler.Options{}, optionErr("batch", "%d: want >= 0 (0: %d)", o.Batch, sampler.DefaultBatch)
	}
	so := sampler.Options{N: o.N, Temperature: float32(o.Temperature), TopK: o.TopK, TopP: float32(o.TopP), Seed: o.Seed,
		Guidance: float32(o.Guidance), Batch: o.Batch}
	switch {
	case o.PerClass < 0:
		return o, so, optionErr("per_class", "%d: want >= 0 (0 turns it off)", o.PerClass)
	case o.PerClass > 0:
		if classes == 0 {
			return o, so, optionErr("per_class", "%d: the prior is unconditional (trained without labels), so it has no classes to draw in turn", o.PerClass)
		}
		if o.Class != -1 {
			return o, so, optionErr("per_class", "%d: draws every class in turn, so it cannot go with class %d", o.PerClass, o.Class)
		}
		o.N = classes * o.PerClass
		so.N = o.N
		so.Classes = make([]int32, o.N)
		for i := range so.Classes {
			so.Classes[i] = int32(i / o.PerClass)
		}
	case o.Class >= 0:
		so.Classes = make([]int32, o.N)
		for i := range so.Classes {
			so.Classes[i] = int32(o.Class)
		}
	}
	if o.N <= 0 {
		return o, so, optionErr("n", "%d: want at least 1 image", o.N)
	}
	return o, so, nil
}

// Samples is a drawn set: the grids, their classes and the decoded images.
type Samples struct {
	// Options are the settings the set was drawn with, resolved (N set
	// for PerClass): passing them to Sample again draws the same set.
	Options SampleOptions `json:"options"`
	Shape   Shape         `json:"shape"`
	Codes   []int32       `json:"-"` // N grids
	Classes []int32       `json:"-"` // N, nil for an unconditional prior
	Images  [][]float32   `json:"-"` // N images
	// Seconds is the time of sampling and decoding together, what a user
	// waits for; ImagesPerSec is N / Seconds.
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_s"`
}

// Sample draws a set of images: code grids from the prior in raster order,
// decoded by the VQ-VAE. Cancelling ctx stops it between grid cells.
func (m *Models) Sample(ctx context.Context, o SampleOptions, prog Progress) (*Samples, error) {
	o, so, err := m.resolve(o)
	if err != nil {
		return nil, err
	}
	return m.draw(ctx, o, o.N, true, prog, func(progress func(done, total int)) (*sampler.Grids, error) {
		return sampler.Sample(m.ck.Prior, so, progress)
	})
}

// draw runs one sampler call over n grids under the models' lock, with
// progress by cells and cancellation between them, and decodes the grids
// when decode is set.
func (m *Models) draw(ctx context.Context, o SampleOptions, n int, decode bool, prog Progress, run func(progress func(done, total int)) (*sampler.Grids, error)) (*Samples, error) {
	prog = nop(prog)
	m.mu.Lock()
	defer m.mu.Unlock()
	hw := m.VQVAE.Shape().Cells()
	start := time.Now()
	prog.Begin(Phase{Name: "sample", Total: n * hw, Every: max(1, n*hw/10), Item: "cell"})
	var g *sampler.Grids
	err := cancellable(ctx, func(check func()) (err error) {
		g, err = run(func(done, _ int) {
			check()
			prog.Update(done)
		})
		return err
	})
	prog.End()
	if err != nil {
		return nil, err
	}
	s := &Samples{Options: o, Shape: m.VQVAE.Shape(), Codes: g.Codes, Classes: g.Classes}
	if decode {
		if s.Images, err = m.VQVAE.Decode(g.Codes, g.N); err != nil {
			return nil, err
		}
	}
	s.Seconds = time.Since(start).Seconds()
	s.ImagesPerSec = float64(g.N) / s.Seconds
	return s, nil
}

// SampleFiles names the files Samples.Save writes; empty names are skipped.
type SampleFiles struct {
	// Grid is one PNG of every image in a near-square grid, or one row
	// per class when the set was drawn with PerClass.
	Grid string `json:"grid"`
	// Each is a folder that gets one PNG per image: sample-0000.png, ...
	Each string `json:"each"`
	// Codes is a code file of the grids, with their classes as labels,
	// that vqgen decode and eval prior read.
	Codes string `json:"codes"`
	// Force replaces existing files.
	Force bool `json:"force"`
}

// Paths lists the single files among f (not the Each folder).
func (f SampleFiles) Paths() []string { return []string{f.Grid, f.Codes} }

// Save writes the set's files.
func (s *Samples) Save(v *VQVAE, classes int, f SampleFiles) error {
	if err := CheckOutputs(f.Force, f.Paths()...); err != nil {
		return err
	}
	c, size := s.Shape.Channels, s.Shape.Size
	if f.Grid != "" {
		cols := GridCols(len(s.Images))
		if s.Options.PerClass > 0 {
			cols = s.Options.PerClass
		}
		if err := WriteGridPNG(f.Grid, s.Images, c, size, cols, f.Force); err != nil {
			return err
		}
	}
	if f.Each != "" {
		if err := writeEach(f.Each, s.Images, c, size, f.Force); err != nil {
			return err
		}
	}
	if f.Codes != "" {
		if err := writeGridCodes(f.Codes, v, s.Codes, s.Classes, len(s.Images), classes, f.Force); err != nil {
			return err
		}
	}
	return nil
}

// SaveSamples writes a set drawn by m (see Samples.Save).
func (m *Models) SaveSamples(s *Samples, f SampleFiles) error {
	return s.Save(m.VQVAE, m.ck.Prior.Info().Classes, f)
}

// cancelled carries a context's error out of a sampler callback.
type cancelled struct{ err error }

// cancellable runs fn, whose check function stops it (by unwinding to here)
// once ctx is done: the sampler reports progress between grid cells from
// the calling goroutine, and that is where it stops.
func cancellable(ctx context.Context, fn func(check func()) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(cancelled)
			if !ok {
				panic(r)
			}
			err = c.err
		}
	}()
	return fn(func() {
		if err := ctx.Err(); err != nil {
			panic(cancelled{err})
		}
	})
}

// String names the settings that shape the draw, leaving out filters that
// are off: "temperature 0.9, top-p 0.9, guidance 1.5".
func (o SampleOptions) String() string {
	s := fmt.Sprintf("temperature %g", o.Temperature)
	if o.TopK > 0 {
		s += fmt.Sprintf(", top-k %d", o.TopK)
	}
	if o.TopP < 1 {
		s += fmt.Sprintf(", top-p %g", o.TopP)
	}
	if o.Guidance != 1 && o.Guidance != 0 {
		s += fmt.Sprintf(", guidance %g", o.Guidance)
	}
	return s
}

// BuiltinSample is the built-in config's [sample] section: the defaults of
// a prior whose stored config lacks the keys.
func BuiltinSample() configs.Sample { return configs.Default().Sample }

// BuiltinEdit is the built-in config's [edit] section.
func BuiltinEdit() configs.Edit { return configs.Default().Edit }
