package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is everything the command line touches of the outside world, so
// tests can run it in-process.
type Env struct {
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
	// Reload asks a running daemon to read its settings again; nil: the
	// daemon listens for SIGHUP itself.
	Reload <-chan struct{}
}

// OSEnv returns the process's environment.
func OSEnv() Env {
	return Env{Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}
}

// usageError is a mistake in the command line itself: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// runFunc runs a command with its positional arguments.
type runFunc func(ctx context.Context, r *runner, args []string) error

// command is one node of the command tree: a group (subs, no run) or a
// command that runs.
type command struct {
	name    string
	args    string // positional arguments for the usage line, e.g. "DEVICE"
	nargs   int    // number of positional arguments
	optArgs int    // how many more may follow (optional ones)
	summary string
	long    string
	// flags, for a command that takes flags, declares them on fs and
	// returns the run that reads them: each command parses its own flags
	// into its own arguments, so a flag of another command is unknown to
	// it. Help calls it on a set of its own and drops the run.
	flags  func(fs *flag.FlagSet) runFunc
	run    runFunc // a command without flags
	subs   []*command
	parent *command
}

// withFlags makes a command's flags from its arguments type A: define
// declares A's flags on a set, run gets them parsed.
func withFlags[A any](define func(*A, *flag.FlagSet), run func(context.Context, *runner, *A, []string) error) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		a := new(A)
		define(a, fs)
		return func(ctx context.Context, r *runner, args []string) error { return run(ctx, r, a, args) }
	}
}

// runs reports whether c runs (else it is a group of commands).
func (c *command) runs() bool { return c.run != nil || c.flags != nil }

func (c *command) path() string {
	if c.parent == nil {
		return c.name
	}
	return c.parent.path() + " " + c.name
}

func (c *command) find(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// netArgs are the flags of how a node finds its peers, taken by the
// daemon and by device join (each with help of its own).
type netArgs struct {
	listen    multiFlag
	bootstrap multiFlag
	noMDNS    bool
}

func (a *netArgs) define(fs *flag.FlagSet, listenHelp, bootstrapHelp, mdnsHelp string) {
	fs.Var(&a.listen, "listen", listenHelp)
	fs.Var(&a.bootstrap, "bootstrap", bootstrapHelp)
	fs.BoolVar(&a.noMDNS, "no-mdns", false, mdnsHelp)
}

// globals are the flags every command takes, before or after its words
// (globalFlags parses them).
type globals struct {
	json    bool   // --json: one JSON object on stdout
	homeArg string // --home DIR; "" for $HEARTH_HOME and the defaults
}

// runner carries the global flags and the environment to a command; the
// command's own flags are its own arguments (command.flags).
type runner struct {
	env Env
	globals
}

func (r *runner) home() (string, error) { return resolveHome(r.homeArg, r.env.Getenv) }

// emit writes v as one JSON object with --json, or calls human otherwise.
func (r *runner) emit(v any, human func(w io.Writer)) error {
	if r.json {
		enc := json.NewEncoder(r.env.Stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	human(r.env.Stdout)
	return nil
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	root := tree()
	err := skewClock(&env)
	if err == nil {
		err = run(ctx, root, env)
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "hearth: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitFailure
}

// skewClock applies $HEARTH_CLOCK_SKEW, a signed duration ("-7h",
// "90m"): everything hearth dates (entries, records, invites and their
// expiry, the mirror's bookkeeping) is dated as if the machine's clock were
// that far off. It is how the tests run peers whose clocks disagree by
// hours; libp2p and the operating system keep the real clock.
func skewClock(env *Env) error {
	v := env.Getenv("HEARTH_CLOCK_SKEW")
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return usagef("HEARTH_CLOCK_SKEW=%q: want a duration such as -7h or 90m", v)
	}
	now := env.Now
	env.Now = func() time.Time { return now().Add(d) }
	return nil
}

func run(ctx context.Context, root *command, env Env) error {
	r := &runner{env: env}
	rest, help, err := globalFlags(env.Args, &r.globals)
	if err != nil {
		return err
	}
	cmd := root
	for len(rest) > 0 && len(cmd.subs) > 0 {
		sub := cmd.find(rest[0])
		if sub == nil {
			if cmd == root && rest[0] == "help" {
				return helpCommand(root, rest[1:], env.Stdout)
			}
			if strings.HasPrefix(rest[0], "-") {
				return usagef("unknown flag %s for '%s' (run 'hearth help')", rest[0], cmd.path())
			}
			return usagef("unknown command %q for '%s' (run '%s')", rest[0], cmd.path(), helpFor(cmd))
		}
		cmd = sub
		rest = rest[1:]
	}
	if help {
		printHelp(cmd, env.Stdout)
		return nil
	}
	if !cmd.runs() {
		printHelp(cmd, env.Stderr)
		if cmd == root {
			return usagef("no command given")
		}
		return usagef("'%s' needs a subcommand", cmd.path())
	}
	fs := flag.NewFlagSet(cmd.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runCmd := cmd.run
	if cmd.flags != nil {
		runCmd = cmd.flags(fs)
	}
	args, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(cmd, env.Stdout)
			return nil
		}
		return usagef("%v (run '%s')", err, helpFor(cmd))
	}
	if len(args) < cmd.nargs || len(args) > cmd.nargs+cmd.optArgs {
		want := "no arguments"
		if cmd.nargs+cmd.optArgs > 0 {
			want = cmd.args
		}
		return usagef("'%s' takes %s, got %d argument(s) (run '%s')", cmd.path(), want, len(args), helpFor(cmd))
	}
	return runCmd(ctx, r, args)
}

// helpFor returns the command that prints c's help.
func helpFor(c *command) string {
	return strings.Join(append([]string{"hearth", "help"}, strings.Fields(c.path())[1:]...), " ")
}

// globalFlags takes --home and --json (and --help) from anywhere before a
// "--", as DESIGN.md promises, and returns the other arguments.
func globalFlags(args []string, g *globals) (rest []string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), help, nil
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "---") {
			rest = append(rest, a)
			continue
		}
		switch name {
		case "json":
			g.json = true
			if hasVal {
				b, perr := strconv.ParseBool(val)
				if perr != nil {
					return nil, false, usagef("--json=%s: want true or false", val)
				}
				g.json = b
			}
		case "home":
			if !hasVal {
				if i+1 >= len(args) {
					return nil, false, usagef("--home needs a folder")
				}
				i++
				val = args[i]
			}
			if val == "" {
				return nil, false, usagef("--home needs a folder")
			}
			g.homeArg = val
		case "h", "help":
			help = true
		default:
			rest = append(rest, a)
		}
	}
	return rest, help, nil
}

// parseInterspersed lets flags come after positional arguments
// ("id revoke DEVICE --passphrase-file F"); everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, tail...), nil
}

func helpCommand(root *command, words []string, w io.Writer) error {
	cmd := root
	for _, word := range words {
		sub := cmd.find(word)
		if sub == nil {
			return usagef("no help for unknown command %q (run 'hearth help')", strings.Join(words, " "))
		}
		cmd = sub
	}
	printHelp(cmd, w)
	return nil
}

func printHelp(c *command, w io.Writer) {
	usage := c.path()
	if len(c.subs) > 0 && !c.runs() {
		usage += " COMMAND"
	}
	if c.flags != nil {
		usage += " [flags]"
	}
	if c.args != "" {
		usage += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n", usage)
	text := c.long
	if text == "" {
		text = c.summary
	}
	fmt.Fprintf(w, "%s\n", strings.TrimSpace(text))
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		for _, s := range c.subs {
			fmt.Fprintf(w, "  %-16s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'hearth help COMMAND...' for a command's details.\n")
	}
	if c.flags != nil {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		c.flags(fs)
		fmt.Fprintf(w, "\nFlags:\n")
		printFlags(fs, w)
	}
	fmt.Fprintf(w, "\nGlobal flags (before or after the command words):\n")
	fmt.Fprintf(w, "  --home DIR       the home folder (env HEARTH_HOME; default $XDG_DATA_HOME/hearth,\n")
	fmt.Fprintf(w, "                   or $STATE_DIRECTORY under systemd)\n")
	fmt.Fprintf(w, "  --json           print one JSON object on stdout\n")
	fmt.Fprintf(w, "  -h, --help       show this help\n")
}

func printFlags(fs *flag.FlagSet, w io.Writer) {
	var lines [][2]string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if name != "" {
			left += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, [2]string{left, usage})
	})
	sort.Slice(lines, func(i, j int) bool { return lines[i][0] < lines[j][0] })
	for _, l := range lines {
		fmt.Fprintf(w, "  %-24s %s\n", l[0], l[1])
	}
}
