package vqbeam

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
)

func TestParseImages(t *testing.T) {
	cases := []struct {
		spec string
		want Images
		err  string
	}{
		{"images:photos", Images{Dir: "photos"}, ""},
		{"images:photos:train", Images{Dir: "photos", Split: "train"}, ""},
		{"images:/a:b/c:test", Images{Dir: "/a:b/c", Split: "test"}, ""},
		{"images:gs://bucket/photos", Images{Dir: "gs://bucket/photos"}, ""},
		{"images:gs://bucket/photos:train", Images{Dir: "gs://bucket/photos", Split: "train"}, ""},
		{"mnist:train", Images{}, "want images:DIR"},
		{"images:", Images{}, "empty folder"},
		{"images::test", Images{}, "empty folder"},
	}
	for _, c := range cases {
		got, err := ParseImages(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.spec, got, err, c.want)
		}
		if got.String() != c.spec {
			t.Errorf("%q prints as %q", c.spec, got.String())
		}
	}
}

func TestShardName(t *testing.T) {
	cases := []struct {
		out  string
		i, n int
		want string
	}{
		{"codes.vqc", 0, 1, "codes.vqc"},
		{"codes.vqc", 2, 4, "codes-00002-of-00004.vqc"},
		{"out/scores.jsonl", 11, 12, "out/scores-00011-of-00012.jsonl"},
		{"gs://b/dir.v2/codes", 0, 3, "gs://b/dir.v2/codes-00000-of-00003"},
	}
	for _, c := range cases {
		if got := ShardName(c.out, c.i, c.n); got != c.want {
			t.Errorf("ShardName(%q, %d, %d) = %q, want %q", c.out, c.i, c.n, got, c.want)
		}
	}
}

func TestGlobsAndEntries(t *testing.T) {
	im := Images{Dir: "/data/photos/", Depth: 3}
	want := []string{"/data/photos/*", "/data/photos/*/*", "/data/photos/*/*/*"}
	if got := im.globs(); !slices.Equal(got, want) {
		t.Errorf("globs %q, want %q", got, want)
	}
	gs := Images{Dir: "gs://b/photos", Depth: 2}
	if got := gs.globs(); !slices.Equal(got, []string{"gs://b/photos/*", "gs://b/photos/*/*"}) {
		t.Errorf("gs globs %q", got)
	}
	root := t.TempDir()
	for _, d := range []string{"cat", "dog", "dog/inner", ".cache"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	im = Images{Dir: root}
	fn := &entryFn{Prefix: im.prefix(), Local: true}
	var got []entry
	for _, p := range []string{"cat/1.png", "cat/2.JPG", "cat/x.jpeg", "dog", "dog/inner", "notes.txt", ".cache",
		".cache/1.png", "cat/.hidden.png", "cat/.thumbs/1.png", "../other/1.png"} {
		fn.entry(filepath.Join(root, filepath.FromSlash(p)), func(e entry) { got = append(got, e) })
	}
	wantEntries := []entry{{Key: "cat/1.png"}, {Key: "cat/2.JPG"}, {Key: "cat/x.jpeg"}, {Key: "dog", Dir: true}}
	if !slices.Equal(got, wantEntries) {
		t.Errorf("entries %+v, want %+v", got, wantEntries)
	}
}

func TestPlan(t *testing.T) {
	keys := []string{"b/2.png", "a/1.png", "c/x/3.png", "a/0.png", "b/1.png", "a/1.png"} // a duplicate match counts once
	p, err := plan(Images{Dir: "d"}, slices.Clone(keys), []string{"a", "b", "c"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"a/0.png", "a/1.png", "b/1.png", "b/2.png", "c/x/3.png"}
	wantLabels := []int32{0, 0, 1, 1, 2}
	wantShards := []int{0, 1, 2, 3, 3} // 5 images in 4 shards: 1, 1, 1, 2 (shard i starts at i*5/4)
	for i, it := range p.items {
		if it.Key != wantKeys[i] || it.Label != wantLabels[i] || it.Rank != int64(i) || it.Shard != wantShards[i] || it.Path != filepath.Join("d", filepath.FromSlash(wantKeys[i])) {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	if !slices.Equal(p.classes, []string{"a", "b", "c"}) {
		t.Errorf("classes %q", p.classes)
	}
	var covered int64
	for i, sp := range p.shards {
		if sp.Shard != i || sp.First != covered || sp.Classes != 3 {
			t.Errorf("shard plan %d: %+v", i, sp)
		}
		covered += sp.Count
	}
	if covered != 5 {
		t.Errorf("shard plans cover %d images, want 5", covered)
	}

	// More shards than images: every shard is planned, the empty ones too.
	p, err = plan(Images{Dir: "d", Labels: LabelsNone}, []string{"x.png", "y/z.png"}, []string{"y", "w"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	var counts []int64
	for _, sp := range p.shards {
		counts = append(counts, sp.Count)
	}
	if !slices.Equal(counts, []int64{0, 0, 1, 0, 1}) || p.items[0].Shard != 2 || p.items[1].Shard != 4 || p.items[0].Label != -1 || p.shards[0].Classes != 0 {
		t.Errorf("2 images in 5 shards: counts %v, items %+v", counts, p.items)
	}

	// The split is the one vqgen uses, taken after the classes.
	var all []string
	for c := range 3 {
		for i := range 40 {
			all = append(all, fmt.Sprintf("%d/%03d.png", c, i))
		}
	}
	for _, split := range []string{"train", "test"} {
		p, err := plan(Images{Dir: "d", Split: split}, slices.Clone(all), nil, 2)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range all {
			if datasets.IsTestFile(k) == (split == "test") {
				if p.items[n].Key != k {
					t.Errorf("%s split: item %d is %s, want %s", split, n, p.items[n].Key, k)
				}
				n++
			}
		}
		if n != len(p.items) || len(p.classes) != 3 {
			t.Errorf("%s split: %d items, want %d; classes %q", split, len(p.items), n, p.classes)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	cases := []struct {
		im         Images
		keys, dirs []string
		want       string
	}{
		{Images{Dir: "d"}, nil, nil, "no PNG or JPEG images found"},
		{Images{Dir: "d"}, []string{"a/1.png", "stray.png"}, []string{"a"}, "stray.png: image beside the class folders (a)"},
		{Images{Dir: "d"}, []string{"stray.png"}, []string{"a"}, "class folder \"a\" has no PNG or JPEG images"},
		{Images{Dir: "d"}, []string{"a/1.png", "c/1.png"}, []string{"a", "b", "c"}, "class folder \"b\" has no PNG or JPEG images"},
		{Images{Dir: "d", Split: "test"}, []string{"a/1.png"}, nil, "none of the 1 images falls in the test split"},
	}
	for _, c := range cases {
		_, err := plan(c.im, c.keys, c.dirs, 2)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %q: error %v, want %q", c.im, c.keys, err, c.want)
		}
	}
	if _, err := plan(Images{Dir: "d", Labels: LabelsNone}, []string{"a/1.png", "stray.png"}, []string{"a", "b"}, 2); err != nil {
		t.Errorf("unlabelled folder with a stray image: %v", err)
	}
}
