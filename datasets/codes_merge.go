package datasets

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
)

// CodeMergeOptions configures MergeCodeFiles.
type CodeMergeOptions struct {
	// Overwrite replaces an existing output file.
	Overwrite bool
	// Codec reads prior-coded inputs and codes the output when the inputs
	// are prior-coded (CodeLayoutPrior); it must be the prior their
	// headers name. Unused for the other layouts.
	Codec CodeChunkCodec
	// Progress, if not nil, is told how many of the total images have been
	// written, after each chunk read; an error it returns stops the merge.
	Progress func(done, total int64) error
}

// MergeCodeFiles writes the images of the code files inputs into one code
// file at out. The inputs must be shards of one dataset: the same VQ-VAE
// fingerprint, grid, K, image shape, labels and classes, keys, layout (and
// prior, for prior-coded files); the first difference is an error naming
// the field and both files. Their chunk sizes may differ (the output takes
// the first input's).
//
// Order: when the inputs carry per-image keys, the output holds all images
// in key order (byte-wise), each input having to be in key order itself and
// no key appearing twice; without keys the inputs are concatenated in the
// order given. Shards written by vqgen-beam hold consecutive ranges of one
// key order, so their merge is the file `vqgen encode` writes for the whole
// folder. The output goes through a temporary file renamed into place (see
// CreateCodeFile); an existing file is replaced only with opt.Overwrite.
// Memory: one chunk per input.
func MergeCodeFiles(out string, inputs []string, opt CodeMergeOptions) (CodeHeader, error) {
	if len(inputs) == 0 {
		return CodeHeader{}, errors.New("no input code files to merge")
	}
	if out == "" {
		return CodeHeader{}, errors.New("no output file to merge into")
	}
	if err := checkMergePaths(out, inputs); err != nil {
		return CodeHeader{}, err
	}
	files := make([]*CodeFile, 0, len(inputs))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range inputs {
		f, err := OpenCodeFile(p)
		if err != nil {
			return CodeHeader{}, err
		}
		files = append(files, f)
	}
	hdr := files[0].Header()
	for _, f := range files[1:] {
		if err := checkCodeCompatible(files[0], f); err != nil {
			return CodeHeader{}, err
		}
		hdr.Count += f.Count()
	}
	if hdr.Count > codeMaxCount {
		return CodeHeader{}, fmt.Errorf("%d images in all, more than a code file holds (%d)", hdr.Count, int64(codeMaxCount))
	}
	var w *CodeWriter
	var err error
	if hdr.Layout == CodeLayoutPrior {
		if opt.Codec == nil {
			return CodeHeader{}, fmt.Errorf("%s is prior-coded: merging it needs its prior %v", files[0].Name(), hdr.Prior)
		}
		for _, f := range files {
			if err := f.SetChunkCodec(opt.Codec); err != nil {
				return CodeHeader{}, err
			}
		}
		w, err = CreateCodeFileCodec(out, hdr, opt.Overwrite, opt.Codec)
	} else {
		w, err = CreateCodeFile(out, hdr, opt.Overwrite)
	}
	if err != nil {
		return CodeHeader{}, err
	}
	srcs := make([]codeSource, len(files))
	for i, f := range files {
		srcs[i] = &codeFileSource{f: f}
	}
	var done int64
	write := func(grid []uint16, label int32, _ string) error { return w.Write(grid, label) }
	if hdr.Keys {
		write = w.WriteKeyed
	}
	err = mergeCodeSources(srcs, func(grid []uint16, label int32, key string) error {
		if err := write(grid, label, key); err != nil {
			return err
		}
		done++
		if opt.Progress != nil && (done%CodeDefaultChunkImages == 0 || done == hdr.Count) {
			return opt.Progress(done, hdr.Count)
		}
		return nil
	})
	if err != nil {
		w.Abort()
		return CodeHeader{}, err
	}
	if err := w.Close(); err != nil {
		return CodeHeader{}, err
	}
	return w.Header(), nil
}

// checkMergePaths refuses an input given twice (its images would be
// duplicated) and an output that is one of the inputs.
func checkMergePaths(out string, inputs []string) error {
	outInfo, outErr := os.Stat(out)
	seen := make([]os.FileInfo, 0, len(inputs))
	for i, p := range inputs {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if outErr == nil && os.SameFile(st, outInfo) {
			return fmt.Errorf("%s is both an input and the output: write the merge to a new file", out)
		}
		for j, prev := range seen {
			if os.SameFile(st, prev) {
				return fmt.Errorf("%s is given twice (inputs %d and %d): its images would be merged twice", p, j+1, i+1)
			}
		}
		seen = append(seen, st)
	}
	return nil
}

// checkCodeCompatible reports the first header field in which b differs
// from a that makes their images not one dataset.
func checkCodeCompatible(a, b *CodeFile) error {
	ha, hb := a.Header(), b.Header()
	differ := func(field string, va, vb any) error {
		return fmt.Errorf("%s and %s differ in %s (%v vs %v): only shards of one dataset, encoded by one VQ-VAE and written alike, can be merged",
			a.Name(), b.Name(), field, va, vb)
	}
	switch {
	case ha.Fingerprint != hb.Fingerprint:
		return differ("VQ-VAE fingerprint", ha.Fingerprint, hb.Fingerprint)
	case ha.GridH != hb.GridH || ha.GridW != hb.GridW:
		return differ("grid", fmt.Sprintf("%dx%d", ha.GridH, ha.GridW), fmt.Sprintf("%dx%d", hb.GridH, hb.GridW))
	case ha.K != hb.K:
		return differ("K", ha.K, hb.K)
	case ha.ImageH != hb.ImageH || ha.ImageW != hb.ImageW || ha.Channels != hb.Channels:
		return differ("image shape", fmt.Sprintf("%dx%dx%d", ha.ImageH, ha.ImageW, ha.Channels), fmt.Sprintf("%dx%dx%d", hb.ImageH, hb.ImageW, hb.Channels))
	case ha.Labels != hb.Labels:
		return differ("labels", presence(ha.Labels), presence(hb.Labels))
	case ha.NumClasses != hb.NumClasses:
		return differ("classes", ha.NumClasses, hb.NumClasses)
	case ha.Keys != hb.Keys:
		return differ("keys", presence(ha.Keys), presence(hb.Keys))
	case ha.Layout != hb.Layout:
		return differ("layout", ha.Layout, hb.Layout)
	case ha.Prior != hb.Prior:
		return differ("prior", ha.Prior, hb.Prior)
	}
	return nil
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

// codeSource yields the images of one merge input in its own order. next
// returns ok = false at the end; the grid is only valid until the next call.
// keyed reports whether the source's images carry keys.
type codeSource interface {
	name() string
	keyed() bool
	next() (grid []uint16, label int32, key string, ok bool, err error)
}

// codeFileSource reads a code file chunk by chunk.
type codeFileSource struct {
	f      *CodeFile
	chunk  int
	grids  []uint16
	labels []int32
	keys   []string
	pos, n int
}

func (s *codeFileSource) name() string { return s.f.Name() }

func (s *codeFileSource) keyed() bool { return s.f.hdr.Keys }

func (s *codeFileSource) next() ([]uint16, int32, string, bool, error) {
	for s.pos == s.n {
		if s.chunk == s.f.NumChunks() {
			return nil, 0, "", false, nil
		}
		g, l, k, err := s.f.ReadChunkKeys(s.chunk)
		if err != nil {
			return nil, 0, "", false, err
		}
		n, _ := s.f.ChunkImages(s.chunk)
		s.grids, s.labels, s.keys, s.pos, s.n = g, l, k, 0, n
		s.chunk++
	}
	cells := s.f.hdr.Cells()
	i := s.pos
	s.pos++
	label := CodeNoLabel
	if s.labels != nil {
		label = s.labels[i]
	}
	key := ""
	if s.keys != nil {
		key = s.keys[i]
	}
	return s.grids[i*cells : (i+1)*cells], label, key, true, nil
}

// mergeCodeSources passes every image of srcs to emit: in key order when
// the sources are keyed, else source after source. Keyed and unkeyed
// sources do not mix.
func mergeCodeSources(srcs []codeSource, emit func(grid []uint16, label int32, key string) error) error {
	keyed := srcs[0].keyed()
	for _, s := range srcs[1:] {
		if s.keyed() != keyed {
			k, u := srcs[0], s
			if !keyed {
				k, u = s, srcs[0]
			}
			return fmt.Errorf("%s has per-image keys but %s has none: merge orders by key, so either all inputs have keys or none", k.name(), u.name())
		}
	}
	if !keyed {
		for _, s := range srcs {
			for {
				g, l, _, ok, err := s.next()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				if err := emit(g, l, ""); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return mergeByKey(srcs, emit)
}

// keyHead is one source's next image in the k-way merge.
type keyHead struct {
	src   int
	grid  []uint16
	label int32
	key   string
}

type keyHeap []keyHead

func (h keyHeap) Len() int { return len(h) }
func (h keyHeap) Less(i, j int) bool {
	if h[i].key != h[j].key {
		return h[i].key < h[j].key
	}
	return h[i].src < h[j].src
}
func (h keyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)   { *h = append(*h, x.(keyHead)) }
func (h *keyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeByKey is a k-way merge of sources each in key order, refusing a
// source out of order and a key seen twice (within a source or across two).
func mergeByKey(srcs []codeSource, emit func(grid []uint16, label int32, key string) error) error {
	h := make(keyHeap, 0, len(srcs))
	last := make([]string, len(srcs))
	started := make([]bool, len(srcs))
	pull := func(i int) error {
		g, l, k, ok, err := srcs[i].next()
		if err != nil || !ok {
			return err
		}
		if started[i] && k <= last[i] {
			if k == last[i] {
				return fmt.Errorf("%s: key %q appears twice", srcs[i].name(), k)
			}
			return fmt.Errorf("%s: key %q comes after %q: the file is not in key order", srcs[i].name(), k, last[i])
		}
		started[i], last[i] = true, k
		// A source is only asked for its next image after its head was
		// emitted, so the head's grid stays valid while it waits here.
		heap.Push(&h, keyHead{src: i, grid: g, label: l, key: k})
		return nil
	}
	for i := range srcs {
		if err := pull(i); err != nil {
			return err
		}
	}
	prev, prevSrc := "", -1
	for h.Len() > 0 {
		top := heap.Pop(&h).(keyHead)
		if prevSrc >= 0 && top.key == prev {
			return fmt.Errorf("key %q is in both %s and %s", top.key, srcs[prevSrc].name(), srcs[top.src].name())
		}
		if err := emit(top.grid, top.label, top.key); err != nil {
			return err
		}
		prev, prevSrc = top.key, top.src
		if err := pull(top.src); err != nil {
			return err
		}
	}
	return nil
}
