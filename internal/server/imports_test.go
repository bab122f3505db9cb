package server

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFrontEndImportsNoStage: the server is a front end over package app;
// its code (every build variant, tests aside) imports no stage, sampler,
// dataset or numeric package, so every operation, default and check it
// offers is the application layer's.
func TestFrontEndImportsNoStage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files here (%v)", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if strings.HasPrefix(imp, "github.com/vqgen/vqgen/") && imp != "github.com/vqgen/vqgen/app" {
				t.Errorf("%s imports %s; the web front end may use package app only", name, imp)
			}
		}
	}
}
