package crashpoint

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want spec
	}{
		{"", spec{}},
		{"count", spec{mode: count}},
		{"stage1:3", spec{mode: kill, stage: "stage1", n: 3}},
		{"report:1", spec{mode: kill, stage: "report", n: 1}},
	} {
		if got := parse(tt.in); got != tt.want {
			t.Errorf("parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// Unarmed (as in every ordinary run), Enter and Hit count nothing.
func TestUnarmed(t *testing.T) {
	if armed.mode != off {
		t.Skip(Env, " is set in this test's environment")
	}
	Enter("stage1")
	for range 10 {
		Hit()
	}
	if state.stage != "" || state.hits != 0 {
		t.Errorf("unarmed crash point recorded stage %q, %d hits", state.stage, state.hits)
	}
}
