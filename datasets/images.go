package datasets

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// testPermille is the share of an image folder that goes to the test split,
// in thousandths (10%).
const testPermille = 100

// IsTestFile reports whether the file at rel (a slash-separated path
// relative to the image folder) belongs to the test split: FNV-1a 64 of rel,
// modulo 1000, below 100.
func IsTestFile(rel string) bool {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return h.Sum64()%1000 < testPermille
}

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// imageFile is one file of a folder listing.
type imageFile struct {
	rel   string // slash-separated path relative to the folder: the image's key
	class int    // class id, -1 when unlabelled
	size  int64
	mtime int64 // modification time, Unix nanoseconds
}

// folderListing is what listImageDir finds.
type folderListing struct {
	files   []imageFile // sorted by rel, byte-wise
	classes []string    // sorted class names; nil when unlabelled
}

// listImageDir lists the image files under dir, sorted by the byte order of
// their slash-separated relative paths (the order keys sort in, so code
// files of shards merged by key line up with one written whole). With
// LabelsFolders and subfolders present, each subfolder is a class (sorted
// names give class ids 0, 1, ...) holding that class's images at any depth,
// and images beside class folders are an error; with LabelsNone every image
// at any depth is taken, unlabelled. Hidden files and folders (".name") and
// files that are not .png, .jpg or .jpeg are skipped.
func listImageDir(dir, labels string) (*folderListing, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var classes []string
	if labels != LabelsNone {
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				classes = append(classes, e.Name())
			}
		}
		slices.Sort(classes)
	}
	perClass := make([]int, len(classes))
	var files []imageFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isImageFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		c := -1
		if len(classes) > 0 {
			top, _, nested := strings.Cut(rel, "/")
			if !nested {
				return fmt.Errorf("%s: image beside the class folders (%s); move it into one of them, or set data.labels = %q to ignore the folders", p, strings.Join(classes, ", "), LabelsNone)
			}
			c, _ = slices.BinarySearch(classes, top)
			perClass[c]++
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, imageFile{rel: rel, class: c, size: info.Size(), mtime: info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no PNG or JPEG images found", dir)
	}
	for i, n := range perClass {
		if n == 0 {
			return nil, fmt.Errorf("%s: class folder %q has no PNG or JPEG images", dir, classes[i])
		}
	}
	slices.SortFunc(files, func(a, b imageFile) int { return strings.Compare(a.rel, b.rel) })
	return &folderListing{files: files, classes: classes}, nil
}

// splitFiles keeps the files of one split ("" keeps all).
func splitFiles(files []imageFile, split string) []imageFile {
	if split == "" {
		return files
	}
	var out []imageFile
	for _, f := range files {
		if IsTestFile(f.rel) == (split == "test") {
			out = append(out, f)
		}
	}
	return out
}

// loadImageDir decodes the images of one split of an image folder (or the
// whole folder), resized and centre-cropped to opt.Size with opt.Channels
// channels, through the decoded cache when opt.CacheDir is set.
func loadImageDir(sp Spec, opt Options) (*Dataset, error) {
	spec, dir := sp.String(), sp.Dir
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%s: %s is not a folder", spec, dir)
	}
	list, err := listImageDir(dir, opt.Labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", spec, err)
	}
	files := splitFiles(list.files, sp.Split)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: none of the %d images in %s falls in the %s split (about %d%% go to test, by a hash of the path)", spec, len(list.files), dir, sp.Split, testPermille/10)
	}
	c, s := opt.Channels, opt.Size
	ds := &Dataset{Name: spec, N: len(files), C: c, H: s, W: s, Keys: make([]string, len(files))}
	for i, f := range files {
		ds.Keys[i] = f.rel
	}
	if len(list.classes) > 0 {
		ds.Classes, ds.ClassNames = len(list.classes), list.classes
		ds.Labels = make([]int32, len(files))
		for i, f := range files {
			ds.Labels[i] = int32(f.class)
		}
	}
	var cache *pixelCache
	if opt.CacheDir != "" {
		cache = newPixelCache(opt.CacheDir, dir, sp.Split, files, opt)
		if pix, ok := cache.read(); ok {
			ds.Pix8 = pix
			if opt.Progress != nil {
				opt.Progress(len(files), len(files))
			}
			return ds, nil
		}
	}
	ds.Pix8 = make([]uint8, len(files)*c*s*s)
	if err := decodeAll(dir, files, opt, ds); err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	if cache != nil {
		// A cache that cannot be written costs the next run its head
		// start, nothing else; the data in hand is fine.
		_ = cache.write(ds.Pix8)
	}
	return ds, nil
}

// decodeAll decodes files into ds.Pix8 on all cores. Workers take the next
// file from a shared counter, so a few large photos do not leave the other
// cores idle the way fixed ranges would.
func decodeAll(dir string, files []imageFile, opt Options, ds *Dataset) error {
	n := ds.ImageLen()
	errs := make([]error, len(files))
	var next, done atomic.Int64
	var mu sync.Mutex
	reported := -1
	lastReport := time.Now()
	report := func(d int) {
		if opt.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		// The start, then at most every 50 ms, and always the last file.
		if d > reported && (reported < 0 || d == len(files) || time.Since(lastReport) >= 50*time.Millisecond) {
			reported, lastReport = d, time.Now()
			opt.Progress(d, len(files))
		}
	}
	report(0)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			var sc renderScratch
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				path := filepath.Join(dir, filepath.FromSlash(files[i].rel))
				errs[i] = sc.readFile(path, opt.Size, opt.Channels, ds.Pix8[i*n:(i+1)*n])
				report(int(done.Add(1)))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return firstErr(errs)
	}
	return nil
}

func firstErr(errs []error) error {
	n := 0
	var first error
	for _, e := range errs {
		if e != nil {
			if first == nil {
				first = e
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more unreadable images)", first, n-1)
	}
	return first
}
