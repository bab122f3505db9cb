package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/sampler/evaluate"
)

var judgeOnce struct {
	sync.Once
	dir string // a cache folder holding a quickly trained judge
	err error
}

// tinyJudgeCache trains a weak classifier in seconds and stores it where
// evaluate.Default looks when the user cache folder is dir; the real one
// takes minutes.
func tinyJudgeCache(t *testing.T) string {
	t.Helper()
	judgeOnce.Do(func() {
		judgeOnce.dir, judgeOnce.err = os.MkdirTemp("", "vqgen-judge-")
		if judgeOnce.err != nil {
			return
		}
		c, err := evaluate.Train(evaluate.TrainOptions{Seed: 7, Steps: 40, BatchSize: 32, LR: 3e-3, HoldOut: 300, TrainImages: 3000, RefImages: 300}, nil)
		if err != nil {
			judgeOnce.err = err
			return
		}
		p, err := evaluate.CachePath(judgeOnce.dir)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err == nil {
			err = c.Save(p)
		}
		judgeOnce.err = err
	})
	if judgeOnce.err != nil {
		t.Fatal(judgeOnce.err)
	}
	return judgeOnce.dir
}

func inUnit(v any) bool {
	f, ok := v.(float64)
	return ok && f >= 0 && f <= 1
}

func TestEvalSamples(t *testing.T) {
	run, _ := sharedRun(t)
	cache := tinyJudgeCache(t)
	clf, _ := evaluate.CachePath(cache)
	tmp := t.TempDir()
	each := filepath.Join(tmp, "each")
	if err := sampleTo(t, run, filepath.Join(tmp, "s"), 3, -1, func(f *sampleFlags) { f.n = 20; f.each = each }); err != nil {
		t.Fatal(err)
	}
	_, labels, _ := readCodes(t, filepath.Join(tmp, "s.vqc"))
	var lines []string
	for _, l := range labels {
		lines = append(lines, fmt.Sprint(l))
	}
	labFile := filepath.Join(tmp, "labels.txt")
	os.WriteFile(labFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644)

	for _, withLabels := range []bool{true, false} {
		lf := ""
		if withLabels {
			lf = labFile
		}
		cmd, buf := testCmd()
		if err := evalSamples(cmd, each, lf, clf, true); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%v: %s", err, buf)
		}
		if got["n"] != 20.0 {
			t.Errorf("n = %v, want 20", got["n"])
		}
		if !inUnit(got["share_conf_0_9"]) {
			t.Errorf("share_conf_0_9 = %v", got["share_conf_0_9"])
		}
		if h, ok := got["class_entropy_bits"].(float64); !ok || h < 0 || h > math.Log2(10)+1e-9 {
			t.Errorf("class_entropy_bits = %v", got["class_entropy_bits"])
		}
		if f, ok := got["frechet"].(float64); !ok || f < 0 {
			t.Errorf("frechet = %v", got["frechet"])
		}
		if withLabels != inUnit(got["cond_accuracy"]) || (!withLabels && got["cond_accuracy"] != nil) {
			t.Errorf("labels %v: cond_accuracy = %v", withLabels, got["cond_accuracy"])
		}
		ref, _ := got["reference"].(map[string]any)
		if ref["n"] != 1000.0 || !inUnit(ref["cond_accuracy"]) {
			t.Errorf("reference = %v, want 1000 real digits with labels", ref)
		}
		card, _ := got["classifier"].(map[string]any)
		if card["test_images"] != 1000.0 || !inUnit(card["test_accuracy"]) || !inUnit(card["ece"]) {
			t.Errorf("classifier = %v", card)
		}
	}
	// Text output names both columns.
	cmd, buf := testCmd()
	if err := evalSamples(cmd, each, labFile, clf, false); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"real digits", "Frechet", "accuracy"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("text output lacks %q:\n%s", w, buf)
		}
	}
	// Errors name the flag.
	if err := evalSamples(cmd, filepath.Join(tmp, "none"), "", clf, true); err == nil || !strings.Contains(err.Error(), "--images") {
		t.Errorf("missing folder: %v", err)
	}
	os.WriteFile(labFile, []byte("1\n2\n"), 0o644)
	if err := evalSamples(cmd, each, labFile, clf, true); err == nil || !strings.Contains(err.Error(), "--labels") {
		t.Errorf("short labels file: %v", err)
	}
}

// TestRunWithSampleEval runs the pipeline with the evaluation on (using the
// quick judge through the user cache folder) and checks the samples.* keys
// are filled in.
func TestRunWithSampleEval(t *testing.T) {
	_, conf := sharedRun(t)
	t.Setenv("XDG_CACHE_HOME", tinyJudgeCache(t))
	cfg, err := configs.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Run.EvalSamples = 40
	tmp := t.TempDir()
	b, _ := cfg.Encode()
	path := filepath.Join(tmp, "eval.toml")
	os.WriteFile(path, b, 0o644)
	dir := filepath.Join(tmp, "run")
	cmd, buf := testCmd()
	if err := runPipeline(cmd, runOptions{config: path, out: dir}); err != nil {
		t.Fatalf("%v\n%s", err, buf)
	}
	rb, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	var rep any
	json.Unmarshal(rb, &rep)
	for _, k := range []string{"samples.share_conf_0_9", "samples.cond_accuracy", "samples.reference.share_conf_0_9", "samples.classifier.test_accuracy"} {
		if v, _ := jsonKey(rep, k); !inUnit(v) {
			t.Errorf("%s = %v, want a share", k, v)
		}
	}
	if v, _ := jsonKey(rep, "samples.n"); v != 40.0 {
		t.Errorf("samples.n = %v, want 40", v)
	}
	if v, _ := jsonKey(rep, "samples.frechet"); v == nil {
		t.Errorf("samples.frechet is null")
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "Frechet") {
		t.Errorf("report.md has no sample-quality rows")
	}
}
