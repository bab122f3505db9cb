package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vqgen/vqgen/app"
)

// findChromium returns the browser to drive. Without one the browser test
// is skipped on a developer's machine, but fails under CI (CI=true) or with
// VQGEN_REQUIRE_BROWSER=1: .ci/run installs Debian's chromium.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VQGEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (apt-get install chromium, or set VQGEN_CHROMIUM)"
	if os.Getenv("CI") != "" || os.Getenv("VQGEN_REQUIRE_BROWSER") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1360, 1020),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	var mu sync.Mutex
	var pageErrs []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			pageErrs = append(pageErrs, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				pageErrs = append(pageErrs, "console.error: "+strings.Join(args, " "))
			}
		}
	}))
	t.Cleanup(func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range pageErrs {
			t.Errorf("the page reported: %s", e)
		}
	})
	return ctx
}

// pageState is window.vqgen.state().
type pageState struct {
	Current *struct {
		Codes []int32 `json:"codes"`
		Cls   *int    `json:"cls"`
		What  string  `json:"what"`
	} `json:"current"`
	At        int       `json:"at"`
	History   [][]int32 `json:"history"`
	Redraw    [][]int   `json:"redraw"`
	Variants  [][]int32 `json:"variants"`
	Samples   [][]int32 `json:"samples"`
	Busy      struct{ Edit, Sample bool }
	LastError *apiError `json:"lastError"`
}

func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.vqgen.state())`))
	if err != nil {
		t.Fatal(err)
	}
	var st pageState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls the page's state until ok holds.
func waitFor(t *testing.T, ctx context.Context, what string, ok func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := state(t, ctx)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; page state %+v", what, st)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func do1(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// notBlank checks that a screenshot shows something: many colours, and
// the canvas area far from uniform.
func notBlank(t *testing.T, name string, shot []byte, minColours int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	colours := map[[3]uint32]bool{}
	var sum, sum2 float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			l := float64(r+g+bl) / 3 / 257
			sum += l
			sum2 += l * l
		}
	}
	n := float64(b.Dx() * b.Dy())
	sd := sum2/n - (sum/n)*(sum/n)
	if len(colours) < minColours || sd < 100 {
		t.Fatalf("%s looks blank: %dx%d, %d colours, luma variance %.1f", name, b.Dx(), b.Dy(), len(colours), sd)
	}
	return img
}

// TestBrowserEdit drives the page in headless chromium as a user would:
// pick a test image, paint a 2x2 block of cells with the mouse, ask for 4
// variants, adopt one, undo and redo, and open a sample in the edit view.
//
// VQGEN_SCREENSHOT=docs/serve-edit.png also writes the edit view's
// screenshot there; VQGEN_SERVE_RUN=DIR serves DIR/vqvae.safetensors and
// DIR/prior.safetensors instead of the tiny test models (for that picture);
// relative paths are from the repository root.
func TestBrowserEdit(t *testing.T) {
	ctx := browser(t)
	b := runBackend(t)
	info := b.Info()
	ts, _ := testServer(t, b, Config{})

	do1(t, ctx, chromedp.Navigate(ts.URL))
	st := waitFor(t, ctx, "the first test image", func(s pageState) bool { return s.Current != nil })
	if st.Current.What != "test image 0" || len(st.Current.Codes) != info.GridH*info.GridW {
		t.Fatalf("on load: %+v", st.Current)
	}
	pageDefaults(t, ctx, info)

	// Pick test image 7 by typing its number.
	do1(t, ctx, chromedp.SetValue("#test-index", "7"), chromedp.Click("#load-image"))
	st = waitFor(t, ctx, "test image 7", func(s pageState) bool { return s.Current.What == "test image 7" })
	orig := slices.Clone(st.Current.Codes)
	api := testImage(t, ts.URL, 7)
	if !slices.Equal(orig, api.Codes) {
		t.Fatalf("the page's grid %v differs from the API's %v", orig, api.Codes)
	}
	if st.At != 1 || len(st.History) != 2 {
		t.Fatalf("history after two picks: at %d of %d", st.At, len(st.History))
	}

	// Paint cells (2,2) (2,3) (3,3) (3,2) in one drag.
	rect, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](
		`(() => { const r = document.querySelector("#canvas").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	at := func(row, col int) (float64, float64) {
		return rect[0] + (float64(col)+0.5)*rect[2]/float64(info.GridW), rect[1] + (float64(row)+0.5)*rect[3]/float64(info.GridH)
	}
	press := func(typ input.DispatchMouseEventType, row, col int) chromedp.Action[chromedp.Void] {
		x, y := at(row, col)
		return chromedp.MouseEvent(typ, x, y, chromedp.ButtonLeft)
	}
	do1(t, ctx,
		press(input.DispatchMouseEventTypeMouseMoved, 1, 1),
		press(input.DispatchMouseEventTypeMousePressed, 2, 2),
		press(input.DispatchMouseEventTypeMouseMoved, 2, 3),
		press(input.DispatchMouseEventTypeMouseMoved, 3, 3),
		press(input.DispatchMouseEventTypeMouseMoved, 3, 2),
		press(input.DispatchMouseEventTypeMouseReleased, 3, 2),
		press(input.DispatchMouseEventTypeMouseMoved, 5, 5), // moves without the button paint nothing
	)
	st = state(t, ctx)
	want := [][]int{{2, 2}, {2, 3}, {3, 2}, {3, 3}}
	if fmt.Sprint(st.Redraw) != fmt.Sprint(want) {
		t.Fatalf("painted %v, want %v", st.Redraw, want)
	}
	inside := func(i int) bool { r, c := i/info.GridW, i%info.GridW; return r >= 2 && r <= 3 && c >= 2 && c <= 3 }

	// Four variants, seed 11.
	do1(t, ctx, chromedp.SetValue("#edit-n", "4"), chromedp.SetValue("#edit-seed", "11"), chromedp.Click("#run-edit"))
	st = waitFor(t, ctx, "4 variants", func(s pageState) bool { return len(s.Variants) == 4 && !s.Busy.Edit })
	if st.LastError != nil {
		t.Fatalf("edit: %+v", st.LastError)
	}
	differs := -1
	for k, v := range st.Variants {
		for i := range v {
			if !inside(i) && v[i] != orig[i] {
				t.Fatalf("variant %d changed kept cell %d (%d -> %d)", k, i, orig[i], v[i])
			}
			if inside(i) && v[i] != orig[i] && differs < 0 {
				differs = k
			}
		}
	}
	if differs < 0 {
		t.Fatal("no variant redrew any of the painted cells")
	}
	// The API gives the same variants for the same request.
	r := postJSON(t, ts.URL+"/api/edit?wait=1", map[string]any{"codes": orig, "redraw": want, "n": 4, "seed": 11,
		"class": *api.Label, "method": info.Edit.Method})
	var j jobJSON
	r.json(t, &j)
	for k, it := range j.Items {
		if !slices.Equal(it.Codes, st.Variants[k]) {
			t.Fatalf("variant %d: page %v, API %v", k, st.Variants[k], it.Codes)
		}
	}
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#edit-seed").value`)); got != "12" {
		t.Errorf("seed after the run: %q, want 12", got)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	notBlank(t, "page screenshot", shot, 50)
	canvasShot, err := chromedp.Run(ctx, chromedp.Screenshot("#canvas"))
	if err != nil {
		t.Fatal(err)
	}
	notBlank(t, "canvas screenshot", canvasShot, 8)
	if p := fromRoot(os.Getenv("VQGEN_SCREENSHOT")); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", p)
	}

	// Adopt the variant that differs, then undo and redo.
	do1(t, ctx, chromedp.Click(fmt.Sprintf(`#variants .card[data-index="%d"]`, differs)))
	st = waitFor(t, ctx, "the adopted variant", func(s pageState) bool { return s.At == 2 })
	if !slices.Equal(st.Current.Codes, st.Variants[differs]) {
		t.Fatalf("adopted %v, want variant %d %v", st.Current.Codes, differs, st.Variants[differs])
	}
	do1(t, ctx, chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	st = waitFor(t, ctx, "undo", func(s pageState) bool { return s.At == 1 })
	if !slices.Equal(st.Current.Codes, orig) {
		t.Fatalf("undo gave %v, want the grid before %v", st.Current.Codes, orig)
	}
	do1(t, ctx, chromedp.KeyEvent("Z", chromedp.KeyModifiers(chromedp.ModifierCtrl|chromedp.ModifierShift)))
	st = waitFor(t, ctx, "redo", func(s pageState) bool { return s.At == 2 })
	if !slices.Equal(st.Current.Codes, st.Variants[differs]) {
		t.Fatal("redo did not bring the variant back")
	}
	do1(t, ctx, chromedp.Click("#undo"))
	st = waitFor(t, ctx, "undo button", func(s pageState) bool { return s.At == 1 })
	if !slices.Equal(st.Current.Codes, orig) {
		t.Fatal("the undo button did not restore the grid")
	}

	// A bad field shows next to its input: an out-of-range variant count.
	do1(t, ctx, chromedp.SetValue("#edit-n", "100000"), chromedp.Click("#run-edit"))
	st = waitFor(t, ctx, "the error", func(s pageState) bool { return s.LastError != nil && !s.Busy.Edit })
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#view-edit .error[data-for="n"]').textContent`))
	if err != nil || st.LastError.Field != "n" || !strings.Contains(msg, "100000") {
		t.Fatalf("error for n: %+v, shown %q (%v)", st.LastError, msg, err)
	}
	do1(t, ctx, chromedp.SetValue("#edit-n", "4"))

	// The downloads raise no error (the page's exceptions fail the test).
	do1(t, ctx, chromedp.Click("#dl-vqc"), chromedp.Click("#dl-json"), chromedp.Sleep(200*time.Millisecond))
	if st = state(t, ctx); st.LastError == nil || st.LastError.Field != "n" {
		t.Fatalf("after the downloads, the last error is %+v", st.LastError)
	}

	// Invert, lock a cell with the lock brush, clear.
	hw := info.GridH * info.GridW
	do1(t, ctx, chromedp.Click("#mask-count"), chromedp.KeyEvent("i")) // the click leaves the input the error focused
	if st = state(t, ctx); len(st.Redraw) != hw-4 {
		t.Fatalf("after invert: %d cells to redraw, want %d", len(st.Redraw), hw-4)
	}
	do1(t, ctx, chromedp.Click(`#tool button[data-tool="keep"]`), press(input.DispatchMouseEventTypeMousePressed, 0, 0),
		press(input.DispatchMouseEventTypeMouseReleased, 0, 0))
	if st = state(t, ctx); len(st.Redraw) != hw-5 || fmt.Sprint(st.Redraw[0]) == "[0 0]" {
		t.Fatalf("after locking cell (0,0): %v", st.Redraw)
	}
	do1(t, ctx, chromedp.KeyEvent("c"), chromedp.KeyEvent("b"))
	if st = state(t, ctx); len(st.Redraw) != 0 {
		t.Fatalf("after clear: %v", st.Redraw)
	}

	// Sample view: draw 4, open the second in the edit view.
	do1(t, ctx, chromedp.Click("#tab-sample"), chromedp.SetValue("#sample-n", "4"), chromedp.Click("#run-sample"))
	st = waitFor(t, ctx, "4 samples", func(s pageState) bool { return len(s.Samples) == 4 && !s.Busy.Sample })
	do1(t, ctx, chromedp.Click(`#samples .card:nth-child(2)`))
	st = waitFor(t, ctx, "the sample in the edit view", func(s pageState) bool { return s.Current.What != "test image 7" })
	if !slices.Equal(st.Current.Codes, st.Samples[1]) || len(st.Redraw) != 0 {
		t.Fatalf("opened %+v, want sample 2 with no cells marked", st.Current)
	}
	if vis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector("#view-edit").hidden`)); !vis {
		t.Fatal("the edit view is not shown")
	}
}

// pageDefaults checks that every field the page opens with holds the
// default /api/info sent, which package app read from the prior: the page
// has none of its own.
func pageDefaults(t *testing.T, ctx context.Context, info Info) {
	t.Helper()
	gibbs, raster := info.EditMethods[app.MethodGibbs], info.EditMethods[app.MethodRaster]
	want := map[string]float64{
		"#edit-sweeps": float64(gibbs.Sweeps), "#edit-temperature": info.Edit.Temperature,
		"#edit-topk": float64(raster.TopK), "#edit-topp": raster.TopP,
		"#edit-seed": float64(info.Edit.Seed), "#edit-n": float64(info.Edit.N),
		"#sample-n": float64(info.Sample.N), "#sample-temperature": info.Sample.Temperature,
		"#sample-topk": float64(info.Sample.TopK), "#sample-topp": info.Sample.TopP,
		"#sample-guidance": info.Sample.Guidance, "#sample-seed": float64(info.Sample.Seed),
	}
	for sel, v := range want {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		if f, err := strconv.ParseFloat(got, 64); err != nil || math.Abs(f-v) > 1e-9 {
			t.Errorf("%s opens with %q, want the default %g", sel, got, v)
		}
	}
	method, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#edit-method button.on").dataset.method`))
	if err != nil || method != info.Edit.Method {
		t.Errorf("the page opens with method %q (%v), want the default %q", method, err, info.Edit.Method)
	}
}

// TestBrowserUploadAndCancel: an uploaded PNG becomes the image to edit
// with the codes the API gives it; a long sample shows its progress and a
// busy button, and Esc cancels it, freeing the button and the worker.
func TestBrowserUploadAndCancel(t *testing.T) {
	ctx := browser(t)
	cond, _ := tinyBackends(t)
	g := newGated(cond)
	ts, _ := testServer(t, g, Config{Workers: 1, Queue: 1})
	do1(t, ctx, chromedp.Navigate(ts.URL))
	waitFor(t, ctx, "the first test image", func(s pageState) bool { return s.Current != nil })

	p := testImage(t, ts.URL, 4)
	file := filepath.Join(t.TempDir(), "four.png")
	if err := os.WriteFile(file, encodePNG(t, pngOf(t, p.Image)), 0o644); err != nil {
		t.Fatal(err)
	}
	do1(t, ctx, chromedp.SetUploadFiles("#upload", []string{file}))
	st := waitFor(t, ctx, "the upload", func(s pageState) bool { return s.Current.What == "four.png" })
	if !slices.Equal(st.Current.Codes, p.Codes) {
		t.Fatalf("uploaded grid %v, want %v", st.Current.Codes, p.Codes)
	}

	do1(t, ctx, chromedp.Click("#tab-sample"), chromedp.Click("#run-sample"))
	waitFor(t, ctx, "the running sample", func(s pageState) bool { return s.Busy.Sample && g.running.Load() == 1 })
	// The button shows the job's progress and the bar moves.
	var busy string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		busy, err = chromedp.Run(ctx, chromedp.Evaluate[string](
			`(() => { const b = document.querySelector("#run-sample"); return b.disabled + " " + b.textContent + " " + document.querySelector("#sample-job .bar div").style.width; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(busy, "true Working…") && !strings.HasSuffix(busy, " 0%") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while running, the button and bar read %q", busy)
		}
	}
	do1(t, ctx, chromedp.KeyEvent("\x1b")) // Esc
	st = waitFor(t, ctx, "the cancelled sample", func(s pageState) bool { return !s.Busy.Sample })
	if err := <-g.stopped; err == nil {
		t.Fatal("the job ran to the end")
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#sample-job .status").textContent + "|" + document.querySelector("#run-sample").disabled`))
	if status != "cancelled|false" || len(st.Samples) != 0 {
		t.Fatalf("after Esc: status %q, %d samples", status, len(st.Samples))
	}
	if banner, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#banner").hidden`)); !banner {
		t.Error("cancelling raised the error banner")
	}
	// The worker is free: the next sample runs at once.
	close(g.release)
	do1(t, ctx, chromedp.SetValue("#sample-n", "2"), chromedp.Click("#run-sample"))
	waitFor(t, ctx, "2 samples", func(s pageState) bool { return len(s.Samples) == 2 && !s.Busy.Sample })
}
