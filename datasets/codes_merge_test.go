package datasets

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mergeHeader is the header of the shards the merge tests write.
func mergeHeader(count int, chunk int) CodeHeader {
	h := CodeHeader{Count: int64(count), GridH: 3, GridW: 2, K: 40, ImageH: 12, ImageW: 12, Channels: 1,
		Labels: true, NumClasses: 7, ChunkImages: chunk}
	h.Fingerprint[0], h.Fingerprint[31] = 0xab, 0x12
	return h
}

// writeShard writes grids (and labels) as a code file with header h.
func writeShard(t *testing.T, path string, h CodeHeader, grids []uint16, labels []int32) {
	t.Helper()
	w, err := CreateCodeFile(path, h, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBatch(grids, labels); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMergeCodeFilesConcatenates(t *testing.T) {
	dir := t.TempDir()
	const cells = 6
	counts := []int{23, 0, 1, 40} // an empty shard merges to nothing
	chunks := []int{5, 3, 7, 16}  // chunk sizes differ between shards and from the output's
	var all []uint16
	var allLabels []int32
	var paths []string
	for i, n := range counts {
		g := synthCodes(uint64(i+1), n, 3, 2, 40, false)
		l := synthLabels(uint64(i+1), n, 7)
		if n == 0 {
			g, l = []uint16{}, []int32{}
		}
		p := filepath.Join(dir, fmt.Sprintf("s%d.vqc", i))
		writeShard(t, p, mergeHeader(n, chunks[i]), g, l)
		paths = append(paths, p)
		all = append(all, g...)
		allLabels = append(allLabels, l...)
	}
	out := filepath.Join(dir, "merged.vqc")
	var last int64
	hdr, err := MergeCodeFiles(out, paths, CodeMergeOptions{Progress: func(done, total int64) error {
		if done < last || total != 64 {
			t.Errorf("progress %d of %d after %d", done, total, last)
		}
		last = done
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != 64 {
		t.Errorf("progress ended at %d, want 64", last)
	}
	f, err := OpenCodeFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, gotLabels, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if f.Count() != 64 || hdr.Count != 64 || len(got) != 64*cells {
		t.Fatalf("merged %d images (header %d), want 64", f.Count(), hdr.Count)
	}
	if !slices.Equal(got, all) || !slices.Equal(gotLabels, allLabels) {
		t.Errorf("merged codes or labels differ from the shards concatenated in order")
	}
	want := mergeHeader(64, chunks[0])
	want.Layout = CodeLayoutRaw16
	if f.Header() != want {
		t.Errorf("merged header %+v, want %+v", f.Header(), want)
	}
}

func TestMergeCodeFilesRefusesIncompatibleShards(t *testing.T) {
	cases := []struct {
		field  string
		change func(h *CodeHeader)
	}{
		{"VQ-VAE fingerprint", func(h *CodeHeader) { h.Fingerprint[5] ^= 1 }},
		{"grid", func(h *CodeHeader) { h.GridH, h.GridW = 2, 3 }},
		{"K", func(h *CodeHeader) { h.K = 41 }},
		{"image shape", func(h *CodeHeader) { h.Channels = 3 }},
		{"labels", func(h *CodeHeader) { h.Labels, h.NumClasses = false, 0 }},
		{"classes", func(h *CodeHeader) { h.NumClasses = 8 }},
		{"layout", func(h *CodeHeader) { h.Layout = CodeLayoutPacked }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.vqc"), filepath.Join(dir, "b.vqc")
			writeShard(t, a, mergeHeader(4, 0), synthCodes(1, 4, 3, 2, 40, false), synthLabels(1, 4, 7))
			hb := mergeHeader(4, 0)
			c.change(&hb)
			var lb []int32
			if hb.Labels {
				lb = synthLabels(2, 4, 7)
			}
			writeShard(t, b, hb, synthCodes(2, 4, hb.GridH, hb.GridW, 40, false), lb)
			out := filepath.Join(dir, "m.vqc")
			_, err := MergeCodeFiles(out, []string{a, b}, CodeMergeOptions{})
			if err == nil {
				t.Fatalf("shards differing in %s were merged", c.field)
			}
			for _, s := range []string{c.field, a, b} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused merge left %s behind", out)
			}
		})
	}
}

func TestMergeCodeFilesRefusesBadPaths(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.vqc"), filepath.Join(dir, "b.vqc")
	writeShard(t, a, mergeHeader(3, 0), synthCodes(1, 3, 3, 2, 40, false), synthLabels(1, 3, 7))
	writeShard(t, b, mergeHeader(2, 0), synthCodes(2, 2, 3, 2, 40, false), synthLabels(2, 2, 7))
	bBytes, _ := os.ReadFile(b)
	cases := []struct {
		name   string
		out    string
		inputs []string
		want   string
	}{
		{"no inputs", filepath.Join(dir, "m.vqc"), nil, "no input"},
		{"input twice", filepath.Join(dir, "m.vqc"), []string{a, b, filepath.Join(dir, ".", "a.vqc")}, "given twice"},
		{"output is an input", b, []string{a, b}, "both an input and the output"},
		{"existing output", b, []string{a}, "already exists"},
		{"missing input", filepath.Join(dir, "m.vqc"), []string{a, filepath.Join(dir, "nope.vqc")}, "nope.vqc"},
	}
	for _, c := range cases {
		_, err := MergeCodeFiles(c.out, c.inputs, CodeMergeOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if after, _ := os.ReadFile(b); !slices.Equal(after, bBytes) {
		t.Errorf("a refused merge changed %s", b)
	}
	if _, err := MergeCodeFiles(b, []string{a}, CodeMergeOptions{Overwrite: true}); err != nil {
		t.Errorf("merge with Overwrite over an existing file: %v", err)
	}
}

// writeKeyedShard writes the images named by keys (grids from keyGrid,
// labels from the key's length) as a keyed code file, in the order given.
func writeKeyedShard(t *testing.T, path string, h CodeHeader, keys ...string) {
	t.Helper()
	h.Count, h.Keys = int64(len(keys)), true
	var w *CodeWriter
	var err error
	if h.Layout == CodeLayoutPrior {
		w, err = CreateCodeFileCodec(path, h, false, newToyCodec(3))
	} else {
		w, err = CreateCodeFile(path, h, false)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := w.WriteKeyed(keyGrid(k), int32(len(k)%h.NumClasses), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMergeCodeFilesByKey merges keyed files, zstd and prior-coded, whose
// keys interleave: the output holds every image once, in key order, with
// its own grid, label and key, in the inputs' layout.
func TestMergeCodeFilesByKey(t *testing.T) {
	for _, layout := range []CodeLayout{CodeLayoutRaw16, CodeLayoutPrior} {
		t.Run(layout.String(), func(t *testing.T) {
			dir := t.TempDir()
			h := mergeHeader(0, 2)
			h.GridH, h.GridW, h.K = 1, 2, 65536
			h.Layout = layout
			shards := [][]string{{"b/2.png", "c/1.png", "c/9.png"}, {}, {"a/1.png", "b/10.png", "d.png"}, {"b/3.png"}}
			var paths, all []string
			for i, keys := range shards {
				p := filepath.Join(dir, fmt.Sprintf("s%d.vqc", i))
				writeKeyedShard(t, p, h, keys...)
				paths = append(paths, p)
				all = append(all, keys...)
			}
			slices.Sort(all)
			out := filepath.Join(dir, "m.vqc")
			var opt CodeMergeOptions
			if layout == CodeLayoutPrior {
				opt.Codec = newToyCodec(3)
				if _, err := MergeCodeFiles(out, paths, CodeMergeOptions{}); err == nil || !strings.Contains(err.Error(), "needs its prior") {
					t.Errorf("prior-coded shards merged without their prior: %v", err)
				}
			}
			if _, err := MergeCodeFiles(out, paths, opt); err != nil {
				t.Fatal(err)
			}
			f, err := OpenCodeFile(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if layout == CodeLayoutPrior {
				if err := f.SetChunkCodec(newToyCodec(3)); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.Header(); got.Layout != layout || !got.Keys || got.Count != int64(len(all)) {
				t.Errorf("merged header %+v: want layout %v, keys, %d images", got, layout, len(all))
			}
			var keys []string
			err = f.IterateKeyed(func(i int64, grid []uint16, label int32, key string) error {
				if !slices.Equal(grid, keyGrid(key)) || label != int32(len(key)%h.NumClasses) {
					t.Errorf("image %d (%s): grid %v label %d, not its own", i, key, grid, label)
				}
				keys = append(keys, key)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, all) {
				t.Errorf("merged keys %q, want %q", keys, all)
			}
		})
	}
}

// memSource is a keyed (or unkeyed) merge input held in memory.
type memSource struct {
	label string
	keys  []string // nil: unkeyed
	grids [][]uint16
	i     int
	buf   []uint16
}

func (m *memSource) name() string { return m.label }
func (m *memSource) keyed() bool  { return m.keys != nil }
func (m *memSource) next() ([]uint16, int32, string, bool, error) {
	if m.i == len(m.grids) {
		return nil, 0, "", false, nil
	}
	i := m.i
	m.i++
	key := ""
	if m.keys != nil {
		key = m.keys[i]
	}
	// Like a chunk buffer, the grid is overwritten by the next call.
	m.buf = append(m.buf[:0], m.grids[i]...)
	return m.buf, int32(i), key, true, nil
}

// keyGrid is the grid a test source gives the image with key k: a hash of
// k, so a grid that travels with the wrong key is noticed.
func keyGrid(k string) []uint16 {
	h := fnv.New32a()
	h.Write([]byte(k))
	v := h.Sum32()
	return []uint16{uint16(v), uint16(v >> 16)}
}

func keyedSource(name string, keys ...string) *memSource {
	m := &memSource{label: name, keys: append([]string{}, keys...)} // keyed even when empty
	for _, k := range keys {
		m.grids = append(m.grids, keyGrid(k))
	}
	return m
}

func collect(t *testing.T, srcs ...codeSource) ([]string, error) {
	t.Helper()
	var keys []string
	err := mergeCodeSources(srcs, func(g []uint16, _ int32, k string) error {
		if !slices.Equal(g, keyGrid(k)) {
			t.Errorf("key %q arrived with grid %v", k, g)
		}
		keys = append(keys, k)
		return nil
	})
	return keys, err
}

func TestMergeOrdersByKey(t *testing.T) {
	// Shards of hashed (not consecutive) keys interleave; the merge is in
	// byte order of the keys, whatever order the shards are given in.
	a := keyedSource("a", "0/001.png", "0/100.png", "3/a.png")
	b := keyedSource("b", "0/002.png", "1/x.png")
	c := keyedSource("c")
	d := keyedSource("d", "0/0010.png", "9/z.png")
	got, err := collect(t, b, c, a, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0/001.png", "0/0010.png", "0/002.png", "0/100.png", "1/x.png", "3/a.png", "9/z.png"}
	if !slices.Equal(got, want) {
		t.Errorf("merged keys %v, want %v", got, want)
	}
}

func TestMergeByKeyRefuses(t *testing.T) {
	cases := []struct {
		name string
		srcs []codeSource
		want string
	}{
		{"unsorted shard", []codeSource{keyedSource("a", "1.png", "0.png")}, `a: key "0.png" comes after "1.png"`},
		{"key twice in a shard", []codeSource{keyedSource("a", "1.png", "1.png")}, `a: key "1.png" appears twice`},
		{"key in two shards", []codeSource{keyedSource("a", "1.png", "2.png"), keyedSource("b", "0.png", "2.png")}, `key "2.png" is in both a and b`},
		{"keyed and unkeyed", []codeSource{keyedSource("a", "1.png"), &memSource{label: "b", grids: [][]uint16{keyGrid("1.png")}}}, "a has per-image keys but b has none"},
		{"unkeyed and keyed", []codeSource{&memSource{label: "b", grids: [][]uint16{keyGrid("1.png")}}, keyedSource("a", "1.png")}, "a has per-image keys but b has none"},
	}
	for _, c := range cases {
		_, err := collect(t, c.srcs...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
