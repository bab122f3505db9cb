package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestWriteVersion(t *testing.T) {
	full := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/vqgen/vqgen", Version: "v0.3.1"},
		Settings: []debug.BuildSetting{
			{Key: "-tags", Value: "noasm"},
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "GOOS", Value: "linux"},
			{Key: "GOARCH", Value: "arm64"},
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"full", full, "vqgen v0.3.1\ncommit 0123abcd (2025-01-02T03:04:05Z) with uncommitted changes\ngo go1.26.8 linux/arm64\nbuild tags=noasm CGO_ENABLED=0\nGOMAXPROCS 3 (8 CPUs)\n"},
		{"none", nil, "vqgen unknown\ngo " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\nGOMAXPROCS 3 (8 CPUs)\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		writeVersion(&buf, tt.bi, 3, 8)
		if buf.String() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, buf.String(), tt.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	out := mustVqgen(t, "version")
	if !strings.HasPrefix(out, "vqgen ") || !strings.Contains(out, "go go1.") || !strings.Contains(out, "GOMAXPROCS ") {
		t.Errorf("got %q", out)
	}
}
