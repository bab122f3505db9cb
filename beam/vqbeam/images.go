package vqbeam

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/vqgen/vqgen/datasets"
)

// Labels says where image labels come from, as data.labels does for vqgen:
// LabelsFolders makes each top-level folder a class when the images are in
// folders; LabelsNone leaves every image unlabelled. Unset, a pipeline takes
// the VQ-VAE's own data.labels, as vqgen encode and score do.
const (
	LabelsFolders = datasets.LabelsFolders
	LabelsNone    = datasets.LabelsNone
)

// DefaultDepth is how many folder levels below the image folder are matched:
// the images themselves (depth 1), class folders (2) and two levels of
// folders inside a class.
const DefaultDepth = 4

// Images names a folder of PNG/JPEG images on any Beam file system, as
// vqgen's images:DIR spec does.
type Images struct {
	// Dir is the folder: a local path, gs://bucket/dir or s3://bucket/dir.
	Dir string
	// Split keeps one side of vqgen's hashed 90/10 split ("train" or
	// "test", see datasets.IsTestFile); "" keeps every image.
	Split string
	// Labels is LabelsFolders or LabelsNone; empty takes the VQ-VAE's
	// data.labels (see withLabels).
	Labels string
	// Depth is the number of folder levels matched (0: DefaultDepth). Beam
	// file systems match globs one level at a time ("*" stops at "/"), so
	// images deeper than this are not seen.
	Depth int
}

// ParseImages parses "images:DIR", "images:DIR:train" or "images:DIR:test".
// DIR may be a URL such as gs://bucket/photos.
func ParseImages(spec string) (Images, error) {
	rest, ok := strings.CutPrefix(spec, "images:")
	if !ok {
		return Images{}, fmt.Errorf("data spec %q: want images:DIR, images:DIR:train or images:DIR:test", spec)
	}
	im := Images{Dir: rest}
	for _, split := range []string{"train", "test"} {
		if d, ok := strings.CutSuffix(rest, ":"+split); ok {
			im.Dir, im.Split = d, split
		}
	}
	if im.Dir == "" {
		return Images{}, fmt.Errorf("data spec %q: empty folder", spec)
	}
	return im, nil
}

func (im Images) String() string {
	if im.Split == "" {
		return "images:" + im.Dir
	}
	return "images:" + im.Dir + ":" + im.Split
}

// withLabels returns im with its label mode set: its own, else the
// VQ-VAE config's data.labels (cfg), else LabelsFolders.
func (im Images) withLabels(cfg string) Images {
	if im.Labels == "" {
		im.Labels = cmp.Or(cfg, LabelsFolders)
	}
	return im
}

func (im Images) validate() error {
	switch im.Split {
	case "", "train", "test":
	default:
		return fmt.Errorf("%s: split %q, want train, test or none", im, im.Split)
	}
	switch im.Labels {
	case "", LabelsFolders, LabelsNone:
	default:
		return fmt.Errorf("labels %q: want %s or %s", im.Labels, LabelsFolders, LabelsNone)
	}
	if im.Depth < 0 || im.Depth > 16 {
		return fmt.Errorf("depth %d: want 1 to 16 (0: %d)", im.Depth, DefaultDepth)
	}
	return nil
}

// prefix is what every matched path starts with: the folder and a
// separator, in the folder's own syntax.
func (im Images) prefix() string {
	if isLocal(im.Dir) {
		d := filepath.Clean(im.Dir)
		if strings.HasSuffix(d, string(filepath.Separator)) {
			return d
		}
		return d + string(filepath.Separator)
	}
	return strings.TrimSuffix(im.Dir, "/") + "/"
}

// globs are the patterns that match every entry 1..depth levels below the
// folder.
func (im Images) globs() []string {
	depth := im.Depth
	if depth == 0 {
		depth = DefaultDepth
	}
	sep := "/"
	if isLocal(im.Dir) {
		sep = string(filepath.Separator)
	}
	out := make([]string, depth)
	pat := im.prefix() + "*"
	for i := range out {
		out[i] = pat
		pat += sep + "*"
	}
	return out
}

// Item is one image of a plan: what a worker needs to read, encode and
// file it.
type Item struct {
	Path  string // the file, in the folder's file system
	Key   string // slash-separated path relative to the folder
	Rank  int64  // position in the ordered set (keys in byte order)
	Shard int    // output shard it belongs to
	Label int32  // class id; -1 without labels
}

// ShardPlan describes one output shard: the ranks [First, First+Count) and
// the number of classes (0: unlabelled). Every shard gets a plan, so a
// shard with no images is still written (as an empty file).
type ShardPlan struct {
	Shard        int
	First, Count int64
	Classes      int
}

func init() {
	register.DoFn3x1[context.Context, string, func(entry), error](&entryFn{})
	register.Emitter1[entry]()
	register.DoFn4x1[int, func(*entry) bool, func(Item), func(int, ShardPlan), error](&planFn{})
	register.Emitter1[Item]()
	register.Emitter2[int, ShardPlan]()
}

// entry is what matching finds under the folder: an image file's key, or
// (Dir) the name of a folder directly in it, a class even when it holds no
// images, as for vqgen.
type entry struct {
	Key string
	Dir bool
}

// matchEntries returns the entries under im.Dir, matched level by level
// with Beam's file systems: one glob per level, each listed by one worker.
// It lists names only; fileio.MatchFiles would also ask for every file's
// size and modification time, one request per file, in sequence, which on
// an object store takes hours for a million images.
func matchEntries(s beam.Scope, im Images) beam.PCollection {
	s = s.Scope("MatchImages")
	globs := beam.Reshuffle(s, beam.CreateList(s, im.globs()))
	return beam.ParDo(s, &entryFn{Prefix: im.prefix(), Local: isLocal(im.Dir)}, globs)
}

// entryFn lists a glob and keeps the image files (by extension, as vqgen
// does: .png, .jpg, .jpeg in any case), skipping hidden files and anything
// in a hidden folder; it emits each file's key. Local folders directly in
// the image folder are emitted too; object stores have no empty folders.
type entryFn struct {
	Prefix string
	Local  bool
}

func (f *entryFn) ProcessElement(ctx context.Context, glob string, emit func(entry)) error {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return err
	}
	defer fs.Close()
	paths, err := fs.List(ctx, glob)
	if err != nil {
		return fmt.Errorf("listing %s: %w", glob, err)
	}
	for _, p := range paths {
		f.entry(p, emit)
	}
	return nil
}

// entry emits what the listed path p is, if anything.
func (f *entryFn) entry(p string, emit func(entry)) {
	rel, ok := strings.CutPrefix(p, f.Prefix)
	if !ok || rel == "" {
		return
	}
	if f.Local {
		rel = filepath.ToSlash(rel)
	}
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return
		}
	}
	if isImageName(rel) {
		emit(entry{Key: rel})
		return
	}
	if f.Local && !strings.Contains(rel, "/") {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			emit(entry{Key: rel, Dir: true})
		}
	}
}

func isImageName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// planImages orders the images of im by key, labels them from their class
// folders and deals them into shards of consecutive ranks. Ranks and classes
// need the whole listing, so the planning runs as one group; per image it
// holds a key, so a million images cost it tens of MB. The items are
// reshuffled afterwards, so the work on them spreads over the workers again.
// It returns a PCollection of Item and one of KV<int, ShardPlan>.
func planImages(s beam.Scope, im Images, shards int) (items, plans beam.PCollection) {
	s = s.Scope("PlanImages")
	entries := matchEntries(s, im)
	grouped := beam.GroupByKey(s, beam.AddFixedKey(s, entries))
	items, plans = beam.ParDo2(s, &planFn{Images: im, Shards: shards}, grouped)
	return beam.Reshuffle(s, items), plans
}

// planFn is planImages' single group.
type planFn struct {
	Images Images
	Shards int
}

func (f *planFn) ProcessElement(_ int, entries func(*entry) bool, emit func(Item), emitPlan func(int, ShardPlan)) error {
	var keys, dirs []string
	var e entry
	for entries(&e) {
		if e.Dir {
			dirs = append(dirs, e.Key)
		} else {
			keys = append(keys, e.Key)
		}
	}
	p, err := plan(f.Images, keys, dirs, f.Shards)
	if err != nil {
		return err
	}
	progress.total.Store(int64(len(p.items)))
	for _, it := range p.items {
		emit(it)
	}
	for _, sp := range p.shards {
		emitPlan(sp.Shard, sp)
	}
	return nil
}

type imagePlan struct {
	items   []Item
	shards  []ShardPlan
	classes []string
}

// plan is the planning itself, on the keys of every image file found and
// the folders directly in the image folder: the listing rules of vqgen's
// images:DIR applied to keys. With LabelsFolders and folders present, each
// folder is a class (sorted names give ids 0, 1, ...), a folder without
// images and an image beside the folders are errors; the split is taken
// after the classes are known, as vqgen does, so a class keeps its id in
// both splits.
func plan(im Images, keys, dirs []string, shards int) (*imagePlan, error) {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no PNG or JPEG images found (matched %s)", im, strings.Join(im.globs(), ", "))
	}
	var classes []string
	if im.Labels != LabelsNone {
		perClass := map[string]int{}
		for _, d := range dirs {
			perClass[d] += 0
		}
		for _, k := range keys {
			if top, _, nested := strings.Cut(k, "/"); nested {
				perClass[top]++
			}
		}
		for c := range perClass {
			classes = append(classes, c)
		}
		slices.Sort(classes)
		for _, c := range classes {
			if perClass[c] == 0 {
				return nil, fmt.Errorf("%s: class folder %q has no PNG or JPEG images (remove it, or ignore the folders with --unlabelled)", im.Dir, c)
			}
		}
		if len(classes) > 0 {
			for _, k := range keys {
				if !strings.Contains(k, "/") {
					return nil, fmt.Errorf("%s: image beside the class folders (%s); move it into one of them, or ignore the folders with --unlabelled",
						joinPath(im.Dir, k), strings.Join(classes, ", "))
				}
			}
		}
	}
	kept := keys
	if im.Split != "" {
		kept = nil
		for _, k := range keys {
			if datasets.IsTestFile(k) == (im.Split == "test") {
				kept = append(kept, k)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%s: none of the %d images falls in the %s split (about 10%% go to test, by a hash of the path)", im, len(keys), im.Split)
		}
	}
	n := int64(len(kept))
	p := &imagePlan{items: make([]Item, len(kept)), shards: make([]ShardPlan, shards), classes: classes}
	for i := range p.shards {
		p.shards[i] = ShardPlan{Shard: i, First: int64(i) * n / int64(shards), Classes: len(classes)}
		p.shards[i].Count = int64(i+1)*n/int64(shards) - p.shards[i].First
	}
	for i, k := range kept {
		// The shard of rank i is the last one whose range starts at or
		// before it (an empty shard starts where the next one does).
		shard := sort.Search(shards, func(j int) bool { return p.shards[j].First > int64(i) }) - 1
		it := Item{Path: joinPath(im.Dir, k), Key: k, Rank: int64(i), Shard: shard, Label: -1}
		if len(classes) > 0 {
			top, _, _ := strings.Cut(k, "/")
			c, _ := slices.BinarySearch(classes, top)
			it.Label = int32(c)
		}
		p.items[i] = it
	}
	return p, nil
}
