// Command mkresults writes bench/RESULTS.md from the measurement sessions
// under bench/results: one JSON-lines file per session, as `vqgen bench
// --json`, bench/compare.sh and bench/scaling.sh write them. Run it as
// bench/results.sh (or go run ./bench/mkresults) after adding a session.
//
// Each line of a session is either a figure,
//
//	{"name": "sgemm_1024_1t", "value": 150.0, "unit": "GFLOP/s"}
//	{"name": "ratio", "value": 8.11, "unit": "x", "round": 1}
//
// or a note about the session (machine, command, commit):
//
//	{"comment": "vqgen bench --json; Intel Xeon with AVX-512, 2 cores"}
//
// Figures without a round become one table; figures with rounds another,
// one row per round and a median row, because on a drifting host only
// figures measured in alternation are comparable.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// line is one JSON line of a session.
type line struct {
	Name    string   `json:"name"`
	Value   *float64 `json:"value"`
	Unit    string   `json:"unit"`
	Round   int      `json:"round"`
	Comment string   `json:"comment"`
}

// session is one results file.
type session struct {
	name     string // file name without .jsonl
	comments []string
	single   []line // figures without a round, in file order
	rounds   []line
}

func readSession(path string) (*session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &session{name: strings.TrimSuffix(filepath.Base(path), ".jsonl")}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l line
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		switch {
		case l.Comment != "" && l.Name == "":
			s.comments = append(s.comments, l.Comment)
		case l.Name == "" || l.Value == nil:
			return nil, fmt.Errorf("%s:%d: want a name and a value, or a comment", path, n)
		case l.Round > 0:
			s.rounds = append(s.rounds, l)
		default:
			s.single = append(s.single, l)
		}
	}
	return s, sc.Err()
}

func num(v float64) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// write renders one session.
func (s *session) write(b *bytes.Buffer) {
	fmt.Fprintf(b, "## %s\n\n", s.name)
	for _, c := range s.comments {
		fmt.Fprintf(b, "%s\n\n", c)
	}
	if len(s.single) > 0 {
		peak := 0.0
		for _, l := range s.single {
			if l.Name == "fma_peak_1t" {
				peak = *l.Value
			}
		}
		fmt.Fprintf(b, "| figure | value | unit |\n|---|---|---|\n")
		for _, l := range s.single {
			v := num(*l.Value)
			if peak > 0 && l.Unit == "GFLOP/s" && strings.HasSuffix(l.Name, "_1t") && l.Name != "fma_peak_1t" {
				v += fmt.Sprintf(" (%.0f%% of the FMA peak)", 100**l.Value/peak)
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", l.Name, v, l.Unit)
		}
		b.WriteString("\n")
	}
	if len(s.rounds) > 0 {
		var names []string
		units := map[string]string{}
		byRound := map[int]map[string]float64{}
		values := map[string][]float64{}
		for _, l := range s.rounds {
			if _, ok := units[l.Name]; !ok {
				names = append(names, l.Name)
				units[l.Name] = l.Unit
			}
			if byRound[l.Round] == nil {
				byRound[l.Round] = map[string]float64{}
			}
			byRound[l.Round][l.Name] = *l.Value
			values[l.Name] = append(values[l.Name], *l.Value)
		}
		var rounds []int
		for r := range byRound {
			rounds = append(rounds, r)
		}
		sort.Ints(rounds)
		b.WriteString("| round |")
		for _, n := range names {
			fmt.Fprintf(b, " %s (%s) |", n, units[n])
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(names)) + "\n")
		for _, r := range rounds {
			fmt.Fprintf(b, "| %d |", r)
			for _, n := range names {
				if v, ok := byRound[r][n]; ok {
					fmt.Fprintf(b, " %s |", num(v))
				} else {
					b.WriteString(" |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("| median |")
		for _, n := range names {
			fmt.Fprintf(b, " **%s** |", num(median(values[n])))
		}
		b.WriteString("\n\n")
	}
}

// render builds RESULTS.md from the sessions in dir, newest first.
func render(dir string) ([]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no *.jsonl sessions", dir)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	var b bytes.Buffer
	b.WriteString(`# Benchmark results

Every measurement session of vqgen's speed (and a few quality experiments),
newest first. This file is generated: add a session as a JSON-lines file under
bench/results/ and run bench/results.sh. A session file is named
DATE-TIME-KIND.jsonl (UTC) and holds the lines that

    vqgen bench --json                   (the benchmarks; see vqgen bench --help)
    JSONL=FILE bench/compare.sh ROUNDS   (vqgen against the PyTorch reference)
    JSONL=FILE bench/scaling.sh ROUNDS   (one core against two)

print, plus {"comment": "..."} lines saying what was measured and on which
machine. This host's speed drifts, so compare figures only within a session,
or across sessions measured in alternating rounds; docs/speed.md explains
the figures and how they were reached.

`)
	for _, p := range paths {
		s, err := readSession(p)
		if err != nil {
			return nil, err
		}
		s.write(&b)
	}
	return b.Bytes(), nil
}

func main() {
	dir := flag.String("dir", "bench/results", "folder of session files")
	out := flag.String("out", "bench/RESULTS.md", "file to write")
	flag.Parse()
	b, err := render(*dir)
	if err == nil {
		err = atomicfile.WriteFile(*out, b, true)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkresults:", err)
		os.Exit(1)
	}
}
