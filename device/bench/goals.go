package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A Goal is what the project aims at for a figure: at least or at most a
// value. The README's table of figures shows them, as `hearth bench
// --markdown` prints it.
type Goal struct {
	Value float64 `json:"value"`
	// AtMost is true for a ceiling (time, memory), false for a floor
	// (speed).
	AtMost bool `json:"at_most"`
	// Why says where the goal comes from.
	Why string `json:"why"`
}

// Met reports whether v reaches the goal.
func (g Goal) Met(v float64) bool {
	if g.AtMost {
		return v <= g.Value
	}
	return v >= g.Value
}

func (g Goal) String() string {
	op := "≥"
	if g.AtMost {
		op = "≤"
	}
	return op + " " + strconv.FormatFloat(g.Value, 'f', -1, 64)
}

// Why each goal: what an issue asked for, or what the appliance needs.
const (
	whyPi      = "a Raspberry Pi Zero 2 W has 512 MiB for everything"
	whyCatchUp = "a phone back online reads a year of a busy room in seconds"
	whyCall    = "a call feels live"
	whyDoor    = "a visitor hears the bell ring at once"
	whyChat    = "a message shows as it is sent"
)

// goals are the goals of the figures that have one, by the figure's name
// (a name ending in a space is a prefix: the figures whose names carry a
// count). A figure without a goal is a measure only (the codecs' own cost,
// sizes on disk).
var goals = map[string]Goal{
	"catch-up":                              {300_000, false, whyCatchUp + ", written to disk (issue 25)"},
	"rotation":                              {100, true, "removing a member is done before anyone notices"},
	"rotation at a member":                  {10, true, "taking a new key costs a device nothing"},
	"message latency p50":                   {10, true, whyChat},
	"message latency p99":                   {50, true, whyChat},
	"relayed message latency p50":           {10, true, whyChat + ", through a relay too"},
	"relayed message latency p99":           {50, true, whyChat + ", through a relay too"},
	"daemon RSS idle":                       {64, true, whyPi},
	"daemon RSS with ":                      {64, true, whyPi},
	"mirror catch-up":                       {300_000, false, whyCatchUp + ", from the mirror alone, written to disk (issue 25)"},
	"history restart → newest 50: ":         {1000, true, "issue 25: years of history open in a second"},
	"history RSS idle: ":                    {64, true, whyPi + ": memory independent of history (issue 25)"},
	"history RSS serving pages: ":           {64, true, whyPi + ": memory independent of history (issue 25)"},
	"history page p50: ":                    {10, true, "issue 25: a page of older messages at once"},
	"history page p99: ":                    {10, true, "issue 25: a page of older messages at once"},
	"mirror RSS with ":                      {64, true, whyPi + " (memory independent of history: issue 25)"},
	"mirror disk overhead":                  {3, true, "a mirror's disk holds the household's bytes, not its bookkeeping"},
	"file transfer / plain stream":          {0.8, false, "files issue: at least 0.8 of a plain libp2p stream"},
	"multi-source speed-up":                 {2.5, false, "files issue: three sources at least 2.5 times one"},
	"sender RSS peak during the transfer":   {96, true, whyPi + ": files of any size in bounded memory"},
	"receiver RSS peak during the transfer": {96, true, whyPi + ": files of any size in bounded memory"},
	"call ring":                             {100, true, whyCall},
	"call setup":                            {300, true, "calls issue: the first frame at most 300 ms after the answer"},
	"call latency p50 (loopback)":           {100, true, "calls issue: glass to glass at most 100 ms p50 on a LAN at 720p30"},
	"call latency p99 (loopback)":           {200, true, whyCall},
	"door press → ring":                     {500, true, whyDoor},
	"door press → ring under attack":        {1000, true, whyDoor + ", whatever a member or a stranger sends"},
	"door answer → first frame":             {300, true, "as a call's setup"},
	"door live view → first frame":          {1000, true, "a look at the door is there when the phone is up"},
	"doorphone RSS idle":                    {64, true, whyPi},
	"doorphone CPU idle":                    {2, true, "an idle appliance stays cool and cheap"},
	"phone app size":                        {4, true, "issue 26: a phone downloads the app over a mobile network"},
	"phone answer → first frame":            {300, true, "as a call's setup"},
	"phone ring → notification":             {1000, true, whyDoor + ", on a phone with the app closed"},
	"hub press → MQTT ring event":           {500, true, "issue 27: the home's chime and lights follow the bell at once"},
	"hub RTSP first frame":                  {2000, true, "issue 27: a recorder starts within a key frame's interval"},
	"hub added idle memory":                 {8, true, "issue 27: the bridge on a Pi Zero 2 W's 512 MiB"},
}

// GoalNames are the names (or prefixes) of the figures that have goals.
func GoalNames() []string {
	var out []string
	for k := range goals {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// goalFor returns the goal of a figure, if it has one.
func goalFor(name string) (Goal, bool) {
	if g, ok := goals[name]; ok {
		return g, true
	}
	for k, g := range goals {
		if strings.HasSuffix(k, " ") && strings.HasPrefix(name, k) {
			return g, true
		}
	}
	return Goal{}, false
}

// withGoals gives each figure its goal and whether it met it.
func withGoals(figs []Figure) []Figure {
	for i := range figs {
		if g, ok := goalFor(figs[i].Name); ok && figs[i].Unit != "-" {
			met := g.Met(figs[i].Value)
			figs[i].Goal, figs[i].Met = &g, &met
		}
	}
	return figs
}

// Missed returns the figures that missed their goals.
func Missed(figs []Figure) []Figure {
	var out []Figure
	for _, f := range figs {
		if f.Met != nil && !*f.Met {
			out = append(out, f)
		}
	}
	return out
}

// FormatValue prints a figure's value as the tables show it.
func FormatValue(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// GoalText is a figure's goal and its outcome for a table: "≤ 300 ms",
// "≥ 0.8 ratio: MISSED", or "" without a goal.
func (f Figure) GoalText() string {
	if f.Goal == nil {
		return ""
	}
	s := fmt.Sprintf("%s %s", f.Goal, f.Unit)
	if !*f.Met {
		s += ": MISSED"
	}
	return s
}

// Machine describes this machine for a table of figures: processor,
// cores, memory, kernel and Go.
func Machine() string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			parts = append(parts, fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20)))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	return strings.Join(append(parts, runtime.Version()), ", ")
}

// WriteMarkdown writes the figures as the README's table: each beside its
// goal (in bold when missed) and why it is the goal.
func WriteMarkdown(w io.Writer, figs []Figure, quick bool, start time.Time, took time.Duration) {
	how := "`hearth bench`"
	if quick {
		how = "`hearth bench --quick` (smaller workloads)"
	}
	fmt.Fprintf(w, "Measured by %s on %s in %s: %s.\n\n", how, start.UTC().Format("2006-01-02"), took, Machine())
	fmt.Fprintln(w, "| figure | value | goal | why the goal | how |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, f := range figs {
		goal, why := f.GoalText(), ""
		if goal == "" {
			goal = "(a measure)"
		} else {
			why = f.Goal.Why
			if !*f.Met {
				goal = "**" + goal + "**"
			}
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s |\n", f.Name, FormatValue(f.Value), f.Unit, goal, why, strings.ReplaceAll(f.Note, "|", "/"))
	}
}

// WriteTable writes the figures as a plain table, then the machine and
// how long the run took.
func WriteTable(w io.Writer, figs []Figure, took time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "FIGURE\tVALUE\tUNIT\tGOAL\tHOW\n")
	for _, f := range figs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, FormatValue(f.Value), f.Unit, f.GoalText(), f.Note)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s; %s\n", Machine(), took)
}
