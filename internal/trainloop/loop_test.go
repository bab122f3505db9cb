package trainloop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/internal/metrics"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/nn"
)

// toy fits w to a target that depends on the step (so the batch order
// matters and must survive a resume): loss = mean((w - target)^2).
type toy struct {
	w      *nn.Param
	target []float32
	nanAt  int // Forward returns NaN at this step (0: never)
}

func newToy() *toy { return &toy{w: nn.NewParam("w", 4)} }

func (y *toy) Params() []*nn.Param { return []*nn.Param{y.w} }

func (y *toy) Forward(step int) (float32, Record) {
	y.target = []float32{float32(step % 3), 1, -1, float32(step % 5)}
	var loss float32
	for i, v := range y.w.Data.Data {
		d := v - y.target[i]
		loss += d * d / 4
	}
	if y.nanAt > 0 && step+1 == y.nanAt {
		loss = float32(math.NaN())
	}
	return loss, Record{progress.F("loss", loss)}
}

func (y *toy) Backward() {
	nn.ZeroGrad(y.Params())
	for i, v := range y.w.Data.Data {
		y.w.Grad.Data[i] = (v - y.target[i]) / 2
	}
}

func (y *toy) AfterUpdate(int) Record { return nil }

func (y *toy) Evaluate() (float64, Record, string) {
	d := float64(y.w.Data.Data[1] - 1)
	return d * d, Record{progress.F("val", d*d)}, fmt.Sprintf("val %.4f", d*d)
}

func (y *toy) SaveBest(path string, step int) error {
	return nn.SaveSafetensors(path, nn.ParamTensors(y.Params()), map[string]string{"step": strconv.Itoa(step)})
}

func (y *toy) State() ([]nn.NamedTensor, map[string]string, error) {
	return nn.ParamTensors(y.Params()), map[string]string{"kind": "toy"}, nil
}

func (y *toy) Restore(f *nn.SafetensorsFile) error {
	if f.Metadata["kind"] != "toy" {
		return fmt.Errorf("not a toy: %w", ErrConfigChanged)
	}
	return f.AssignParams(y.Params())
}

func newLoop(dir string, y *toy) *Loop {
	return &Loop{Task: y, Opt: nn.NewAdam(0.9, 0.999, 1e-8, 0), Dir: dir, BestFile: "best.safetensors", LastFile: "last.safetensors",
		BestKey: "best", Name: "toy", Item: "x", Batch: 1, RateKey: "x_per_s", Best: math.Inf(1),
		Schedule: Schedule{Steps: 20, Warmup: 2, LR: 0.1, LRMin: 0.01, GradClip: 1, EvalEvery: 5, CheckpointEvery: 5, LogEvery: 2},
		Charts:   []Chart{{File: "loss.png", Title: "loss", YLabel: "loss", Keys: []string{"loss"}}}}
}

// run trains a fresh or resumed toy in dir, cancelling after stop steps
// (-1: never).
func run(t *testing.T, dir string, resume bool, stop int) (*Loop, error) {
	t.Helper()
	l := newLoop(dir, newToy())
	if resume {
		if err := l.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.OnStep = func(s Step) {
		if s.N == stop {
			cancel()
		}
	}
	return l, l.Run(ctx, nil)
}

func TestInterruptAndResumeIsBitIdentical(t *testing.T) {
	straight, err := run(t, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = run(t, dir, false, 7)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	resumed, err := run(t, dir, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	a, b := straight.Task.Params()[0].Data.Data, resumed.Task.Params()[0].Data.Data
	if !slices.Equal(a, b) || resumed.Step != 20 || resumed.Best != straight.Best {
		t.Errorf("resumed w %v step %d best %v; straight w %v best %v", b, resumed.Step, resumed.Best, a, straight.Best)
	}
	// The log holds each step once: every second step and the
	// evaluations, the interrupted run's extra lines dropped.
	entries, err := metrics.ReadFile(filepath.Join(dir, metrics.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, e := range entries {
		s, _ := e.Step()
		steps = append(steps, s)
	}
	if want := []int{2, 4, 5, 6, 8, 10, 12, 14, 15, 16, 18, 20}; !slices.Equal(steps, want) {
		t.Errorf("logged steps %v, want %v", steps, want)
	}
	for _, f := range []string{"best.safetensors", "last.safetensors", "loss.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestNaNStops(t *testing.T) {
	dir := t.TempDir()
	y := newToy()
	y.nanAt = 8
	l := newLoop(dir, y)
	err := l.Run(context.Background(), nil)
	if !errors.Is(err, ErrNonFinite) || l.Step != 7 {
		t.Fatalf("got %v at step %d, want ErrNonFinite after step 7", err, l.Step)
	}
	// The last checkpoint is the one of step 5.
	f, err := nn.LoadSafetensors(filepath.Join(dir, "last.safetensors"))
	if err != nil || f.Metadata[MetaStep] != "5" {
		t.Errorf("last checkpoint: %v, step %q", err, f.Metadata[MetaStep])
	}
}

// TestFailedCheckpointWrite: a checkpoint whose rename fails stops training
// with the error, leaves the earlier checkpoint whole, and a resumed run
// from it ends where an uninterrupted one does.
func TestFailedCheckpointWrite(t *testing.T) {
	straight, err := run(t, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Renames: best at 5, last at 5, best at 10 (if better), last at 10...
	disarm := atomicfile.FailNth(atomicfile.OpRename, 3, nil)
	_, err = run(t, dir, false, -1)
	disarm()
	if !errors.Is(err, atomicfile.ErrInjected) {
		t.Fatalf("got %v, want the injected fault", err)
	}
	resumed, err := run(t, dir, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(straight.Task.Params()[0].Data.Data, resumed.Task.Params()[0].Data.Data) {
		t.Errorf("resumed after a failed write: w %v, want %v", resumed.Task.Params()[0].Data.Data, straight.Task.Params()[0].Data.Data)
	}
}
