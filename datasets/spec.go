package datasets

import (
	"fmt"
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

// Options configures loading. Size, Channels and Labels apply to image
// folders only (IDX and MNIST images keep their own size, one channel, and
// their label files); zero values mean 28, 1 and LabelsFolders.
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
	switch sp.Kind {
	case "mnist":
		return MNIST(sp.Split)
	case "idx":
		return loadIDXDir(sp.String(), sp.Dir, sp.Split)
	case "images":
		o, err := opt.withDefaults()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", sp, err)
		}
		return loadImageDir(sp, o)
	}
	return nil, fmt.Errorf("dataset spec %q: unknown kind %q (valid forms: %s)", sp, sp.Kind, SpecForms)
}
