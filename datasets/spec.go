package datasets

import (
	"fmt"
	"os"
	"strings"
)

// Spec names a dataset or one split of it. Its text form is one of
//
//	mnist:train | mnist:test            MNIST, embedded in the binary
//	idx:DIR:train | idx:DIR:test        MNIST-layout IDX files in DIR
//	images:DIR                          every PNG/JPEG image in DIR
//	images:DIR:train | images:DIR:test  DIR's hashed 90/10 split (IsTestFile)
//
// The kind is taken before the first colon. With a split, the split is
// taken after the last colon and DIR may itself contain colons; a whole
// folder (images:DIR) has exactly one colon, so a folder whose name
// contains a colon is named through one of its splits or a symlink.
type Spec struct {
	Kind  string // "mnist", "idx" or "images"
	Dir   string // "" for mnist
	Split string // "train" or "test"; "" for a whole image folder
}

// SpecForms lists the valid spec forms, for error and help messages.
const SpecForms = "mnist:train, mnist:test, idx:DIR:train, idx:DIR:test, images:DIR, images:DIR:train, images:DIR:test"

func (s Spec) String() string {
	switch {
	case s.Kind == "mnist":
		return "mnist:" + s.Split
	case s.Split == "":
		return s.Kind + ":" + s.Dir
	}
	return s.Kind + ":" + s.Dir + ":" + s.Split
}

// Whole reports whether the spec names a whole image folder, no split.
func (s Spec) Whole() bool { return s.Split == "" }

// ParseSpec parses a dataset spec such as "mnist:train", "images:photos"
// or "images:photos/cats:test".
func ParseSpec(s string) (Spec, error) {
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("dataset spec %q: %s (valid forms: %s)", s, why, SpecForms)
	}
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first < 0 {
		return bad("no split; add :train or :test, or name a whole image folder as images:DIR")
	}
	sp := Spec{Kind: s[:first], Split: s[last+1:]}
	switch sp.Kind {
	case "mnist":
		if first != last {
			return bad("mnist takes no folder")
		}
	case "images":
		if first == last { // images:DIR, the whole folder
			sp.Dir, sp.Split = s[first+1:], ""
			if sp.Dir == "" {
				return bad("empty folder")
			}
			return sp, nil
		}
		fallthrough
	case "idx":
		if first == last {
			return bad(sp.Kind + " needs a folder and a split")
		}
		sp.Dir = s[first+1 : last]
		if sp.Dir == "" {
			return bad("empty folder")
		}
	default:
		return bad(fmt.Sprintf("unknown kind %q", sp.Kind))
	}
	if sp.Split != "train" && sp.Split != "test" {
		return bad(fmt.Sprintf("unknown split %q, want train or test", sp.Split))
	}
	return sp, nil
}

// Label modes of an image folder (Options.Labels, the config's data.labels).
const (
	// LabelsFolders makes each subfolder of an image folder a class (sorted
	// names give class ids 0, 1, ...); a folder without subfolders is
	// unlabelled. It is the default.
	LabelsFolders = "folders"
	// LabelsNone ignores the folder structure: every image at any depth
	// belongs to the dataset, unlabelled. For photos filed by date or
	// place, whose folders are not classes.
	LabelsNone = "none"
)

// Options configures loading. Size and Channels apply to image folders only
// (IDX and MNIST images keep their own size and one channel); Labels to
// every source (LabelsNone also drops MNIST's and IDX label files); zero
// values mean 28, 1 and LabelsFolders.
type Options struct {
	Size     int    // square side in pixels after resize and centre crop
	Channels int    // 1 (grayscale) or 3 (RGB)
	Labels   string // LabelsFolders or LabelsNone
	// CacheDir, when set, holds decoded image folders (see the package
	// comment): a later load of the same files at the same size reads the
	// cache instead of decoding every image again. It is created if
	// missing.
	CacheDir string
	// Progress, when set, is told how many of an image folder's files are
	// decoded (done of total), from one goroutine at a time, with done
	// increasing and ending at total. The package itself prints nothing.
	Progress func(done, total int)
}

func (o Options) withDefaults() (Options, error) {
	if o.Size == 0 {
		o.Size = 28
	}
	if o.Channels == 0 {
		o.Channels = 1
	}
	if o.Labels == "" {
		o.Labels = LabelsFolders
	}
	if o.Size < 1 || o.Size > 4096 {
		return o, fmt.Errorf("image size %d: want 1 to 4096", o.Size)
	}
	if o.Channels != 1 && o.Channels != 3 {
		return o, fmt.Errorf("image channels %d: want 1 or 3", o.Channels)
	}
	if o.Labels != LabelsFolders && o.Labels != LabelsNone {
		return o, fmt.Errorf("labels %q: want %q or %q", o.Labels, LabelsFolders, LabelsNone)
	}
	return o, nil
}

// Load parses spec and loads that split.
func Load(spec string, opt Options) (*Dataset, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return LoadSpec(sp, opt)
}

// LoadSpec loads a parsed spec.
func LoadSpec(sp Spec, opt Options) (*Dataset, error) {
	var ds *Dataset
	var err error
	switch sp.Kind {
	case "mnist":
		ds, err = MNIST(sp.Split)
	case "idx":
		ds, err = loadIDXDir(sp.String(), sp.Dir, sp.Split)
	case "images":
		o, err := opt.withDefaults()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", sp, err)
		}
		return loadImageDir(sp, o)
	default:
		return nil, fmt.Errorf("dataset spec %q: unknown kind %q (valid forms: %s)", sp, sp.Kind, SpecForms)
	}
	if err != nil {
		return nil, err
	}
	switch opt.Labels {
	case "", LabelsFolders:
	case LabelsNone:
		ds.Labels, ds.Classes, ds.ClassNames = nil, 0, nil
	default:
		return nil, fmt.Errorf("%s: labels %q: want %q or %q", sp, opt.Labels, LabelsFolders, LabelsNone)
	}
	return ds, nil
}

// Info describes a dataset without decoding its images: what a
// configuration is checked against before any training starts.
type Info struct {
	Spec       string
	N          int      // images
	Classes    int      // 0 when unlabelled (with Options.Labels = LabelsNone, always)
	ClassNames []string // len Classes
	// H, W and C are the images' own shape for sources that are not
	// resized (MNIST and IDX files); 0 for image folders, which take any
	// size and channel count.
	H, W, C int
}

// Describe parses spec and describes it. For an image folder it only lists
// the files (names, sizes and times, no decoding), so it costs well under a
// second even for tens of thousands of images; MNIST and IDX files are
// loaded (MNIST once per process).
func Describe(spec string, opt Options) (Info, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return Info{}, err
	}
	info := Info{Spec: sp.String()}
	if sp.Kind != "images" {
		ds, err := LoadSpec(sp, opt)
		if err != nil {
			return Info{}, err
		}
		info.N, info.Classes, info.ClassNames, info.H, info.W, info.C = ds.N, ds.Classes, ds.ClassNames, ds.H, ds.W, ds.C
		return info, nil
	}
	o, err := opt.withDefaults()
	if err != nil {
		return Info{}, fmt.Errorf("%s: %v", sp, err)
	}
	if st, err := os.Stat(sp.Dir); err != nil {
		return Info{}, fmt.Errorf("%s: %v", sp, err)
	} else if !st.IsDir() {
		return Info{}, fmt.Errorf("%s: %s is not a folder", sp, sp.Dir)
	}
	list, err := listImageDir(sp.Dir, o.Labels)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %v", sp, err)
	}
	info.N = len(splitFiles(list.files, sp.Split))
	info.Classes, info.ClassNames = len(list.classes), list.classes
	return info, nil
}
