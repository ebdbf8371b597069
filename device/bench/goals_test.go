package bench

import "testing"

func TestGoals(t *testing.T) {
	figs := withGoals([]Figure{
		{Name: "catch-up", Value: 299_999, Unit: "entries/s"},
		{Name: "call setup", Value: 300, Unit: "ms"},
		{Name: "daemon RSS with 20 rooms", Value: 65, Unit: "MiB"},
		{Name: "rotation bytes", Value: 1, Unit: "bytes"},
		{Name: "calls", Unit: "-", Note: "not measured"},
	})
	want := []struct {
		goal bool
		met  bool
		text string
	}{
		{true, false, "≥ 300000 entries/s: MISSED"},
		{true, true, "≤ 300 ms"},
		{true, false, "≤ 64 MiB: MISSED"},
		{false, false, ""},
		{false, false, ""},
	}
	for i, w := range want {
		f := figs[i]
		if (f.Goal != nil) != w.goal || (f.Met != nil && *f.Met != w.met) || f.GoalText() != w.text {
			t.Errorf("%s: goal %v met %v %q, want %+v", f.Name, f.Goal, f.Met, f.GoalText(), w)
		}
	}
	if m := Missed(figs); len(m) != 2 || m[0].Name != "catch-up" {
		t.Errorf("missed %+v", m)
	}
}
