// Package trainloop is the training loop both stages share: the learning
// rate schedule (linear warm-up, cosine decay), gradient clipping, periodic
// validation, the best-on-validation and the last (resumable) checkpoints,
// resuming, stopping on a cancelled context (Ctrl-C) after saving, stopping
// on a NaN loss, metrics.jsonl and its plots, and progress.
//
// A stage supplies a Task: a forward pass that returns the loss, a backward
// pass, what happens after each update (a VQ-VAE's codebook moving
// averages), a validation score, and the stage's own part of a checkpoint.
// Everything that is the same for every model lives here, once.
package trainloop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vqgen/vqgen/internal/metrics"
	"github.com/vqgen/vqgen/internal/plots"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/nn"
)

// MetaStep is the checkpoint metadata key of the steps done.
const MetaStep = "vqgen.step"

// Schedule is the optimisation schedule of a training run.
type Schedule struct {
	Steps    int
	Warmup   int     // steps of linear warm-up from 0 to LR
	LR       float64 // peak learning rate
	LRMin    float64 // the cosine decay ends here after the last step
	GradClip float64 // clip the global gradient norm to this; 0 = off
	// EvalEvery steps the model is scored on validation (0: only at the
	// end), CheckpointEvery steps the resumable state is saved (0: only
	// at the end), LogEvery steps a metrics line is written.
	EvalEvery, CheckpointEvery, LogEvery int
}

// Record is the named values of one step, in the order they are shown;
// metrics.jsonl gets them as one JSON object.
type Record = []progress.Field

// Task is what a stage supplies to the loop.
type Task interface {
	// Params are what the optimizer updates.
	Params() []*nn.Param
	// Forward runs the model on the next training batch (step: the
	// steps done before it) and returns the loss to minimise and the
	// values to log.
	Forward(step int) (loss float32, rec Record)
	// Backward puts the gradients of Forward's loss into Params (zeroing
	// them first).
	Backward()
	// AfterUpdate runs after the optimizer step (step: the steps done
	// now) and returns more values to log.
	AfterUpdate(step int) Record
	// Evaluate scores the model on validation data, lower being better,
	// with the values to log and a line for the user.
	Evaluate() (score float64, rec Record, note string)
	// SaveBest writes the model, the best so far, to path.
	SaveBest(path string, step int) error
	// State is the task's part of a resumable checkpoint: its tensors
	// and metadata (the loop adds the optimizer, the step and the best
	// score).
	State() ([]nn.NamedTensor, map[string]string, error)
	// Restore reads State's part back from a checkpoint, refusing one
	// trained with other settings (an error wrapping ErrConfigChanged).
	Restore(f *nn.SafetensorsFile) error
}

// Show names a logged value for the progress line, under a short label.
type Show struct{ Key, Label string }

// Chart is one PNG plotted from metrics.jsonl when training ends: the
// named keys against step.
type Chart struct {
	File, Title, YLabel string
	Keys                []string
	LogY                bool
}

// Loop trains a Task. Set the fields, call Resume to continue from the last
// checkpoint if wanted, then Run.
type Loop struct {
	Task     Task
	Opt      *nn.Adam
	Schedule Schedule
	// Dir gets BestFile, LastFile, metrics.jsonl and the Charts.
	Dir                string
	BestFile, LastFile string
	BestKey            string // checkpoint metadata key of Best
	// Name labels the progress; Batch items named Item make one step.
	Name, Item string
	Batch      int
	RateKey    string // metrics key of the items per second ("img_per_s")
	Show       []Show
	Charts     []Chart
	// OnStep, if set, sees every step after its checkpoints are saved.
	OnStep func(Step)

	Step int     // steps done
	Best float64 // best validation score so far (+Inf: none yet)
	Rate float64 // items per second since Run started
}

// Step is what one training step did.
type Step struct {
	N    int    // steps done
	Rec  Record // the step's values
	Eval Record // validation values on evaluation steps, else nil
	Best bool   // the evaluation was the best so far and was saved
}

func (l *Loop) path(name string) string { return filepath.Join(l.Dir, name) }

// Resume restores the state saved in Dir/LastFile.
func (l *Loop) Resume() error {
	path := l.path(l.LastFile)
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := l.Task.Restore(f); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := l.Opt.LoadState(l.Task.Params(), f.Tensors(), f.Metadata); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if l.Step, err = strconv.Atoi(f.Metadata[MetaStep]); err != nil {
		return fmt.Errorf("resume: %s: metadata %s = %q is not an integer", path, MetaStep, f.Metadata[MetaStep])
	}
	if l.Best, err = strconv.ParseFloat(f.Metadata[l.BestKey], 64); err != nil {
		return fmt.Errorf("resume: %s: metadata %s = %q is not a number", path, l.BestKey, f.Metadata[l.BestKey])
	}
	return nil
}

// saveLast writes the full training state atomically.
func (l *Loop) saveLast() error {
	ts, tmeta, err := l.Task.State()
	if err != nil {
		return err
	}
	opt, meta := l.Opt.State()
	ts = append(ts, opt...)
	for k, v := range tmeta {
		meta[k] = v
	}
	meta[l.BestKey] = strconv.FormatFloat(l.Best, 'g', -1, 64)
	meta[MetaStep] = strconv.Itoa(l.Step)
	return nn.SaveSafetensors(l.path(l.LastFile), ts, meta)
}

// Run trains to Schedule.Steps, reporting to prog (nil: nowhere). When ctx
// is cancelled it saves the last checkpoint and returns an error matching
// both ErrInterrupted and ctx's error; a NaN or infinite loss stops it with
// ErrNonFinite, the last checkpoint untouched.
func (l *Loop) Run(ctx context.Context, prog progress.Reporter) (err error) {
	prog = progress.Or(prog)
	s := l.Schedule
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	log, _, err := metrics.Resume(l.Dir, l.Step)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := log.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", log.Path(), cerr)
		}
	}()
	params := l.Task.Params()
	start, startStep := time.Now(), l.Step
	prog.Begin(progress.Phase{Name: l.Name, Total: s.Steps, Done: l.Step, ItemsPerUnit: l.Batch, Item: l.Item, Every: s.LogEvery})
	defer prog.End()
	for l.Step < s.Steps {
		if err := ctx.Err(); err != nil {
			if serr := l.saveLast(); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("%w at step %d; state saved to %s: %w", ErrInterrupted, l.Step, l.path(l.LastFile), err)
		}
		loss, rec := l.Task.Forward(l.Step)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return fmt.Errorf("step %d: %w (%s); the last good checkpoint is %s", l.Step+1, ErrNonFinite, fields(rec), l.path(l.LastFile))
		}
		l.Task.Backward()
		if s.GradClip > 0 {
			nn.ClipGradNorm(params, float32(s.GradClip))
		}
		lr := nn.WarmupCosine(l.Step, s.Warmup, s.Steps, float32(s.LR), float32(s.LRMin))
		l.Opt.Step(params, lr)
		l.Step++
		rec = append(rec, l.Task.AfterUpdate(l.Step)...)
		elapsed := time.Since(start)
		l.Rate = float64((l.Step-startStep)*l.Batch) / elapsed.Seconds()
		rec = append(rec, progress.F("lr", lr), progress.F(l.RateKey, l.Rate), progress.F("elapsed_s", elapsed.Seconds()))

		st := Step{N: l.Step, Rec: rec}
		last := l.Step == s.Steps
		note := ""
		if (s.EvalEvery > 0 && l.Step%s.EvalEvery == 0) || last {
			var score float64
			score, st.Eval, note = l.Task.Evaluate()
			if score < l.Best {
				l.Best, st.Best = score, true
				if err := l.Task.SaveBest(l.path(l.BestFile), l.Step); err != nil {
					return err
				}
			}
		}
		if (s.CheckpointEvery > 0 && l.Step%s.CheckpointEvery == 0) || last {
			if err := l.saveLast(); err != nil {
				return err
			}
		}
		prog.Update(l.Step, l.shown(rec)...)
		if (s.LogEvery > 0 && l.Step%s.LogEvery == 0) || st.Eval != nil {
			entry := map[string]any{"step": l.Step}
			for _, f := range append(rec, st.Eval...) {
				entry[f.Key] = f.Value
			}
			if err := log.Write(entry); err != nil {
				return err
			}
		}
		if st.Eval != nil {
			if st.Best {
				note += " (best so far, saved)"
			}
			prog.Note(fmt.Sprintf("step %d: %s", l.Step, note))
		}
		if l.OnStep != nil {
			l.OnStep(st)
		}
	}
	return l.plot()
}

// shown picks the Show fields out of rec, under their labels.
func (l *Loop) shown(rec Record) []progress.Field {
	out := make([]progress.Field, 0, len(l.Show))
	for _, s := range l.Show {
		for _, f := range rec {
			if f.Key == s.Key {
				out = append(out, progress.F(s.Label, f.Value))
			}
		}
	}
	return out
}

func fields(rec Record) string {
	s := ""
	for i, f := range rec {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %v", f.Key, f.Value)
	}
	return s
}

// plot draws the Charts from Dir/metrics.jsonl.
func (l *Loop) plot() error {
	entries, err := metrics.ReadFile(l.path(metrics.FileName))
	if err != nil {
		return err
	}
	for _, c := range l.Charts {
		var series []plots.Series
		for _, k := range c.Keys {
			s := plots.Series{Name: k}
			for _, e := range entries {
				step, ok := e.Step()
				v, ok2 := e[k].(float64)
				if ok && ok2 {
					s.X = append(s.X, float64(step))
					s.Y = append(s.Y, v)
				}
			}
			if len(s.X) > 0 {
				series = append(series, s)
			}
		}
		if len(series) == 0 {
			continue
		}
		if err := plots.LinePNG(l.path(c.File), c.Title, "step", c.YLabel, series, plots.Options{LogY: c.LogY}); err != nil {
			return err
		}
	}
	return nil
}
