package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/configs"
)

// recorder is a Progress that keeps what it was told, and can cancel a
// context after a given number of updates.
type recorder struct {
	mu      sync.Mutex
	phases  []Phase
	updates int
	notes   []string
	cancel  func()
	after   int
}

func (r *recorder) Begin(p Phase) { r.mu.Lock(); r.phases = append(r.phases, p); r.mu.Unlock() }
func (r *recorder) Update(int, ...Field) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates++
	if r.cancel != nil && r.updates == r.after {
		r.cancel()
	}
}
func (r *recorder) Note(msg string) { r.mu.Lock(); r.notes = append(r.notes, msg); r.mu.Unlock() }
func (r *recorder) End()            {}

// tinyConfig is configs/tiny.toml cut further, with [sample] and [edit]
// settings unlike the built-in ones so that tests see where defaults come
// from.
func tinyConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.TrainLimit, cfg.Data.ValCount, cfg.Data.TestLimit = 800, 200, 100
	cfg.Prior.ValCount = 200
	cfg.VQVAE.Train.Steps, cfg.VQVAE.Train.EvalEvery, cfg.VQVAE.Train.CheckpointEvery = 12, 6, 6
	cfg.Prior.Train.Steps, cfg.Prior.Train.EvalEvery, cfg.Prior.Train.CheckpointEvery = 12, 6, 6
	cfg.Sample = configs.Sample{N: 6, Temperature: 0.8, TopK: 7, TopP: 0.95, Seed: 3, Guidance: 2}
	cfg.Edit = configs.Edit{Method: "raster", Sweeps: 1, N: 3}
	return cfg
}

var pair struct {
	once           sync.Once
	dir, vq, prior string
	cfg            *configs.Config
	err            error
}

// trainedPair trains a tiny VQ-VAE and prior once per test binary, verb by
// verb through this package's operations.
func trainedPair(t *testing.T) (dir string, m *Models) {
	t.Helper()
	pair.once.Do(func() {
		pair.dir, pair.err = os.MkdirTemp("", "vqgen-app-test-")
		if pair.err != nil {
			return
		}
		ctx := context.Background()
		pair.cfg = tinyConfig(t)
		run := filepath.Join(pair.dir, "run")
		if _, pair.err = TrainVQVAE(ctx, TrainVQVAEOptions{Loaded: pair.cfg, TrainFolder: TrainFolder{Out: run}}, nil); pair.err != nil {
			return
		}
		pair.vq = filepath.Join(run, VQVAEFile)
		codes := filepath.Join(run, CodesTrainFile)
		if _, pair.err = Encode(ctx, EncodeOptions{VQVAE: pair.vq, Data: "train", Out: codes}, nil); pair.err != nil {
			return
		}
		_, pair.err = TrainPrior(ctx, TrainPriorOptions{Loaded: pair.cfg, Codes: codes, TrainFolder: TrainFolder{Out: filepath.Join(run, PriorDir)}}, nil)
		pair.prior = filepath.Join(run, PriorDir, PriorFile)
	})
	if pair.err != nil {
		t.Fatal(pair.err)
	}
	m, err := LoadModels(pair.vq, pair.prior)
	if err != nil {
		t.Fatal(err)
	}
	return pair.dir, m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pair.dir != "" {
		os.RemoveAll(pair.dir)
	}
	os.Exit(code)
}

func TestSampleDefaultsComeFromThePrior(t *testing.T) {
	_, m := trainedPair(t)
	want := SampleOptions{N: 6, Seed: 3, Temperature: 0.8, TopK: 7, TopP: 0.95, Guidance: 2, Class: -1}
	if got := m.SampleDefaults(); got != want {
		t.Errorf("SampleDefaults() = %+v, want the prior's [sample] %+v", got, want)
	}
	e := m.EditDefaults("")
	if e.Method != "raster" || e.N != 3 || e.TopK != 7 || e.TopP != 0.95 || e.Temperature != 0.8 || e.Seed != 3 {
		t.Errorf("EditDefaults(\"\") = %+v, want [edit] raster n 3 with [sample] filters", e)
	}
	if g := m.EditDefaults(MethodGibbs); g.TopK != 0 || g.TopP != 1 || g.Sweeps != 1 {
		t.Errorf("EditDefaults(gibbs) = %+v, want top-k 0, top-p 1 and [edit] sweeps 1", g)
	}
}

// TestModelsServeManyCalls: one loaded pair answers repeated and concurrent
// calls; the same options give the same images, the batch size changes
// nothing, another seed changes the draw.
func TestModelsServeManyCalls(t *testing.T) {
	dir, m := trainedPair(t)
	ctx := context.Background()
	o := m.SampleDefaults()
	var wg sync.WaitGroup
	sets := make([]*Samples, 3)
	errs := make([]error, 3)
	for i := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oi := o
			if i == 1 {
				oi.Batch = 4
			}
			if i == 2 {
				oi.Seed++
			}
			sets[i], errs[i] = m.Sample(ctx, oi, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sets[0].Codes, sets[1].Codes) || !slices.Equal(sets[0].Classes, sets[1].Classes) {
		t.Errorf("batch 4 drew other grids than the default batch")
	}
	if slices.Equal(sets[0].Codes, sets[2].Codes) {
		t.Errorf("seeds %d and %d drew the same grids", o.Seed, o.Seed+1)
	}
	if len(sets[0].Images) != o.N || sets[0].Options != o {
		t.Errorf("%d images with options %+v, want %d with %+v", len(sets[0].Images), sets[0].Options, o.N, o)
	}
	f := SampleFiles{Grid: filepath.Join(dir, "s.png"), Codes: filepath.Join(dir, "s.vqc"), Each: filepath.Join(dir, "each")}
	if err := m.SaveSamples(sets[0], f); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveSamples(sets[0], f); !errors.Is(err, ErrExists) {
		t.Errorf("saving over existing files: %v, want ErrExists", err)
	}
	f.Force = true
	if err := m.SaveSamples(sets[0], f); err != nil {
		t.Errorf("with Force: %v", err)
	}

	// Per class: classes in turn, N follows.
	pc := o
	pc.PerClass = 2
	r, err := m.Sample(ctx, pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Options.N != 20 || len(r.Classes) != 20 || r.Classes[0] != 0 || r.Classes[3] != 1 || r.Classes[19] != 9 {
		t.Errorf("per_class 2: N %d, classes %v", r.Options.N, r.Classes)
	}
}

func TestOptionErrorsNameTheOption(t *testing.T) {
	_, m := trainedPair(t)
	ctx := context.Background()
	for _, c := range []struct {
		option string
		set    func(*SampleOptions)
	}{
		{"temperature", func(o *SampleOptions) { o.Temperature = 0 }},
		{"top_k", func(o *SampleOptions) { o.TopK = -1 }},
		{"top_p", func(o *SampleOptions) { o.TopP = 1.5 }},
		{"guidance", func(o *SampleOptions) { o.Guidance = -1 }},
		{"class", func(o *SampleOptions) { o.Class = 10 }},
		{"per_class", func(o *SampleOptions) { o.PerClass = 2; o.Class = 1 }},
		{"n", func(o *SampleOptions) { o.N = 0 }},
	} {
		o := m.SampleDefaults()
		c.set(&o)
		_, err := m.Sample(ctx, o, nil)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option || !strings.HasPrefix(err.Error(), c.option+" ") {
			t.Errorf("%s: got %v, want an OptionError for %s", c.option, err, c.option)
		}
	}
}

func TestEditKeepsCells(t *testing.T) {
	_, m := trainedPair(t)
	ctx := context.Background()
	s := m.VQVAE.Shape()
	ds, err := m.VQVAE.LoadData("test", 1)
	if err != nil {
		t.Fatal(err)
	}
	grid, err := m.VQVAE.Encode([][]float32{ds.Image(0)})
	if err != nil {
		t.Fatal(err)
	}
	keep, _ := s.CentreHole()
	o := m.EditDefaults("")
	o.Class = int(ds.Labels[0])
	e, err := m.Edit(ctx, grid, keep, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < o.N; i++ {
		for p, k := range keep {
			if k && e.Codes[i*s.Cells()+p] != grid[p] {
				t.Fatalf("edit %d changed kept cell %d", i, p)
			}
		}
	}
	o.Class = -1
	if _, err := m.Edit(ctx, grid, keep, o, nil); err == nil || !strings.HasPrefix(err.Error(), "class ") {
		t.Errorf("conditional prior without a class: %v", err)
	}
	g := m.EditDefaults(MethodGibbs)
	g.Class, g.TopK = 0, 3
	if _, err := m.Edit(ctx, grid, keep, g, nil); err == nil || !strings.HasPrefix(err.Error(), "top_k ") {
		t.Errorf("gibbs with top-k: %v", err)
	}
}

// TestCancel: a cancelled context stops sampling between cells, and
// training after saving its state, so that resuming continues it.
func TestCancel(t *testing.T) {
	dir, m := trainedPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{cancel: cancel, after: 2}
	if _, err := m.Sample(ctx, m.SampleDefaults(), rec); !errors.Is(err, context.Canceled) {
		t.Errorf("sample cancelled after 2 updates: %v", err)
	}
	if rec.updates != 2 {
		t.Errorf("%d updates after cancelling at the 2nd", rec.updates)
	}
	// The models still work after a cancelled call.
	if _, err := m.Sample(context.Background(), m.SampleDefaults(), nil); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "interrupted")
	ctx, cancel = context.WithCancel(context.Background())
	_, err := TrainVQVAE(ctx, TrainVQVAEOptions{Loaded: pair.cfg, TrainFolder: TrainFolder{Out: out}}, &recorder{cancel: cancel, after: 5})
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted training: %v, want ErrInterrupted and context.Canceled", err)
	}
	_, err = TrainVQVAE(context.Background(), TrainVQVAEOptions{Loaded: pair.cfg, TrainFolder: TrainFolder{Out: out}}, nil)
	if !errors.Is(err, ErrFolderInUse) {
		t.Errorf("training into the interrupted folder without Resume: %v, want ErrFolderInUse", err)
	}
	rec = &recorder{}
	r, err := TrainVQVAE(context.Background(), TrainVQVAEOptions{Loaded: pair.cfg, TrainFolder: TrainFolder{Out: out, Resume: true}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resumed == 0 || len(rec.phases) != 1 || rec.phases[0].Done != r.Resumed {
		t.Errorf("resumed at %d, phases %+v", r.Resumed, rec.phases)
	}
	other := *pair.cfg
	other.Seed++
	_, err = TrainVQVAE(context.Background(), TrainVQVAEOptions{Loaded: &other, TrainFolder: TrainFolder{Out: out, Resume: true}}, nil)
	if !errors.Is(err, ErrConfigChanged) {
		t.Errorf("resuming with another seed: %v, want ErrConfigChanged", err)
	}
}

func TestFolderPolicy(t *testing.T) {
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "notes.txt"), []byte("mine"), 0o644)
	cfg := tinyConfig(t)
	if _, err := TrainVQVAE(context.Background(), TrainVQVAEOptions{Loaded: cfg, TrainFolder: TrainFolder{Out: tmp, Force: true}}, nil); !errors.Is(err, ErrNotRunFolder) {
		t.Errorf("force on a folder vqgen did not make: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "notes.txt")); err != nil {
		t.Errorf("the user's file is gone: %v", err)
	}
	if _, err := Run(context.Background(), RunOptions{Loaded: cfg, Out: tmp}, nil); !errors.Is(err, ErrFolderInUse) {
		t.Errorf("run into a foreign folder: %v", err)
	}
	if _, err := Encode(context.Background(), EncodeOptions{VQVAE: "x", Data: "train", Out: filepath.Join(tmp, "notes.txt")}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("encode over an existing file: %v", err)
	}
}
