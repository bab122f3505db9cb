package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func newTestProgress(buf *bytes.Buffer, total int, tick time.Duration) *progress {
	p := newProgress(buf, "vqvae", total)
	clk := &fakeClock{t: time.Unix(0, 0), step: tick}
	p.now = clk.now
	p.start = clk.t
	return p
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 100, 500*time.Millisecond)
	if p.tty {
		t.Fatal("a bytes.Buffer was taken for a terminal")
	}
	p.setRate(128, "img")
	for s := 1; s <= 97; s++ {
		p.Update(s, kv("loss", 0.5/float64(s)), kv("ppl", 301.25), kv("codes", 480))
	}
	p.Printf("eval step %d: mse=%.4f", 97, 0.0123)
	p.Done()
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// every = 100/20 = 5: steps 5..95, the message, then the final step.
	if len(lines) != 19+1+1 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	// Each reading of the clock adds 0.5 s and there is one per Update:
	// step 5 is read at 2.5 s, so 5 steps per 2.5 s = 2 it/s = 256 img/s,
	// and 95 steps remain at 2/s: 47.5 s, shown rounded.
	want := "vqvae step 5/100 (5%) loss=0.1 ppl=301.2 codes=480 img/s=256 eta=48s"
	if lines[0] != want {
		t.Errorf("line 0\n got %q\nwant %q", lines[0], want)
	}
	if lines[19] != "eval step 97: mse=0.0123" {
		t.Errorf("message line %q", lines[19])
	}
	last := lines[20]
	if !strings.HasPrefix(last, "vqvae step 97/100 (97%) loss=0.005155 ") || !strings.Contains(last, " eta=") {
		t.Errorf("final line %q", last)
	}
	if strings.ContainsAny(buf.String(), "\r\x1b") {
		t.Error("terminal control characters in plain output")
	}
}

func TestProgressResumedETA(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 1000, time.Second)
	p.every = 100
	for s := 901; s <= 1000; s++ {
		p.Update(s)
	}
	p.Done() // step 1000 already printed: nothing more
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// Rates count from the resumed step, not from 0: 100 steps in 100 s.
	if len(lines) != 1 || lines[0] != "vqvae step 1000/1000 (100%) it/s=1 took=1m40s" {
		t.Errorf("got %q", lines)
	}
}

// Progress counted in items that advance a batch at a time (encoding:
// 500 images per update) must count the first batch in its rate.
func TestProgressStartAtZero(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 2000, time.Second)
	p.setRate(1, "img")
	p.every = 500
	p.startAt(0)
	for done := 500; done <= 2000; done += 500 {
		p.Update(done)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// One clock reading (1 s) per update: 500 images per second throughout.
	if len(lines) != 4 || lines[0] != "vqvae step 500/2000 (25%) img/s=500 eta=3s" ||
		lines[3] != "vqvae step 2000/2000 (100%) img/s=500 took=4s" {
		t.Errorf("got %q", lines)
	}
}

func TestProgressTerminalRedraws(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 50, 30*time.Millisecond)
	p.tty, p.width = true, 60
	for s := 1; s <= 50; s++ {
		p.Update(s, kv("loss", 1.0))
	}
	p.Done()
	out := buf.String()
	draws := strings.Count(out, "\r")
	// 50 updates 30 ms apart over 1.5 s at most ~10 draws a second, plus
	// the first, the last and Done's.
	if draws < 10 || draws > 20 {
		t.Errorf("%d redraws for 50 updates over 1.5 s", draws)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("output should end with exactly one newline: %q", out)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(out, "\n"), "\r")[1:] {
		line := strings.TrimSuffix(seg, "\x1b[K")
		if len(line) > 59 {
			t.Errorf("line wider than the terminal: %q", line)
		}
	}
	final := out[strings.LastIndex(out, "\r")+1:]
	if !strings.HasPrefix(final, "vqvae 50/50 [========================] 100% loss=1") {
		t.Errorf("final draw %q", final)
	}
}

func TestProgressTerminalPrintf(t *testing.T) {
	var buf bytes.Buffer
	p := newTestProgress(&buf, 10, time.Second)
	p.tty = true
	p.Update(3)
	p.Printf("checkpoint saved")
	if !strings.Contains(buf.String(), "\r\x1b[Kcheckpoint saved\n\rvqvae 3/10 [=======>") {
		t.Errorf("got %q", buf.String())
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{0.123456, "0.1235"},
		{float32(301.25), "301.2"},
		{12345.6, "12346"},
		{1e-7, "1e-07"},
		{42, "42"},
		{90 * time.Second, "1m30s"},
		{3725 * time.Second, "1h02m05s"},
		{"ema", "ema"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v); got != tt.want {
			t.Errorf("formatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestNotTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, x := range []*os.File{r, w, f} {
		if isTerminal(x.Fd()) {
			t.Errorf("%s taken for a terminal", x.Name())
		}
	}
	if p := newProgress(w, "x", 10); p.tty {
		t.Error("progress on a pipe is in terminal mode")
	}
}
