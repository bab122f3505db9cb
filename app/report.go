package app

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// RunReport is DIR/report.json. Every key is always present; figures a run
// did not measure (the sample evaluation with eval_samples = 0) are null.
type RunReport struct {
	Config  string          `json:"config"`
	Stage1  stage1Result    `json:"stage1"`
	Codes   encodeResult    `json:"codes"`
	Prior   priorRunResult  `json:"prior"`
	Samples map[string]any  `json:"samples"`
	Sample  sampleRunResult `json:"sampling"`
	Edit    editRunResult   `json:"edit"`
	// Sets are the exact options of every set of samples the run drew,
	// by name: "samples" (samples.png), "by_class"
	// (samples-by-class.png) and "eval" (the judged set).
	Sets    map[string]SampleSet `json:"sample_sets"`
	Seconds reportSeconds        `json:"seconds"`
}

type reportSeconds struct {
	Stage1 float64 `json:"stage1"`
	Encode float64 `json:"encode"`
	Prior  float64 `json:"prior"`
	Sample float64 `json:"sample"`
	Edit   float64 `json:"edit"`
	Eval   float64 `json:"eval"`
	Total  float64 `json:"total"`
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// buildReport collects the finished stages' results.
func (p *pipeline) buildReport() (*RunReport, *evalRunResult, error) {
	r := &RunReport{Config: p.opt.Config}
	var ev evalRunResult
	for _, x := range []struct {
		name string
		v    any
	}{{"stage1", &r.Stage1}, {"encode", &r.Codes}, {"prior", &r.Prior}, {"sample", &r.Sample}, {"edit", &r.Edit}, {"eval", &ev}} {
		if err := p.result(x.name, x.v); err != nil {
			return nil, nil, err
		}
	}
	r.Sets = map[string]SampleSet{"samples": r.Sample.Set}
	if r.Sample.ByClass != nil {
		r.Sets["by_class"] = *r.Sample.ByClass
	}
	// The judged set's metrics (SampleEval's JSON: figures a run did not
	// measure are null) and how it was drawn; without an evaluation, the
	// options of samples.png.
	r.Samples = map[string]any{"n": 0, "share_conf_0_9": nil, "class_entropy_bits": nil, "frechet": nil, "cond_accuracy": nil,
		"reference": nil, "classifier": nil}
	drawn := r.Sample.Set.Options
	if e := ev.Eval; e != nil {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(b, &r.Samples); err != nil {
			return nil, nil, err
		}
		r.Sets["eval"] = *ev.Set
		drawn = ev.Set.Options
	} else {
		r.Samples["skipped"] = ev.Skipped
	}
	r.Samples["temperature"], r.Samples["top_k"], r.Samples["top_p"], r.Samples["guidance"] = drawn.Temperature, drawn.TopK, drawn.TopP, drawn.Guidance
	sec := func(name string) float64 { return p.state.Stages[name].Seconds }
	r.Seconds = reportSeconds{Stage1: sec("stage1"), Encode: sec("encode"), Prior: sec("prior"), Sample: sec("sample"), Edit: sec("edit"), Eval: sec("eval")}
	r.Seconds.Total = r.Seconds.Stage1 + r.Seconds.Encode + r.Seconds.Prior + r.Seconds.Sample + r.Seconds.Edit + r.Seconds.Eval
	return r, &ev, nil
}

func (p *pipeline) report() (any, error) {
	r, ev, err := p.buildReport()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(p.path(ReportJSON), append(b, '\n'), true); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(p.path(ReportMD), []byte(p.markdown(r, ev)), true); err != nil {
		return nil, err
	}
	return nil, nil
}

func optNum(v *float64, digits int) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", digits, *v)
}

// markdown renders the report; images are linked relative to DIR so the
// folder can be moved or published as it is.
func (p *pipeline) markdown(r *RunReport, ev *evalRunResult) string {
	var b strings.Builder
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	img := func(alt, file string) {
		if _, err := os.Stat(p.path(file)); err == nil {
			pf("![%s](%s)\n", alt, file)
		}
	}
	cfg := p.cfg
	pf("# vqgen run\n\nConfig `%s` (resolved copy: [config.toml](config.toml)); data %s, test split %s. ", r.Config, cfg.Data.Train, cfg.Data.Test)
	pf("Pipeline time %.1f s.\n\n", r.Seconds.Total)

	pf("## Results\n\nAll figures on the test split unless said otherwise.\n\n")
	pf("| stage | metric | value |\n|---|---|---|\n")
	pf("| VQ-VAE (K=%d, d=%d) | reconstruction MSE per pixel | %.5f |\n", cfg.VQVAE.K, cfg.VQVAE.D, r.Stage1.TestMSE)
	pf("| | PSNR | %.2f dB |\n", r.Stage1.TestPSNR)
	pf("| | codebook perplexity | %.1f of %d |\n", r.Stage1.Perplexity, r.Stage1.K)
	pf("| | codes used | %d of %d |\n", r.Stage1.CodesUsed, r.Stage1.K)
	pf("| codes | bytes per image on disk (train file) | %.2f (raw pixels: %d, %.0fx smaller) |\n", r.Codes.BytesPerImage, r.Codes.RawImageBytes, float64(r.Codes.RawImageBytes)/r.Codes.BytesPerImage)
	cond := "unconditional"
	if r.Prior.Conditional {
		cond = "class-conditional"
	}
	pf("| prior (%s, %s) | NLL | %.2f bits/image (%.4f bits/code) |\n", r.Prior.Arch, cond, r.Prior.TestBitsPerImage, r.Prior.TestBitsPerCode)
	gain, dir := 100*(1-r.Prior.TestBitsPerImage/r.Prior.UnigramBitsPerImage), "below"
	if gain < 0 {
		gain, dir = -gain, "above: the prior has not beaten code frequencies yet"
	}
	pf("| | unigram baseline | %.2f bits/image (prior %.1f%% %s) |\n", r.Prior.UnigramBitsPerImage, gain, dir)
	pf("| sampling | speed (%d samples, incl. decoding) | %.1f images/s |\n", r.Sample.N, r.Sample.ImagesPerSec)
	pf("| editing | %d %s edits of a 3x3-cell hole (cells %s) | %.2f s |\n", r.Edit.N, r.Edit.Method, r.Edit.Hole, r.Edit.FirstSeconds)
	if s := ev.Eval; s != nil {
		pf("| samples (%d; %s) | share judged with confidence >= 0.9 | %s (real digits %s) |\n", s.N, ev.Set.Options, optNum(ptr(s.ShareConf09), 3), optNum(ptr(s.Reference.ShareConf09), 3))
		pf("| | class entropy | %s bits (real %s, max 3.32) |\n", optNum(ptr(s.ClassEntropyBits), 3), optNum(ptr(s.Reference.ClassEntropyBits), 3))
		pf("| | Frechet distance to test digits | %s (real %s) |\n", optNum(ptr(s.Frechet), 2), optNum(ptr(s.Reference.Frechet), 2))
		pf("| | judged as the requested class | %s (real %s) |\n", optNum(ptr(s.CondAccuracy), 3), optNum(ptr(s.Reference.CondAccuracy), 3))
	} else {
		pf("| samples | quality | not measured: %s |\n", ev.Skipped)
	}
	if nb := r.Sample.Neighbours; len(nb.Samples) > 0 {
		pf("| samples (%d) | distance to the nearest training image (median RMSE) | %.4f (test images: %.4f) |\n", len(nb.Samples), nb.SampleMedianRMSE, nb.TestMedianRMSE)
	}
	pf("\n")
	if s := ev.Eval; s != nil {
		c := s.Classifier
		pf("The judge is an MNIST CNN with %.2f%% accuracy and an expected calibration error of %.2f%% on %d held-out test digits; ", 100*c.TestAccuracy, 100*c.ECE, c.TestImages)
		pf("the real-digit figures are %d training digits it never saw. With a class-conditional prior each sample's class is drawn uniformly, so one set gives both the unconditional figures and the conditional accuracy.\n\n", s.Reference.N)
	}
	so := r.Sample.Set.Options
	pf("`vqgen sample --vqvae vqvae.safetensors --prior prior.safetensors --n %d --seed %d` draws samples.png again: the sampling settings default to the [sample] section stored in the prior.\n\n", so.N, so.Seed)

	pf("## Stage one: VQ-VAE\n\n")
	img("training loss", "loss.png")
	img("validation PSNR", "psnr.png")
	img("codebook perplexity", "perplexity.png")
	pf("\nValidation originals (top) and reconstructions (bottom):\n\n")
	img("reconstructions", "recon.png")
	if len(r.Stage1.Recon) > 0 {
		pf("\nTest images, never trained on (top), and their reconstructions (bottom); test PSNR %.2f dB:\n\n", r.Stage1.TestPSNR)
		img("test reconstructions", TestReconPNG)
		if hasKeys(r.Stage1.Recon) {
			pf("\nLeft to right: %s.\n", refList(r.Stage1.Recon))
		}
	}
	pf("\n## Stage two: prior\n\n")
	img("prior NLL", PriorDir+"/loss.png")
	pf("\n## Samples\n\n")
	img("samples", SamplesPNG)
	if r.Sample.PerClass > 0 {
		pf("\nOne row per class, %d samples each:\n\n", r.Sample.PerClass)
		img("samples by class", ByClassPNG)
	}
	if nb := r.Sample.Neighbours; len(nb.Samples) > 0 {
		p.neighboursMarkdown(&b, nb)
	}
	pf("\n## Edits\n\nEach row: a test image, the redrawn cells tinted red, then %d %s redraws", r.Edit.N, r.Edit.Method)
	if r.Edit.Method == MethodGibbs {
		pf(" (%d sweeps)", r.Edit.Sweeps)
	}
	pf(".\n\n")
	img("edits", EditsPNG)
	if hasKeys(r.Edit.Edited) {
		pf("\nTop to bottom: %s.\n", refList(r.Edit.Edited))
	}
	pf("\n## Wall time\n\n| stage | seconds |\n|---|---|\n")
	for _, x := range []struct {
		name string
		v    float64
	}{{"train VQ-VAE", r.Seconds.Stage1}, {"encode", r.Seconds.Encode}, {"train prior", r.Seconds.Prior}, {"sample", r.Seconds.Sample},
		{"edit", r.Seconds.Edit}, {"evaluate samples", r.Seconds.Eval}, {"total", r.Seconds.Total}} {
		pf("| %s | %.1f |\n", x.name, x.v)
	}
	return b.String()
}

// hasKeys reports whether the images have keys (files) to name them by.
func hasKeys(refs []ImageRef) bool { return len(refs) > 0 && refs[0].Key != "" }

// refList names images for a report: their keys (files) where they have
// them, else their indices.
func refList(refs []ImageRef) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = "`" + r.String() + "`"
	}
	return strings.Join(names, ", ")
}

// neighbourName names a training image and its distance.
func neighbourName(nb Neighbour) string {
	name := nb.Key
	if name == "" {
		name = fmt.Sprintf("#%d", nb.Index)
	}
	if nb.Mirrored {
		name += " (mirrored)"
	}
	return fmt.Sprintf("`%s` | %.4f", name, nb.RMSE)
}

// neighboursMarkdown explains neighbours.png and lists what it shows.
func (p *pipeline) neighboursMarkdown(b *strings.Builder, nb Neighbours) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	mirrored := ""
	if nb.Mirrored {
		mirrored = ", each also mirrored as data.flip trained on it"
	}
	pf("\n### New images or copies?\n\nEach row: a sample, then the nearest and second nearest of the %d training images by pixel distance%s. ", nb.TrainingImages, mirrored)
	pf("A sample that repeats a training image sits much nearer to it than images the model never saw do: ")
	pf("the median distance (RMSE, pixels in [0, 1]) from a sample to its nearest training image is %.4f, from a test image %.4f", nb.SampleMedianRMSE, nb.TestMedianRMSE)
	switch ratio := nb.SampleMedianRMSE / nb.TestMedianRMSE; {
	case math.IsNaN(ratio):
		pf(".\n\n")
	case ratio < 0.5:
		pf(": the samples lie close to training images, so look for copies.\n\n")
	default:
		pf(" (%.2f times as far).\n\n", ratio)
	}
	if _, err := os.Stat(p.path(nb.File)); err == nil {
		pf("![samples and their nearest training images](%s)\n\n", nb.File)
	}
	pf("| sample | nearest | RMSE | second nearest | RMSE |\n|---|---|---|---|---|\n")
	for i, f := range nb.Samples {
		pf("| %d", i)
		for j := range 2 {
			if j < len(f) {
				pf(" | %s", neighbourName(f[j]))
			} else {
				pf(" | - | -")
			}
		}
		pf(" |\n")
	}
}
