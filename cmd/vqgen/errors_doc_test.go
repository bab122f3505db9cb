//go:build unix

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/configs"
)

var hexHash = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

var updateDocs = flag.Bool("update", false, "rewrite docs/errors.md from TestErrorsDoc's table")

// badInput is one row of docs/errors.md: a bad input, how vqgen is called
// with it, and the advice the page gives. The message and the exit code
// are whatever vqgen answers.
type badInput struct {
	what string
	args []string // {run}: the shared tiny run, {dir}: this case's folder, {conf}: tiny.toml
	env  []string
	// setup prepares the case's folder (files, folders) before the call.
	setup func(t *testing.T, dir string)
	do    string
}

// badRequest is one HTTP row: a request to vqgen serve and the advice.
type badRequest struct {
	what, method, path, ctype, body string
	header                          map[string]string
	do                              string
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTruncated(t *testing.T, src, dst string, n int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, b[:min(n, len(b))])
}

func tomlCase(text string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "my.toml"), []byte(text)) }
}

// errorSections are the bad inputs of the command line, by class.
func errorSections(run string) []struct {
	title, intro string
	cases        []badInput
} {
	rf := func(name string) string { return filepath.Join(run, name) }
	type section = struct {
		title, intro string
		cases        []badInput
	}
	return []section{
		{"Files", "A file that is missing, cut short, of another kind or from another run is refused before any work, naming it.", []badInput{
			{what: "a checkpoint that does not exist", args: []string{"sample", "--vqvae", "{dir}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				do: "check the path; a run folder holds `vqvae.safetensors` and `prior.safetensors`"},
			{what: "a checkpoint cut short (a copy that did not finish)", args: []string{"sample", "--vqvae", "{dir}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				setup: func(t *testing.T, dir string) {
					copyTruncated(t, rf("vqvae.safetensors"), filepath.Join(dir, "vqvae.safetensors"), 2000)
				},
				do: "copy the file again; vqgen itself never leaves a torn file (it writes a temporary file and renames it)"},
			{what: "a file that is not a checkpoint", args: []string{"sample", "--vqvae", "{dir}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				setup: func(t *testing.T, dir string) {
					writeFile(t, filepath.Join(dir, "vqvae.safetensors"), []byte("not a model\n"))
				},
				do: "pass the `.safetensors` file vqgen wrote"},
			{what: "a prior given as the VQ-VAE", args: []string{"sample", "--vqvae", "{run}/prior.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				do: "`--vqvae` takes `vqvae.safetensors`, `--prior` takes `prior.safetensors`"},
			{what: "a prior trained on another VQ-VAE's codes", args: []string{"sample", "--vqvae", "{dir}/other/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				setup: otherVQVAE, do: "use the prior and the VQ-VAE of the same run"},
			{what: "a code file cut short", args: []string{"codes", "inspect", "{dir}/codes.vqc"},
				setup: func(t *testing.T, dir string) {
					copyTruncated(t, rf("codes-test.vqc"), filepath.Join(dir, "codes.vqc"), 100)
				},
				do: "encode the data again (`vqgen encode`)"},
			{what: "codes decoded with a VQ-VAE that did not make them", args: []string{"decode", "--vqvae", "{dir}/other/vqvae.safetensors", "--codes", "{run}/codes-test.vqc", "--out", "{dir}/d.png"},
				setup: otherVQVAE, do: "decode a code file with the VQ-VAE that wrote it"},
			{what: "code-file shards written in different layouts", args: []string{"codes", "merge", "{run}/codes-test.vqc", "{dir}/packed.vqc", "--out", "{dir}/m.vqc"},
				setup: func(t *testing.T, dir string) {
					o := app.ConvertOptions{In: rf("codes-test.vqc"), Out: filepath.Join(dir, "packed.vqc"), Layout: "packed"}
					if _, err := app.Convert(context.Background(), o, nil); err != nil {
						t.Fatal(err)
					}
				},
				do: "merge only shards of one dataset, encoded by one VQ-VAE; bring them to one layout first (`vqgen codes convert --layout`)"},
			{what: "a code-file shard given twice to merge", args: []string{"codes", "merge", "{run}/codes-test.vqc", "{run}/codes-test.vqc", "--out", "{dir}/m.vqc"},
				do: "name each shard once (a glob such as `codes-*-of-00008.vqc` does)"},
			{what: "an image file that does not decode", args: []string{"encode", "--vqvae", "{run}/vqvae.safetensors", "--data", "images:{dir}/pics:train", "--out", "{dir}/c.vqc"},
				setup: func(t *testing.T, dir string) {
					for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
						writeFile(t, filepath.Join(dir, "pics", n+".png"), []byte("\x89PNG\r\n\x1a\n broken"))
					}
				}, do: "remove or replace the file named; every image of a folder must decode"},
			{what: "an image folder without images", args: []string{"encode", "--vqvae", "{run}/vqvae.safetensors", "--data", "images:{dir}/pics:train", "--out", "{dir}/c.vqc"},
				setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "pics", "notes.txt"), []byte("x")) },
				do:    "point `--data` at a folder of PNG or JPEG files (class subfolders are optional)"},
		}},
		{"Configs", "A config file's error names the file and the key; syntax errors give the line and column, and an unknown key is an error rather than a silent default. Every problem of a file is listed at once.", []badInput{
			{what: "a config file that does not exist", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				do: "check the path, or name a built-in config (`mnist`, `tiny`)"},
			{what: "a TOML syntax error", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				setup: tomlCase("[vqvae]\nk = = 512\n"), do: "fix the line and column named"},
			{what: "a misspelt key", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				setup: tomlCase("[vqvae]\nhiden = 64\n"), do: "use the key suggested; `configs/mnist.toml` lists every key"},
			{what: "a value of the wrong type", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				setup: tomlCase("[vqvae]\nk = \"512\"\n"), do: "write the value as the type named"},
			{what: "values out of range", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				setup: tomlCase("[vqvae]\nk = 1\ndownsample = 3\n\n[sample]\ntop_p = 1.5\n"), do: "pick values in the ranges named"},
			{what: "keys that disagree", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out"},
				setup: tomlCase("[data]\ntrain_limit = 100\nval_count = 100\n\n[prior.transformer]\ndim = 100\nheads = 3\n"), do: "change one of the keys named"},
			{what: "an unknown built-in config", args: []string{"train", "vqvae", "--config", "mnsit", "--out", "{dir}/out"},
				do: "name a file, or `mnist` or `tiny`"},
			{what: "a photo preset without data", args: []string{"run", "--config", "photos64", "--out", "{dir}/out"},
				do: "give your photos: `--data images:DIR` (and `--test images:DIR2` for a separate test folder)"},
		}},
		{"Flags and options", "A bad flag value names the flag and says what is wanted.", []badInput{
			{what: "an unknown flag", args: []string{"sample", "--temprature", "0.8"}, do: "see `vqgen sample --help`"},
			{what: "top-p outside (0, 1]", args: []string{"sample", "--vqvae", "{run}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--top-p", "1.5", "--out", "{dir}/s.png"},
				do: "give a value in (0, 1]; 1 turns it off"},
			{what: "a class the prior does not know", args: []string{"sample", "--vqvae", "{run}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--class", "12", "--out", "{dir}/s.png"},
				do: "give a class the prior was trained on"},
			{what: "cells outside the grid", args: []string{"edit", "--vqvae", "{run}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--data", "mnist:test", "--cells", "1,1,9,9", "--out", "{dir}/e.png"},
				do: "give cells inside the grid, or `--pixels` in image coordinates"},
			{what: "a dataset spec that does not parse", args: []string{"encode", "--vqvae", "{run}/vqvae.safetensors", "--data", "mnist", "--out", "{dir}/c.vqc"},
				do: "use one of the forms listed"},
			{what: "a verb without its inputs", args: []string{"sample", "--out", "{dir}/s.png"},
				do: "pass the checkpoints named"},
		}},
		{"Folders and outputs", "Existing results are never silently overwritten; `--force` clears only folders that carry vqgen's marker file, and never the root, the home folder or a folder holding the working directory.", []badInput{
			{what: "an output that exists", args: []string{"sample", "--vqvae", "{run}/vqvae.safetensors", "--prior", "{run}/prior.safetensors", "--out", "{dir}/s.png"},
				setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "s.png"), []byte("mine")) },
				do:    "pass `--force`, or choose another `--out`"},
			{what: "a training folder that holds another run", args: []string{"train", "vqvae", "--config", "tiny", "--out", "{dir}/out"},
				setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "out", "notes.txt"), []byte("mine")) },
				do:    "`--resume` continues the run in it; `--force` deletes it (only a folder vqgen made)"},
			{what: "`--force` on a folder vqgen did not make", args: []string{"train", "vqvae", "--config", "tiny", "--out", "{dir}/out", "--force"},
				setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "out", "notes.txt"), []byte("mine")) },
				do:    "nothing was deleted; choose another `--out` or clear it yourself"},
			{what: "`vqgen run` on a folder made with another config", args: []string{"run", "--config", "{dir}/my.toml", "--out", "{run}"},
				setup: tinySeed2(0),
				do:    "another `--out`, or `--force` to start over"},
			{what: "`vqgen run` continued with other data", args: []string{"run", "--config", "{run}/config.toml", "--data", "mnist:test", "--out", "{run}"},
				do: "the data is part of a run's config: another `--out`, or `--force` to start over"},
			{what: "`--resume` and `--force` together", args: []string{"train", "vqvae", "--config", "tiny", "--out", "{dir}/out", "--resume", "--force"},
				do: "choose one: resume continues a run, force deletes it"},
		}},
		{"Training", "Stage two checks its codes against the config before it starts.", []badInput{
			{what: "a class-conditional prior over codes without labels", args: []string{"train", "prior", "--config", "tiny", "--codes", "{dir}/c.vqc", "--out", "{dir}/prior"},
				setup: func(t *testing.T, dir string) {
					pics := filepath.Join(dir, "pics")
					for i := range 40 {
						writeFile(t, filepath.Join(pics, fmt.Sprintf("%02d.png", i)), tinyPNG(i))
					}
					mustVqgen(t, "encode", "--vqvae", rf("vqvae.safetensors"), "--data", "images:"+pics+":train", "--out", filepath.Join(dir, "c.vqc"))
				}, do: "encode labelled data (class subfolders), or set `prior.conditional = false`"},
			{what: "codes made by a VQ-VAE the config does not describe", args: []string{"train", "prior", "--config", "mnist", "--codes", "{run}/codes-train.vqc", "--out", "{dir}/prior"},
				do: "train the prior with the config of the VQ-VAE that made the codes"},
			{what: "`--resume` with a config that changes the model", args: []string{"train", "vqvae", "--config", "{dir}/my.toml", "--out", "{dir}/out", "--resume"},
				setup: func(t *testing.T, dir string) {
					tinySeed2(0)(t, dir)
					for _, f := range []string{"last.safetensors", ".vqgen-run"} {
						copyTruncated(t, rf(f), filepath.Join(dir, "out", f), 1<<30)
					}
				}, do: "resume with the config in `DIR/config.toml`, or start over with `--force`"},
			{what: "a prior's baseline without its training codes", args: []string{"eval", "prior", "--prior", "{dir}/p/prior.safetensors", "--codes", "{run}/codes-test.vqc"},
				setup: func(t *testing.T, dir string) {
					copyTruncated(t, rf("prior.safetensors"), filepath.Join(dir, "p", "prior.safetensors"), 1<<30)
				},
				do: "pass the prior's training codes with `--train-codes`; they are found by name and hash beside the prior or in the folder above it"},
		}},
		{"Memory", "Before loading data or building a model, vqgen estimates the memory the work needs and refuses a config that would not fit, instead of being killed by the kernel hours later. The estimate counts the decoded images, the parameters with their gradients and Adam moments, and each layer's activations; `VQGEN_MEMORY_LIMIT` (a size such as `8GiB`, or `off`) replaces the measured figure (the smallest of the cgroup limit and MemAvailable).", []badInput{
			{what: "a config that needs more memory than is available", args: []string{"run", "--config", "mnist", "--out", "{dir}/out"},
				env: []string{"VQGEN_MEMORY_LIMIT=600MiB"}, do: "lower the keys in brackets (the batch sizes first), or free memory"},
			{what: "a `VQGEN_MEMORY_LIMIT` that is not a size", args: []string{"train", "vqvae", "--config", "tiny", "--out", "{dir}/out"},
				env: []string{"VQGEN_MEMORY_LIMIT=lots"}, do: "give bytes or a size with a unit, or `off`"},
		}},
	}
}

// tinySeed2 writes configs/tiny.toml with seed 2 (a config unlike the
// shared run's) as dir/my.toml, with steps steps of stage one when > 0.
func tinySeed2(steps int) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		cfg, err := configs.Builtin("tiny")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Seed = 2
		if steps > 0 {
			cfg.VQVAE.Train.Steps = steps
		}
		b, err := cfg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "my.toml"), b)
	}
}

var other struct {
	sync.Once
	dir string
}

// otherVQVAE puts a VQ-VAE unlike the shared run's (another seed, two
// steps; trained once per test binary) at dir/other/vqvae.safetensors.
func otherVQVAE(t *testing.T, dir string) {
	t.Helper()
	other.Do(func() {
		d := t.TempDir()
		tinySeed2(2)(t, d)
		mustVqgen(t, "train", "vqvae", "--config", filepath.Join(d, "my.toml"), "--out", filepath.Join(d, "other"))
		other.dir = filepath.Join(d, "other")
	})
	if other.dir == "" {
		t.Fatal("training the other VQ-VAE failed")
	}
	copyTruncated(t, filepath.Join(other.dir, "vqvae.safetensors"), filepath.Join(dir, "other", "vqvae.safetensors"), 1<<30)
}

// tinyPNG is a small grey picture, different for each i.
func tinyPNG(i int) []byte {
	img := image.NewGray(image.Rect(0, 0, 20, 20))
	for p := range img.Pix {
		img.Pix[p] = uint8(p*7 + i*31)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func httpRequests() []badRequest {
	const js = "application/json"
	return []badRequest{
		{"malformed JSON", "POST", "/api/sample", js, `{"n": 4,}`, nil, "send one JSON object"},
		{"an unknown field", "POST", "/api/sample", js, `{"tempurature": 0.8}`, nil, "use the fields of docs/http-api.md"},
		{"a value of the wrong type", "POST", "/api/sample", js, `{"n": "4"}`, nil, "send the JSON type named"},
		{"a value out of range", "POST", "/api/sample", js, `{"top_p": 1.5}`, nil, "send a value in the range named"},
		{"a grid of the wrong size", "POST", "/api/edit", js, `{"codes": [1, 2, 3], "redraw": [[0, 0]], "class": 3}`, nil, "send GridH*GridW codes in raster order (`GET /api/info`)"},
		{"a cell outside the grid", "POST", "/api/edit", js, `{"codes": [` + strings.TrimSuffix(strings.Repeat("0,", 49), ",") + `], "redraw": [[7, 0]], "class": 3}`, nil, "send cells inside the grid"},
		{"another Content-Type", "POST", "/api/sample", "text/plain", `{}`, nil, "send `Content-Type: application/json`"},
		{"a body over the limit", "POST", "/api/decode", js, `{"codes": [` + strings.Repeat("0,", 600000) + `0]}`, nil, "send less; a grid is small"},
		{"the wrong method", "GET", "/api/sample", "", "", nil, "use the method in the `Allow` header"},
		{"an unknown job", "GET", "/api/jobs/nosuchjob", "", "", nil, "use the id `POST /api/sample` or `/api/edit` answered"},
		{"a test image beyond the test set", "GET", "/api/test-images/999999", "", "", nil, "ask for an index below `test_images` of `GET /api/info`"},
		{"a request from another site", "POST", "/api/sample", js, `{}`, map[string]string{"Origin": "http://evil.example"}, "use the page the server serves; see docs/http-api.md, Security"},
	}
}

// TestErrorsDoc runs every bad input of the page against vqgen (a child
// process: the message is what a user reads on standard error and the
// status what the shell sees) and the HTTP ones against vqgen serve, and
// checks that docs/errors.md is exactly the page they produce. Run with
// -update to rewrite it.
func TestErrorsDoc(t *testing.T) {
	run, _ := sharedRun(t)
	var page bytes.Buffer
	page.WriteString(errorsDocHead)
	env := []string{"GOMAXPROCS=2"} // memory estimates count per-core scratch
	for _, sec := range errorSections(run) {
		fmt.Fprintf(&page, "\n## %s\n\n%s\n\n| bad input | command | message | exit | do |\n|---|---|---|---|---|\n", sec.title, sec.intro)
		for _, c := range sec.cases {
			dir := t.TempDir()
			if c.setup != nil {
				c.setup(t, dir)
			}
			expand := strings.NewReplacer("{run}", run, "{dir}", dir)
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = expand.Replace(a)
			}
			stderr, st := vqgenChild(t, append(env, c.env...), args...)
			msg := strings.TrimSpace(stderr)
			if i := strings.LastIndex(msg, "\nvqgen: "); i >= 0 {
				msg = msg[i+1:]
			}
			if st.Success() || !strings.HasPrefix(msg, "vqgen: ") {
				t.Errorf("%s: vqgen %s exited %d with %q; want a refusal", c.what, strings.Join(args, " "), st.ExitCode(), tail(stderr, 500))
			}
			hide := func(s string) string {
				// Weights differ in their last bits between CPUs (FMA,
				// vector widths), and with them every hash of them.
				return hexHash.ReplaceAllString(strings.NewReplacer(dir, "DIR", run, "RUN").Replace(s), "HASH")
			}
			cmd := "vqgen " + strings.Join(c.args, " ")
			if len(c.env) > 0 {
				cmd = strings.Join(c.env, " ") + " " + cmd
			}
			cmd = strings.NewReplacer("{run}", "RUN", "{dir}", "DIR").Replace(cmd)
			fmt.Fprintf(&page, "| %s | %s | %s | %d | %s |\n", c.what, code(cmd), code(hide(msg)), st.ExitCode(), c.do)
		}
	}
	page.WriteString(httpHead)
	base := serveChild(t, run)
	for _, r := range httpRequests() {
		req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if r.ctype != "" {
			req.Header.Set("Content-Type", r.ctype)
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", r.what, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("%s: status %d, want a 4xx: %s", r.what, resp.StatusCode, body)
		}
		shown := r.body
		if len(shown) > 80 {
			shown = shown[:60] + "..." + shown[len(shown)-10:]
		}
		req0 := r.method + " " + r.path
		if r.ctype != "" && r.ctype != "application/json" {
			req0 += " (Content-Type: " + r.ctype + ")"
		}
		for k, v := range r.header {
			req0 += " (" + k + ": " + v + ")"
		}
		if shown != "" {
			req0 += " " + shown
		}
		fmt.Fprintf(&page, "| %s | %s | %s | %d | %s |\n", r.what, code(req0), code(strings.TrimSpace(string(body))), resp.StatusCode, r.do)
	}

	path := filepath.Join("..", "..", "docs", "errors.md")
	if *updateDocs {
		if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, page.Bytes()) {
		t.Errorf("docs/errors.md differs from what vqgen answers now; if the change is meant, run\n\tgo test ./cmd/vqgen -run TestErrorsDoc -update\nfirst difference: %s", firstDiff(string(old), page.String()))
	}
}

// code makes s a Markdown code span that survives a table cell.
func code(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "|", `\|`)
	if strings.Contains(s, "`") {
		return "``" + s + "``"
	}
	return "`" + s + "`"
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n\tfile: %s\n\tnow:  %s", i+1, x, y)
		}
	}
	return "none"
}

// serveChild starts `vqgen serve` on the run in a child process and returns
// its base URL once it answers; the child is stopped when the test ends.
func serveChild(t *testing.T, run string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "serve", "--run", run, "--addr", addr)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/api/info"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
	}
	t.Fatalf("vqgen serve did not answer on %s:\n%s", addr, out.String())
	return ""
}

const errorsDocHead = `# Errors and what to do about them

<!-- Generated by TestErrorsDoc (cmd/vqgen/errors_doc_test.go) from what vqgen
answers; go test ./cmd/vqgen -run TestErrorsDoc -update rewrites it. -->

vqgen refuses rather than guesses: a bad input gets an error that names the
file, the config key or the flag, and the command exits non-zero without
having changed anything. Every row below is a real call on the tiny run of
` + "`configs/tiny.toml`" + ` (RUN; DIR is a scratch folder), with the message vqgen
printed and the exit status the shell saw; a test runs them all and fails
when this page and vqgen disagree.

Programs calling package app get the same errors without the flag advice:
test for them with errors.Is against the sentinels ErrExists,
ErrFolderInUse, ErrNotRunFolder, ErrConfigChanged, ErrInterrupted,
ErrNonFinite, ErrNoTrainCodes and ErrTooBig, or errors.As for an
*app.OptionError.

Two refusals happen during training rather than before it:
` + "`training interrupted at step N; state saved to ...; continue with --resume`" + `
(Ctrl-C or SIGTERM stopped training after saving; run the same command with
` + "`--resume`" + `, or ` + "`vqgen run`" + ` again) and
` + "`step N: loss is not finite (...); the last good checkpoint is ...`" + `
(lower the learning rate or set ` + "`grad_clip`" + `, then resume from the
checkpoint or start over). A crash, even kill -9, loses only the work since
the last checkpoint: run the same command again.
`

const httpHead = `
## HTTP requests to vqgen serve

Every bad request gets a 4xx with a JSON body that names the field to fix
(docs/http-api.md lists the statuses). The exit column is the HTTP status.

| bad request | request | answer | status | do |
|---|---|---|---|---|
`
