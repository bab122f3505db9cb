package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/configs"
)

// testCmd is a fresh command whose output goes to a buffer; the verbs'
// functions are called with it directly, because cobra keeps flag values
// between Execute calls of the shared rootCmd.
func testCmd() (*cobra.Command, *bytes.Buffer) {
	var buf bytes.Buffer
	c := &cobra.Command{}
	c.SetOut(&buf)
	c.SetErr(&buf)
	return c, &buf
}

// tinierConfig writes configs/tiny.toml with even fewer steps and images,
// so the end-to-end test stays fast on a loaded two-core machine.
func tinierConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.TrainLimit, cfg.Data.ValCount, cfg.Data.TestLimit = 800, 200, 100
	cfg.Prior.ValCount = 200
	cfg.VQVAE.Train.Steps, cfg.VQVAE.Train.EvalEvery, cfg.VQVAE.Train.CheckpointEvery = 12, 6, 6
	cfg.Prior.Train.Steps, cfg.Prior.Train.EvalEvery, cfg.Prior.Train.CheckpointEvery = 12, 6, 6
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tinier.toml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var shared struct {
	once      sync.Once
	dir, conf string
	log       string
	err       error
}

// sharedRun runs the pipeline once per test binary; the sample and edit
// tests use its checkpoints.
func sharedRun(t *testing.T) (dir, conf string) {
	t.Helper()
	shared.once.Do(func() {
		base, err := os.MkdirTemp("", "vqgen-run-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.conf = tinierConfig(t, base)
		shared.dir = filepath.Join(base, "run")
		cmd, buf := testCmd()
		shared.err = runPipeline(cmd, runOptions{config: shared.conf, out: shared.dir})
		shared.log = buf.String()
	})
	if shared.err != nil {
		t.Fatalf("vqgen run: %v\n%s", shared.err, shared.log)
	}
	return shared.dir, shared.conf
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(filepath.Dir(shared.dir))
	}
	if judgeOnce.dir != "" {
		os.RemoveAll(judgeOnce.dir)
	}
	os.Exit(code)
}

// jsonKey walks a dotted path through decoded JSON objects.
func jsonKey(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestRunPipeline(t *testing.T) {
	dir, conf := sharedRun(t)
	for _, f := range []string{"vqvae.safetensors", "prior.safetensors", "codes-train.vqc", "codes-test.vqc",
		"prior/prior.safetensors", "samples.png", "samples-by-class.png", "edits.png", "recon.png", "loss.png",
		"report.md", "report.json", "run-state.json", "config.toml"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
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
	// The sampling settings are stated; guidance only counts for a
	// conditional prior.
	def := configs.Default().Sample
	wantG := 1.0
	if c, _ := jsonKey(rep, "prior.conditional"); c == true {
		wantG = def.Guidance
	}
	for k, want := range map[string]float64{"samples.temperature": def.Temperature, "samples.top_p": def.TopP, "samples.guidance": wantG} {
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
	for _, link := range []string{"(samples.png)", "(samples-by-class.png)", "(edits.png)", "(recon.png)", "(prior/loss.png)", "bits/image"} {
		if !strings.Contains(string(md), link) {
			t.Errorf("report.md lacks %q", link)
		}
	}

	// A second run skips every stage and changes nothing.
	state0, _ := os.ReadFile(filepath.Join(dir, "run-state.json"))
	cmd, buf := testCmd()
	if err := runPipeline(cmd, runOptions{config: conf, out: dir}); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := strings.Count(buf.String(), "done earlier, skipped"); n != len(stages) {
		t.Errorf("second run skipped %d of %d stages:\n%s", n, len(stages), buf.String())
	}
	state1, _ := os.ReadFile(filepath.Join(dir, "run-state.json"))
	if !bytes.Equal(state0, state1) {
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
	cmd, buf := testCmd()
	if err := runPipeline(cmd, runOptions{config: conf, out: work}); err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	if n := strings.Count(buf.String(), "done earlier, skipped"); n != 4 {
		t.Errorf("skipped %d stages, want 4 (stage1, encode, prior, sample):\n%s", n, buf)
	}
	if _, err := os.Stat(filepath.Join(work, "edits.png")); err != nil {
		t.Error(err)
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
	cmd, _ := testCmd()
	err := runPipeline(cmd, runOptions{config: conf, out: other})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("non-run folder: err = %v, want a refusal naming --force", err)
	}
	// --force does not delete a folder vqgen did not make either.
	err = runPipeline(cmd, runOptions{config: conf, out: other, force: true})
	if err == nil {
		t.Errorf("--force on a folder without the vqgen marker: no error")
	}
	if _, serr := os.Stat(filepath.Join(other, "notes.txt")); serr != nil {
		t.Errorf("the user's file is gone: %v", serr)
	}
	// A run folder made with another config is refused.
	run := filepath.Join(tmp, "run")
	os.MkdirAll(run, 0o755)
	st := runState{Version: 1, Config: "seed = 99\n", Stages: map[string]*stageState{}}
	b, _ := json.Marshal(st)
	os.WriteFile(filepath.Join(run, stateFile), b, 0o644)
	err = runPipeline(cmd, runOptions{config: conf, out: run})
	if err == nil || !strings.Contains(err.Error(), "different config") {
		t.Errorf("other config: err = %v, want a refusal", err)
	}
	// A missing config is named.
	err = runPipeline(cmd, runOptions{config: filepath.Join(tmp, "nope.toml"), out: filepath.Join(tmp, "x")})
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("missing config: err = %v", err)
	}
}
