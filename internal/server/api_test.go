package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/datasets"
)

type infoJSON struct {
	Info
	Limits limitsJSON `json:"limits"`
}

func pngOf(t testing.TB, dataURL string) image.Image {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URL: %.40q", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func testImage(t testing.TB, url string, i int) pictureJSON {
	t.Helper()
	r := get(t, fmt.Sprintf("%s/api/test-images/%d", url, i))
	if r.status != 200 {
		t.Fatalf("test image %d: %d %s", i, r.status, r.body)
	}
	var p pictureJSON
	r.json(t, &p)
	return p
}

// TestInfo: /api/info describes the pair, and its defaults are package
// app's for this prior (the server has none of its own).
func TestInfo(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{MaxN: 10})
	var info infoJSON
	r := get(t, ts.URL+"/api/info")
	r.json(t, &info)
	if r.status != 200 || info.GridH != 7 || info.GridW != 7 || info.K != 32 || info.Classes != 10 || info.Size != 28 ||
		info.TestImages != 100 || info.TestSet == "" || info.Limits.MaxN != 10 || info.Edit.Method != "gibbs" || info.Sample.N != 16 {
		t.Fatalf("info: %d %+v", r.status, info)
	}
	p := tinyModels(t)
	m, err := app.LoadModels(p.vq, p.prior)
	if err != nil {
		t.Fatal(err)
	}
	if info.Sample != m.SampleDefaults() || info.Edit != m.EditDefaults("") {
		t.Errorf("defaults: sample %+v edit %+v; app says %+v and %+v", info.Sample, info.Edit, m.SampleDefaults(), m.EditDefaults(""))
	}
	for _, method := range []string{app.MethodGibbs, app.MethodRaster} {
		if got, want := info.EditMethods[method], m.EditDefaults(method); got != want {
			t.Errorf("%s defaults %+v, app says %+v", method, got, want)
		}
	}
	if got := r.header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", got)
	}
}

func TestTestImage(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	p := testImage(t, ts.URL, 3)
	if len(p.Codes) != 49 || p.Label == nil || *p.Label != int(test.Labels[3]) || p.Index == nil || *p.Index != 3 {
		t.Fatalf("picture: %+v", p)
	}
	img := pngOf(t, p.Image)
	if b := img.Bounds(); b.Dx() != 28 || b.Dy() != 28 {
		t.Fatalf("image is %v", b)
	}
	for i, v := range test.Image(3) { // the original pixels, 8-bit exact
		y, x := i/28, i%28
		if g := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y; g != uint8(v*255+0.5) {
			t.Fatalf("pixel (%d,%d) = %d, want %d", x, y, g, uint8(v*255+0.5))
		}
	}
	pngOf(t, p.Reconstruction)

	for _, c := range []struct {
		path   string
		status int
	}{{"abc", 400}, {"-1", 404}, {"100", 404}, {"1e3", 400}} {
		r := get(t, ts.URL+"/api/test-images/"+c.path)
		if e := r.apiErr(t); r.status != c.status || e.Field != "index" {
			t.Errorf("%s: %d %+v, want %d naming index", c.path, r.status, e, c.status)
		}
	}
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestEncodeUpload: a test image uploaded as PNG gets the codes the test
// set's copy has; bad uploads are refused naming the field.
func TestEncodeUpload(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{MaxUpload: 4 << 10, MaxUploadPixels: 300 * 300})
	p := testImage(t, ts.URL, 5)
	file := encodePNG(t, pngOf(t, p.Image))

	r := do(t, "POST", ts.URL+"/api/encode", "image/png", file)
	var got pictureJSON
	r.json(t, &got)
	if r.status != 200 || !slices.Equal(got.Codes, p.Codes) || got.Label != nil {
		t.Fatalf("raw upload: %d, codes %v, want %v", r.status, got.Codes, p.Codes)
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("image", "digit.png")
	fw.Write(file)
	mw.Close()
	r = do(t, "POST", ts.URL+"/api/encode", mw.FormDataContentType(), form.Bytes())
	got = pictureJSON{}
	r.json(t, &got)
	if r.status != 200 || !slices.Equal(got.Codes, p.Codes) {
		t.Fatalf("form upload: %d %s", r.status, r.body)
	}

	big := image.NewGray(image.Rect(0, 0, 200, 200))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big.Pix {
		big.Pix[i] = uint8(rng.Uint32()) // incompressible: over 4 KiB
	}
	huge := image.NewGray(image.Rect(0, 0, 400, 400)) // compresses, but too many pixels
	for _, c := range []struct {
		name, ctype string
		body        []byte
		status      int
		field       string
	}{
		{"wrong content type", "text/plain", file, 415, "Content-Type"},
		{"no content type", "", file, 415, "Content-Type"},
		{"oversized upload", "image/png", encodePNG(t, big), 413, "image"},
		{"too many pixels", "image/png", encodePNG(t, huge), 413, "image"},
		{"not an image", "image/png", []byte("hello, world"), 400, "image"},
		{"truncated PNG", "image/png", file[:len(file)/2], 400, "image"},
	} {
		r := do(t, "POST", ts.URL+"/api/encode", c.ctype, c.body)
		if r.status == 200 {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if e := r.apiErr(t); r.status != c.status || e.Field != c.field {
			t.Errorf("%s: %d %+v, want %d naming %s", c.name, r.status, e, c.status, c.field)
		}
	}
}

func TestDecodeAndCodes(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	p := testImage(t, ts.URL, 1)
	r := postJSON(t, ts.URL+"/api/decode", map[string]any{"codes": p.Codes})
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("decode: %d %s", r.status, r.body)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// The same pixels as the reconstruction the test image came with.
	if want := pngOf(t, p.Reconstruction); !bytes.Equal(img.(*image.Gray).Pix, want.(*image.Gray).Pix) {
		t.Error("decode differs from the reconstruction")
	}

	r = postJSON(t, ts.URL+"/api/codes", map[string]any{"codes": p.Codes, "class": 4})
	if r.status != 200 {
		t.Fatalf("codes: %d %s", r.status, r.body)
	}
	f, err := datasets.NewCodeReader(bytes.NewReader(r.body), int64(len(r.body)), "download")
	if err != nil {
		t.Fatal(err)
	}
	grids, labels, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := f.Header()
	if h.Count != 1 || h.GridH != 7 || h.K != 32 || len(labels) != 1 || labels[0] != 4 {
		t.Fatalf("code file: %+v labels %v", h, labels)
	}
	for i, c := range grids {
		if int32(c) != p.Codes[i] {
			t.Fatalf("code file cell %d = %d, want %d", i, c, p.Codes[i])
		}
	}

	bad := slices.Clone(p.Codes)
	bad[10] = 32
	for _, c := range []struct {
		name, path string
		body       any
		field      string
	}{
		{"short grid", "decode", map[string]any{"codes": p.Codes[:48]}, "codes"},
		{"code out of range", "decode", map[string]any{"codes": bad}, "codes[10]"},
		{"codes not numbers", "decode", `{"codes": ["a"]}`, "codes"},
		{"class to decode", "decode", map[string]any{"codes": p.Codes, "class": 1}, "class"},
		{"short grid to save", "codes", map[string]any{"codes": p.Codes[:48], "class": 1}, "codes"},
		{"conditional without class", "codes", map[string]any{"codes": p.Codes}, "class"},
		{"unknown class", "codes", map[string]any{"codes": p.Codes, "class": 10}, "class"},
	} {
		r := postJSON(t, ts.URL+"/api/"+c.path, c.body)
		if e := r.apiErr(t); r.status != 400 || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.name, r.status, e, c.field)
		}
	}
}

// waitJob polls a job until it has ended.
func waitJob(t testing.TB, url, id string) jobJSON {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var j jobJSON
		r := get(t, url+"/api/jobs/"+id)
		r.json(t, &j)
		if r.status != 200 {
			t.Fatalf("job %s: %d %s", id, r.status, r.body)
		}
		if j.State != stateQueued && j.State != stateRunning {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return jobJSON{}
}

func TestSample(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	r := postJSON(t, ts.URL+"/api/sample", map[string]any{"n": 3, "class": 7, "seed": 9})
	var j jobJSON
	r.json(t, &j)
	if r.status != 202 || j.ID == "" || r.header.Get("Location") != "/api/jobs/"+j.ID {
		t.Fatalf("sample: %d %s", r.status, r.body)
	}
	j = waitJob(t, ts.URL, j.ID)
	if j.State != stateDone || len(j.Items) != 3 || j.Total == 0 || j.Done != j.Total {
		t.Fatalf("job: %+v", j)
	}
	for i, it := range j.Items {
		if len(it.Codes) != 49 || it.Class == nil || *it.Class != 7 {
			t.Fatalf("item %d: %+v", i, it)
		}
		pngOf(t, it.Image)
		img := get(t, ts.URL+it.URL)
		if img.status != 200 || img.header.Get("Content-Type") != "image/png" {
			t.Fatalf("%s: %d", it.URL, img.status)
		}
	}
	// The same request with ?wait=1 answers with the same grids.
	r = postJSON(t, ts.URL+"/api/sample?wait=1", map[string]any{"n": 3, "class": 7, "seed": 9})
	var w jobJSON
	r.json(t, &w)
	if r.status != 200 || w.State != stateDone {
		t.Fatalf("wait: %d %s", r.status, r.body)
	}
	for i := range w.Items {
		if !slices.Equal(w.Items[i].Codes, j.Items[i].Codes) {
			t.Fatalf("item %d differs between two runs with one seed", i)
		}
	}
	// Left-out options take the model's defaults (n = 16 in tiny.toml).
	r = postJSON(t, ts.URL+"/api/sample?wait=true", map[string]any{})
	r.json(t, &w)
	if r.status != 200 || len(w.Items) != 16 {
		t.Fatalf("defaults: %d, %d items", r.status, len(w.Items))
	}

	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"malformed JSON", `{"n": 2`, "body"},
		{"not an object", `[1, 2]`, "body"},
		{"trailing data", `{"n": 2} {}`, "body"},
		{"empty body", ``, "body"},
		{"unknown field", `{"n": 2, "temprature": 1}`, "temprature"},
		{"wrong type", `{"n": "four"}`, "n"},
		{"fractional n", `{"n": 2.5}`, "n"},
		{"n zero", `{"n": 0}`, "n"},
		{"n over the limit", `{"n": 65}`, "n"},
		{"unknown class", `{"class": 10}`, "class"},
		{"negative class", `{"class": -2}`, "class"},
		{"temperature zero", `{"temperature": 0}`, "temperature"},
		{"top_p over 1", `{"top_p": 1.5}`, "top_p"},
		{"negative top_k", `{"top_k": -2}`, "top_k"},
		{"negative guidance", `{"guidance": -1}`, "guidance"},
		{"negative seed", `{"seed": -1}`, "seed"},
	} {
		r := postJSON(t, ts.URL+"/api/sample", c.body)
		if e := r.apiErr(t); r.status != 400 || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.name, r.status, e, c.field)
		}
	}
	r = do(t, "POST", ts.URL+"/api/sample", "text/plain", []byte(`{}`))
	if e := r.apiErr(t); r.status != 415 || e.Field != "Content-Type" {
		t.Errorf("text/plain: %d %+v", r.status, e)
	}
	r = postJSON(t, ts.URL+"/api/sample?wait=maybe", `{}`)
	if e := r.apiErr(t); r.status != 400 || e.Field != "wait" {
		t.Errorf("wait=maybe: %d %+v", r.status, e)
	}
	r = postJSON(t, ts.URL+"/api/sample", strings.Repeat(" ", maxJSON+1)+"{}")
	if e := r.apiErr(t); r.status != 413 || e.Field != "body" {
		t.Errorf("huge body: %d %+v", r.status, e)
	}
}

func TestSampleUnconditional(t *testing.T) {
	_, unc := tinyBackends(t)
	ts, _ := testServer(t, unc, Config{})
	r := postJSON(t, ts.URL+"/api/sample?wait=1", map[string]any{"n": 2})
	var j jobJSON
	r.json(t, &j)
	if r.status != 200 || len(j.Items) != 2 || j.Items[0].Class != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, body := range []string{`{"class": 0}`, `{"guidance": 2}`} {
		r := postJSON(t, ts.URL+"/api/sample", body)
		e := r.apiErr(t)
		if want := strings.Trim(strings.Split(body, ":")[0], `{"`); r.status != 400 || e.Field != want {
			t.Errorf("%s: %d %+v", body, r.status, e)
		}
	}
}

// redrawCells lists the [row, col] pairs of a rectangle.
func redrawCells(r0, c0, r1, c1 int) [][]int {
	var out [][]int
	for r := r0; r <= r1; r++ {
		for c := c0; c <= c1; c++ {
			out = append(out, []int{r, c})
		}
	}
	return out
}

func TestEdit(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	p := testImage(t, ts.URL, 0)
	for _, method := range []string{"gibbs", "raster"} {
		r := postJSON(t, ts.URL+"/api/edit?wait=1", map[string]any{"codes": p.Codes, "redraw": redrawCells(2, 2, 4, 4),
			"n": 4, "class": *p.Label, "seed": 3, "method": method, "temperature": 1.5})
		var j jobJSON
		r.json(t, &j)
		if r.status != 200 || len(j.Items) != 4 {
			t.Fatalf("%s: %d %s", method, r.status, r.body)
		}
		changed := false
		for _, it := range j.Items {
			for i, c := range it.Codes {
				inside := i/7 >= 2 && i/7 <= 4 && i%7 >= 2 && i%7 <= 4
				if !inside && c != p.Codes[i] {
					t.Fatalf("%s: kept cell %d changed from %d to %d", method, i, p.Codes[i], c)
				}
				changed = changed || (inside && c != p.Codes[i])
			}
			if it.Class == nil || *it.Class != *p.Label {
				t.Fatalf("%s: class %v", method, it.Class)
			}
		}
		if !changed {
			t.Errorf("%s: no variant redrew any of the 9 cells", method)
		}
	}

	base := func() map[string]any {
		return map[string]any{"codes": p.Codes, "redraw": [][]int{{1, 1}}, "class": 3}
	}
	with := func(k string, v any) map[string]any {
		m := base()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	bad := slices.Clone(p.Codes)
	bad[48] = -1
	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"cell out of range", with("redraw", [][]int{{1, 1}, {7, 0}}), "redraw[1]"},
		{"negative cell", with("redraw", [][]int{{0, -1}}), "redraw[0]"},
		{"cell not a pair", with("redraw", [][]int{{1, 2, 3}}), "redraw[0]"},
		{"nothing to redraw", with("redraw", [][]int{}), "redraw"},
		{"no redraw", with("redraw", nil), "redraw"},
		{"no codes", with("codes", nil), "codes"},
		{"code out of range", with("codes", bad), "codes[48]"},
		{"unknown class", with("class", 12), "class"},
		{"no class for a conditional prior", with("class", nil), "class"},
		{"unknown method", with("method", "ddpm"), "method"},
		{"gibbs with top_k", with("top_k", 5), "top_k"},
		{"gibbs with top_p", with("top_p", 0.5), "top_p"},
		{"negative sweeps", with("sweeps", -1), "sweeps"},
		{"too many sweeps", with("sweeps", 1000), "sweeps"},
		{"too many variants", with("n", 1000), "n"},
		{"malformed JSON", `{"codes": [1,2,`, "body"},
		{"wrong type", `{"codes": "1,2,3"}`, "codes"},
	} {
		r := postJSON(t, ts.URL+"/api/edit", c.body)
		if e := r.apiErr(t); r.status != 400 || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.name, r.status, e, c.field)
		}
	}
	// top_k is fine for raster.
	r := postJSON(t, ts.URL+"/api/edit?wait=1", with("method", "raster"))
	if r.status != 200 {
		t.Errorf("raster: %d %s", r.status, r.body)
	}
}

func TestJobsAndRoutes(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{})
	r := postJSON(t, ts.URL+"/api/sample?wait=1", map[string]any{"n": 2})
	var j jobJSON
	r.json(t, &j)
	for _, c := range []struct {
		method, path string
		status       int
		field        string
	}{
		{"GET", "/api/jobs/nope", 404, "id"},
		{"POST", "/api/jobs/nope/cancel", 404, "id"},
		{"GET", "/api/jobs/" + j.ID + "/images/2.png", 404, "file"},
		{"GET", "/api/jobs/" + j.ID + "/images/x.png", 404, "file"},
		{"GET", "/api/jobs/" + j.ID + "/images/1", 404, "file"},
		{"GET", "/api/sample", 405, "method"},
		{"DELETE", "/api/info", 405, "method"},
		{"GET", "/api/nothing", 404, "path"},
		{"GET", "/nothing.html", 404, "path"},
		{"GET", "/../../../etc/passwd", 404, "path"},
		{"GET", "/%2e%2e/%2e%2e/etc/passwd", 404, "path"},
		{"GET", "/web/index.html", 404, "path"},
		{"POST", "/", 405, "method"},
	} {
		r := do(t, c.method, ts.URL+c.path, "", nil)
		if e := r.apiErr(t); r.status != c.status || e.Field != c.field {
			t.Errorf("%s %s: %d %+v, want %d naming %s", c.method, c.path, r.status, e, c.status, c.field)
		}
	}
	if r := do(t, "GET", ts.URL+"/api/sample", "", nil); r.header.Get("Allow") != "POST" {
		t.Errorf("405 Allow: %q", r.header.Get("Allow"))
	}
	for path, ctype := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/state.js": "text/javascript", "/grid.js": "text/javascript", "/app.css": "text/css"} {
		r := get(t, ts.URL+path)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
	}
	// A cancelled finished job stays done.
	r = do(t, "POST", ts.URL+"/api/jobs/"+j.ID+"/cancel", "", nil)
	var c jobJSON
	r.json(t, &c)
	if r.status != 200 || c.State != stateDone {
		t.Errorf("cancel after done: %d %+v", r.status, c.State)
	}
	_ = http.StatusOK
}
