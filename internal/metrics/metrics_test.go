package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type rec struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

func TestWriteResumeRead(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for s := 10; s <= 50; s += 10 {
		if err := w.Write(rec{s, 1 / float64(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(map[string]any{"event": "note"}); err != nil {
		t.Fatal(err)
	}
	// Flushed on every write: readable before Close.
	got, err := ReadFile(w.Path())
	if err != nil || len(got) != 6 {
		t.Fatalf("before close: %d entries, %v", len(got), err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir); err == nil {
		t.Fatal("Create replaced an existing log")
	}

	w, kept, err := Resume(dir, 30)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, e := range kept {
		if s, ok := e.Step(); ok {
			steps = append(steps, s)
		}
	}
	if len(kept) != 4 || len(steps) != 3 || steps[2] != 30 {
		t.Fatalf("kept %v", kept)
	}
	if err := w.Write(rec{40, 0.5}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	all, err := ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("after resume: %v", all)
	}
	if s, _ := all[4].Step(); s != 40 || all[4]["loss"] != 0.5 {
		t.Errorf("last entry %v", all[4])
	}
	if all[3]["event"] != "note" {
		t.Errorf("step-less entry lost: %v", all)
	}
}

func TestResumeWithoutLog(t *testing.T) {
	dir := t.TempDir()
	w, kept, err := Resume(dir, 100)
	if err != nil || kept != nil {
		t.Fatal(kept, err)
	}
	w.Write(rec{1, 2})
	w.Close()
	if all, err := ReadFile(w.Path()); err != nil || len(all) != 1 {
		t.Fatal(all, err)
	}
}

func TestReadFileDamage(t *testing.T) {
	tests := []struct {
		name, data string
		n          int
		err        string
	}{
		{"torn last line dropped", "{\"step\":1}\n{\"step\":2", 1, ""},
		{"complete last line kept", "{\"step\":1}\n{\"step\":2}", 2, ""},
		{"blank lines ignored", "{\"step\":1}\n\n{\"step\":2}\n", 2, ""},
		{"bad middle line", "{\"step\":1}\nnot json\n{\"step\":3}\n", 0, "metrics.jsonl:2:"},
		{"bad last line with newline", "{\"step\":1}\n{oops\n", 0, "metrics.jsonl:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), FileName)
			os.WriteFile(p, []byte(tt.data), 0o644)
			got, err := ReadFile(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("got %d entries, %v", len(got), err)
			}
		})
	}
}

func TestWriteUnencodable(t *testing.T) {
	w, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(func() {}); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Errorf("unencodable value: %v", err)
	}
}
