package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
)

func TestRunPipeline(t *testing.T) {
	dir, conf := sharedRun(t)
	for _, f := range []string{"vqvae.safetensors", "prior.safetensors", "codes-train.vqc", "codes-test.vqc",
		"prior/prior.safetensors", "samples.png", "samples-by-class.png", "edits.png", "recon.png", "loss.png", "test-recon.png", "neighbours.png",
		"report.md", "report.json", "run-state.json", "config.toml"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	rep := readJSON(t, filepath.Join(dir, "report.json"))
	numbers := []string{"stage1.test_mse", "stage1.test_psnr_db", "stage1.perplexity", "stage1.codes_used",
		"codes.bytes_per_image", "prior.test_bits_per_image", "prior.unigram_bits_per_image",
		"sampling.images_per_s", "edit.first_image_seconds",
		"seconds.stage1", "seconds.encode", "seconds.prior", "seconds.sample", "seconds.edit", "seconds.eval"}
	for _, k := range numbers {
		v, ok := jsonKey(rep, k)
		f, isNum := v.(float64)
		if !ok || !isNum || f < 0 || (f == 0 && !strings.HasPrefix(k, "seconds.")) {
			t.Errorf("report.json %s = %v (present %v), want a positive number", k, v, ok)
		}
	}
	if v, _ := jsonKey(rep, "prior.arch"); v != configs.Default().Prior.Arch {
		t.Errorf("prior.arch = %v, want %s (the config's)", v, configs.Default().Prior.Arch)
	}
	// The sampling settings are stated, and each set's exact options;
	// guidance only counts for a conditional prior.
	def := configs.Default().Sample
	for k, want := range map[string]any{"samples.temperature": def.Temperature, "samples.top_p": def.TopP, "samples.guidance": def.Guidance,
		"sample_sets.samples.file": "samples.png", "sample_sets.samples.options.n": 16.0, "sample_sets.samples.options.seed": 1.0,
		"sample_sets.samples.options.temperature": def.Temperature, "sample_sets.samples.options.class": -1.0,
		"sample_sets.by_class.options.per_class": 2.0, "sample_sets.by_class.options.seed": 2.0, "edit.options.seed": 1.0} {
		if v, _ := jsonKey(rep, k); v != want {
			t.Errorf("report.json %s = %v, want %v", k, v, want)
		}
	}
	// eval_samples = 0 in the tiny config: present, null.
	for _, k := range []string{"samples.share_conf_0_9", "samples.class_entropy_bits", "samples.frechet", "samples.cond_accuracy"} {
		if v, ok := jsonKey(rep, k); !ok || v != nil {
			t.Errorf("report.json %s = %v (present %v), want null", k, v, ok)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, link := range []string{"(samples.png)", "(samples-by-class.png)", "(edits.png)", "(recon.png)", "(prior/loss.png)", "bits/image", "vqgen sample"} {
		if !strings.Contains(string(md), link) {
			t.Errorf("report.md lacks %q", link)
		}
	}

	// A second run skips every stage and changes nothing.
	state0, _ := os.ReadFile(filepath.Join(dir, "run-state.json"))
	out := mustVqgen(t, "run", "--config", conf, "--out", dir)
	if n := strings.Count(out, "done earlier, skipped"); n != 7 {
		t.Errorf("second run skipped %d of 7 stages:\n%s", n, out)
	}
	state1, _ := os.ReadFile(filepath.Join(dir, "run-state.json"))
	if string(state0) != string(state1) {
		t.Errorf("run-state.json changed on a run that had nothing to do")
	}
}

func TestRunResumesAfterLostOutput(t *testing.T) {
	dir, conf := sharedRun(t)
	work := filepath.Join(t.TempDir(), "run")
	copyTree(t, dir, work)
	// Losing the edit picture redoes the edit stage and those after it,
	// nothing before.
	if err := os.Remove(filepath.Join(work, "edits.png")); err != nil {
		t.Fatal(err)
	}
	out := mustVqgen(t, "run", "--config", conf, "--out", work)
	if n := strings.Count(out, "done earlier, skipped"); n != 4 {
		t.Errorf("skipped %d stages, want 4 (stage1, encode, prior, sample):\n%s", n, out)
	}
	if !sameFile(t, filepath.Join(dir, "edits.png"), filepath.Join(work, "edits.png")) {
		t.Errorf("the redone edit picture differs from the first")
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunRefuses(t *testing.T) {
	_, conf := sharedRun(t)
	tmp := t.TempDir()
	// A folder with someone's files is not a run folder.
	other := filepath.Join(tmp, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	_, err := vqgen(t, "run", "--config", conf, "--out", other)
	if err == nil || !strings.Contains(err.Error(), "choose another --out (or --force") {
		t.Errorf("non-run folder: err = %v, want a refusal naming --out and --force", err)
	}
	// --force does not delete a folder vqgen did not make either.
	_, err = vqgen(t, "run", "--config", conf, "--out", other, "--force")
	if err == nil || !strings.Contains(err.Error(), "delete it yourself") {
		t.Errorf("--force on a folder without the vqgen marker: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(other, "notes.txt")); serr != nil {
		t.Errorf("the user's file is gone: %v", serr)
	}
	// A run folder made with another config is refused.
	run := filepath.Join(tmp, "run")
	os.MkdirAll(run, 0o755)
	b, _ := json.Marshal(map[string]any{"version": 1, "config": "seed = 99\n", "stages": map[string]any{}})
	os.WriteFile(filepath.Join(run, "run-state.json"), b, 0o644)
	_, err = vqgen(t, "run", "--config", conf, "--out", run)
	if err == nil || !strings.Contains(err.Error(), "different config") || !strings.Contains(err.Error(), "--force to delete it") {
		t.Errorf("other config: err = %v, want a refusal with advice", err)
	}
	// A missing config is named.
	_, err = vqgen(t, "run", "--config", filepath.Join(tmp, "nope.toml"), "--out", filepath.Join(tmp, "x"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("missing config: err = %v", err)
	}
}

// TestTrainVerbsAdvice: the training verbs' refusals name the flags that
// get past them.
func TestTrainVerbsAdvice(t *testing.T) {
	dir, conf := sharedRun(t)
	_, err := vqgen(t, "train", "vqvae", "--config", conf, "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "pass --resume to continue the run in it, or --force") {
		t.Errorf("train into a used folder: %v", err)
	}
	_, err = vqgen(t, "train", "vqvae", "--config", conf, "--out", dir, "--resume", "--force")
	if err == nil || !strings.Contains(err.Error(), "resume") || !strings.Contains(err.Error(), "force") {
		t.Errorf("--resume with --force: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.toml")
	b, _ := os.ReadFile(conf)
	os.WriteFile(other, []byte(strings.Replace(string(b), "seed = 1", "seed = 2", 1)), 0o644)
	work := filepath.Join(t.TempDir(), "run")
	copyTree(t, dir, work)
	_, err = vqgen(t, "train", "vqvae", "--config", other, "--out", work, "--resume")
	if err == nil || !strings.Contains(err.Error(), "use --force to start over") {
		t.Errorf("resume with another seed: %v", err)
	}
}
