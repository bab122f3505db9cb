package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/sampler/evaluate"
)

// vqgen runs the command line with args in this process, as main does but
// without exiting: a fresh root command each time, so no flag value
// survives from one call to the next. err is what the user would read.
func vqgen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	root := newRootCmd()
	root.SetOut(&buf)
	root.SetErr(&buf)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.Background())
	if err != nil {
		err = explain(cmd, err)
	}
	return buf.String(), err
}

// mustVqgen is vqgen that fails the test on an error.
func mustVqgen(t *testing.T, args ...string) string {
	t.Helper()
	out, err := vqgen(t, args...)
	if err != nil {
		t.Fatalf("vqgen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tinyConfig writes configs/tiny.toml (the built-in copy) to dir, for
// tests that change a key of it.
func tinyConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tiny.toml")
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

// sharedRun runs `vqgen run --config configs/tiny.toml` once per test
// binary; the other tests use its outputs.
func sharedRun(t *testing.T) (dir, conf string) {
	t.Helper()
	shared.once.Do(func() {
		base, err := os.MkdirTemp("", "vqgen-run-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.conf = tinyConfig(t, base)
		shared.dir = filepath.Join(base, "run")
		shared.log, shared.err = vqgen(t, "run", "--config", shared.conf, "--out", shared.dir)
	})
	if shared.err != nil {
		t.Fatalf("vqgen run: %v\n%s", shared.err, shared.log)
	}
	return shared.dir, shared.conf
}

// models returns the --vqvae and --prior flags of the shared run.
func models(run string) []string {
	return []string{"--vqvae", filepath.Join(run, "vqvae.safetensors"), "--prior", filepath.Join(run, "prior.safetensors")}
}

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

// asMainEnv makes the test binary run as the vqgen command itself, so that
// subprocess tests (kill -9) need no separate build.
const asMainEnv = "VQGEN_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
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

func readJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func readCodes(t *testing.T, path string) ([]uint16, []int32, datasets.CodeHeader) {
	t.Helper()
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, l, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	return g, l, f.Header()
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return len(x) > 0 && bytes.Equal(x, y)
}

// TestFrontEndImportsNoStage: the command line is a front end over package
// app (and the web front end it serves); it imports no stage, sampler,
// dataset or numeric package directly.
func TestFrontEndImportsNoStage(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list printed no imports")
	}
	for _, imp := range imports {
		if strings.HasPrefix(imp, "github.com/vqgen/vqgen/") && imp != "github.com/vqgen/vqgen/app" && imp != "github.com/vqgen/vqgen/internal/server" {
			t.Errorf("cmd/vqgen imports %s; the command line may use packages app and internal/server only", imp)
		}
	}
}

// TestVerbsConsistent: every verb that writes has --force; output flags
// and input flags keep one meaning each; --data always takes a dataset
// spec; every verb teaches with an example.
func TestVerbsConsistent(t *testing.T) {
	outputs := []string{"out", "out-codes", "save-each", "histogram", "cpuprofile"}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Name() == "help" || c.Name() == "version" {
			return
		}
		name := c.CommandPath()
		writes := false
		for _, o := range outputs {
			writes = writes || c.Flags().Lookup(o) != nil
		}
		if writes && c.Flags().Lookup("force") == nil {
			t.Errorf("%s writes files but has no --force", name)
		}
		if f := c.Flags().Lookup("codes"); f != nil && f.Deprecated == "" && strings.Contains(f.Usage, "write") {
			t.Errorf("%s: --codes is an output here (%q); outputs are --out-codes", name, f.Usage)
		}
		if f := c.Flags().Lookup("data"); f != nil && !strings.Contains(f.Usage, "dataset spec") {
			t.Errorf("%s: --data %q does not take a dataset spec", name, f.Usage)
		}
		if c.Example == "" {
			t.Errorf("%s has no example in its help", name)
		}
	}
	walk(newRootCmd())
}
