package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/sampler/evaluate"
)

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
	if _, err := sample(t, run, filepath.Join(tmp, "s"), "--n", "20", "--seed", "3", "--save-each", each); err != nil {
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
		args := []string{"eval", "samples", "--images", each, "--classifier", clf, "--json"}
		if withLabels {
			args = append(args, "--labels", labFile)
		}
		out := mustVqgen(t, args...)
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
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
	out := mustVqgen(t, "eval", "samples", "--images", each, "--labels", labFile, "--classifier", clf)
	for _, w := range []string{"real digits", "Frechet", "accuracy"} {
		if !strings.Contains(out, w) {
			t.Errorf("text output lacks %q:\n%s", w, out)
		}
	}
	// A dataset spec works as well, its labels being the requested class.
	out = mustVqgen(t, "eval", "samples", "--data", "mnist:test", "--classifier", clf, "--json")
	var got map[string]any
	json.Unmarshal([]byte(out), &got)
	if got["n"] != 10000.0 || !inUnit(got["cond_accuracy"]) {
		t.Errorf("--data mnist:test: n = %v, cond_accuracy = %v", got["n"], got["cond_accuracy"])
	}
	// Errors name the flag.
	if _, err := vqgen(t, "eval", "samples", "--images", filepath.Join(tmp, "none"), "--classifier", clf); err == nil || !strings.Contains(err.Error(), "--images") {
		t.Errorf("missing folder: %v", err)
	}
	os.WriteFile(labFile, []byte("1\n2\n"), 0o644)
	if _, err := vqgen(t, "eval", "samples", "--images", each, "--labels", labFile, "--classifier", clf); err == nil || !strings.Contains(err.Error(), "2 labels for 20 images") {
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
	mustVqgen(t, "run", "--config", path, "--out", dir)
	rep := readJSON(t, filepath.Join(dir, "report.json"))
	for _, k := range []string{"samples.share_conf_0_9", "samples.cond_accuracy", "samples.reference.share_conf_0_9", "samples.classifier.test_accuracy"} {
		if v, _ := jsonKey(rep, k); !inUnit(v) {
			t.Errorf("%s = %v, want a share", k, v)
		}
	}
	for k, want := range map[string]any{"samples.n": 40.0, "sample_sets.eval.options.n": 40.0, "sample_sets.eval.options.seed": 3.0} {
		if v, _ := jsonKey(rep, k); v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if v, _ := jsonKey(rep, "samples.frechet"); v == nil {
		t.Errorf("samples.frechet is null")
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "Frechet") {
		t.Errorf("report.md has no sample-quality rows")
	}
}

// TestEvalPriorFindsTrainingCodes: the prior records its training codes by
// name and hash, not path, so a moved run folder still finds its unigram
// baseline; a prior alone elsewhere needs --train-codes, and the wrong file
// there is refused.
func TestEvalPriorFindsTrainingCodes(t *testing.T) {
	dir, _ := sharedRun(t)
	test := filepath.Join(dir, "codes-test.vqc")
	unigram := func(args ...string) any {
		t.Helper()
		var r map[string]any
		json.Unmarshal([]byte(mustVqgen(t, append([]string{"eval", "prior", "--codes", test, "--json"}, args...)...)), &r)
		if u, ok := r["unigram_bits_per_image"].(float64); !ok || u <= 0 {
			t.Fatalf("unigram_bits_per_image = %v", r["unigram_bits_per_image"])
		}
		return r["unigram_bits_per_image"]
	}
	inRun := unigram("--prior", filepath.Join(dir, "prior", "prior.safetensors"))
	moved := filepath.Join(t.TempDir(), "moved")
	for _, f := range []string{"prior.safetensors", "prior/prior.safetensors", "codes-train.vqc"} {
		os.MkdirAll(filepath.Dir(filepath.Join(moved, f)), 0o755)
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(moved, f), b, 0o644)
	}
	for _, p := range []string{"prior.safetensors", "prior/prior.safetensors"} {
		if u := unigram("--prior", filepath.Join(moved, p)); u != inRun {
			t.Errorf("moved run folder, %s: unigram %v bits/image, %v in place", p, u, inRun)
		}
	}
	alone := filepath.Join(t.TempDir(), "p.safetensors")
	b, _ := os.ReadFile(filepath.Join(dir, "prior.safetensors"))
	os.WriteFile(alone, b, 0o644)
	if _, err := vqgen(t, "eval", "prior", "--prior", alone, "--codes", test); err == nil || !strings.Contains(err.Error(), "pass the prior's training codes with --train-codes") {
		t.Errorf("prior alone: %v, want advice to pass --train-codes", err)
	}
	if u := unigram("--prior", alone, "--train-codes", filepath.Join(dir, "codes-train.vqc")); u != inRun {
		t.Errorf("--train-codes: unigram %v, want %v", u, inRun)
	}
	if _, err := vqgen(t, "eval", "prior", "--prior", alone, "--codes", test, "--train-codes", test); err == nil || !strings.Contains(err.Error(), "is not the code file") {
		t.Errorf("the test codes as --train-codes: %v, want a refusal", err)
	}
}
