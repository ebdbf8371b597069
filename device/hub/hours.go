package hub

import (
	"fmt"
	"strings"
	"time"
)

// Hours is a time of day, in the door's local time, as HH:MM-HH:MM; one
// that ends before it starts runs past midnight (22:00-06:00). The zero
// value is any time.
type Hours struct {
	From, To time.Duration // since midnight
	set      bool
}

// ParseHours reads HH:MM-HH:MM ("" is any time).
func ParseHours(s string) (Hours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Hours{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Hours{}, fmt.Errorf("hours %q: HH:MM-HH:MM, e.g. 07:00-22:00", s)
	}
	from, err := clock(a)
	if err != nil {
		return Hours{}, fmt.Errorf("hours %q: %w", s, err)
	}
	to, err := clock(b)
	if err != nil {
		return Hours{}, fmt.Errorf("hours %q: %w", s, err)
	}
	if from == to {
		return Hours{}, fmt.Errorf("hours %q: an empty range (leave it empty for any time)", s)
	}
	return Hours{From: from, To: to, set: true}, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", strings.TrimSpace(s))
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Always reports whether the hours are any time.
func (h Hours) Always() bool { return !h.set }

// Contains reports whether t (in its own zone) is within the hours.
func (h Hours) Contains(t time.Time) bool {
	if !h.set {
		return true
	}
	y, m, d := t.Date()
	since := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))
	if h.From < h.To {
		return since >= h.From && since < h.To
	}
	return since >= h.From || since < h.To
}

func (h Hours) String() string {
	if !h.set {
		return "any time"
	}
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(h.From) + "-" + f(h.To)
}
