package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/version"
	"github.com/hearthp2p/hearth/p2p/identity"
	"golang.org/x/term"
)

func resolveHome(flag string, getenv func(string) string) (string, error) {
	return device.ResolveHome(flag, getenv)
}

func tree() *command {
	root := &command{
		name:    "hearth",
		summary: "a peer-to-peer, end-to-end encrypted home appliance",
		long: `Hearth is a peer-to-peer, end-to-end encrypted home appliance: a video
doorphone, an always-on blind mirror of the household's encrypted rooms and
files, and a member device of encrypted chat rooms. One binary; the daemon
owns keys and network, the other commands talk to the daemon of their home.`,
		subs: []*command{
			{name: "version", summary: "print version, commit, Go version and compiled-in codecs", run: runVersion},
			{name: "id", summary: "create, restore and show this device's identity", subs: []*command{
				{name: "create", summary: "create a new identity (24-word recovery phrase, shown once)", flags: withFlags((*createArgs).define, runIDCreate),
					long: `Create a new identity from 256 bits of fresh randomness and make this
device its first device. The 24-word recovery phrase is printed once: write it
down. It is the only way to restore the identity, and anyone who has it
controls the identity. An existing identity is never replaced without --force.`},
				{name: "restore", summary: "restore an identity from its phrase, read from stdin", flags: withFlags((*identityArgs).define, runIDRestore),
					long: `Restore an identity from its 24-word recovery phrase, read from standard
input (never from the command line, where other users could see it). On a
terminal the words are read without echo. Case, spacing and Unicode form do
not matter. This device gets a new device key and a new epoch: proofs of the
identity's older devices stop being accepted by peers that see the new epoch.
An existing identity is never replaced without --force.`},
				{name: "show", summary: "print the identity, device, peer id, epoch and proof", run: runIDShow},
				{name: "devices", summary: "list this identity's devices known here", run: runIDDevices},
				{name: "revoke", args: "DEVICE", nargs: 1, summary: "revoke a device (needs the phrase on stdin)", flags: withFlags((*revokeArgs).define, runIDRevoke),
					long: `Revoke one device of this identity, given its device key (64 hex digits, as
'hearth id show' prints on that device). The revocation is signed with the
identity key, derived here from the recovery phrase read on standard input
and wiped at once; the phrase never reaches the daemon. A device cannot
revoke itself.`},
			}},
			{name: "daemon", summary: "run the daemon in the foreground until SIGINT or SIGTERM", flags: withFlags((*config.Flags).Define, runDaemon),
				long: `Run the daemon in the foreground until SIGINT or SIGTERM. It takes the home
(a second daemon on the same home is refused), loads the identity, opens
storage and serves the control API on the unix socket hearth.sock in the
home (mode 0600). Logs go to stderr: text on a terminal, JSON otherwise.`},
			{name: "status", summary: "ask the daemon for its status", run: runStatus},
			roomCommands(),
			mirrorCommands(),
			deviceCommands(),
			fileCommands(),
			doorCommands(),
			webCommands(),
			demoCommand(),
			{name: "bench", summary: "measure whole-system figures on this machine", flags: withFlags((*benchArgs).define, runBench),
				long: `Measure whole-system figures on this machine with real components: catch-up
of a new member over libp2p on loopback (entries/s), message latency from send
to visible at the other peer (p50/p99, direct and through a relay), the
resident memory of a daemon idle and holding many rooms, a daemon holding
years of history (a room of 1,000,000 messages, and 100 rooms of 10,000):
its memory idle and serving pages, its start to the newest messages and a
page of older ones, a member's catch-up from a mirror alone, a mirror
daemon keeping 10,000 rooms (memory, disk), a 1 GiB file transfer against a plain libp2p stream and between two daemon
processes (with their memory), the speed-up of fetching a file from three
sources at once, call setup and glass-to-glass latency, the encoders'
processor time, and a doorphone's press-to-ring (also while a member rings
the door every second and a stranger holds its handshake slots),
answer-to-frame and live view. Prints a table with each figure's goal
(those that miss it marked MISSED, and named again at the end), JSON with
--json, or the README's table with --markdown (the machine and the date
above it). --quick shrinks the workloads to about a minute.`},
		},
	}
	// The call commands go after the file commands.
	for i, c := range root.subs {
		if c.name == "file" {
			root.subs = append(root.subs[:i+1], append(callCommands(), root.subs[i+1:]...)...)
			break
		}
	}
	var link func(c *command)
	link = func(c *command) {
		for _, s := range c.subs {
			s.parent = c
			link(s)
		}
	}
	link(root)
	return root
}

// identityArgs are the flags of id create and id restore.
type identityArgs struct {
	force          bool
	name           string
	passphraseFile string
}

func (a *identityArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.force, "force", false, "replace an existing identity in this home (this device becomes a new device)")
	fs.StringVar(&a.name, "name", "", "this device's `NAME` as other devices see it (default: the host name)")
	fs.StringVar(&a.passphraseFile, "passphrase-file", "", "read an optional BIP39 passphrase from `FILE`")
}

// createArgs are the flags of id create.
type createArgs struct {
	identityArgs
	ifMissing bool
	phraseOut string
}

func (a *createArgs) define(fs *flag.FlagSet) {
	a.identityArgs.define(fs)
	fs.BoolVar(&a.ifMissing, "if-missing", false, "do nothing (and succeed) when the home has an identity: for an appliance's first start")
	fs.StringVar(&a.phraseOut, "phrase-out", "", "write the 24 words into a new `FILE` (mode 0600) instead of showing them: for an appliance with no screen")
}

// revokeArgs are the flags of id revoke.
type revokeArgs struct{ passphraseFile string }

func (a *revokeArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.passphraseFile, "passphrase-file", "", "read the identity's BIP39 passphrase from `FILE`")
}

func runVersion(ctx context.Context, r *runner, _ []string) error {
	v := version.Get()
	return r.emit(v, func(w io.Writer) {
		fmt.Fprintf(w, "hearth %s (commit %s, %s, %s/%s)\n", v.Version, v.Commit, v.Go, v.OS, v.Arch)
		if len(v.Codecs) == 0 {
			fmt.Fprintf(w, "codecs: none (built without the cgo media codecs)\n")
		} else {
			fmt.Fprintf(w, "codecs: %s\n", strings.Join(v.Codecs, ", "))
		}
	})
}

// idJSON is the object of id create, restore and show.
type idJSON struct {
	Identity string `json:"identity"`
	Device   string `json:"device"`
	PeerID   string `json:"peer_id"`
	Epoch    uint64 `json:"epoch"`
	Proof    string `json:"proof"`
	Name     string `json:"name"`
	Created  string `json:"created"`
	Home     string `json:"home"`
	Phrase   string `json:"phrase,omitempty"`
}

func describe(l *identity.Local, home string) (idJSON, error) {
	pid, err := l.PeerID()
	if err != nil {
		return idJSON{}, err
	}
	proof, err := l.Proof.MarshalBinary()
	if err != nil {
		return idJSON{}, err
	}
	return idJSON{
		Identity: l.Identity.String(),
		Device:   l.Device.Public().String(),
		PeerID:   pid.String(),
		Epoch:    l.Epoch,
		Proof:    hex.EncodeToString(proof),
		Name:     l.Record.Name,
		Created:  l.Created.UTC().Format(time.RFC3339),
		Home:     home,
	}, nil
}

func printID(w io.Writer, j idJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "identity\t%s\n", j.Identity)
	fmt.Fprintf(tw, "device\t%s\n", j.Device)
	fmt.Fprintf(tw, "name\t%s\n", j.Name)
	fmt.Fprintf(tw, "peer id\t%s\n", j.PeerID)
	fmt.Fprintf(tw, "epoch\t%d (%s)\n", j.Epoch, time.Unix(int64(j.Epoch), 0).UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "home\t%s\n", j.Home)
	tw.Flush()
}

// prepareIdentity does every check that can fail before a new identity is
// made, so a refused create or restore writes nothing.
func prepareIdentity(r *runner, a *identityArgs) (home, passphrase string, err error) {
	home, err = r.home()
	if err != nil {
		return "", "", err
	}
	if err := checkHomeUsable(home); err != nil {
		return "", "", err
	}
	if err := device.CheckNotRunning(home); err != nil {
		if errors.Is(err, device.ErrDaemonRunning) {
			return "", "", fmt.Errorf("%w: stop it before changing the identity", err)
		}
		return "", "", err
	}
	if identity.Exists(home) && !a.force {
		return "", "", fmt.Errorf("%w (%s); pass --force to replace it (this device becomes a new device; keep the old phrase)", identity.ErrIdentityExists, home)
	}
	passphrase, err = readPassphrase(a.passphraseFile)
	return home, passphrase, err
}

// checkHomeUsable refuses a home that exists but cannot be ours: not a
// folder, another user's, open to others, or not accessible.
func checkHomeUsable(home string) error {
	fi, err := os.Stat(home)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("home %s is not a folder", home)
	}
	return device.CheckHome(home)
}

func readPassphrase(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	wipeBytes(b)
	if s == "" {
		return "", fmt.Errorf("passphrase file %s is empty: leave out --passphrase-file for no passphrase", path)
	}
	return s, nil
}

func wipeBytes(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// setupIdentity checks everything, gets the phrase (fresh or typed), and
// sets up this device's identity; nothing is written on any error.
func setupIdentity(r *runner, a *identityArgs, phraseOf func() (identity.Phrase, error)) (*identity.Local, identity.Phrase, idJSON, error) {
	home, pass, err := prepareIdentity(r, a)
	if err != nil {
		return nil, identity.Phrase{}, idJSON{}, err
	}
	phrase, err := phraseOf()
	if err != nil {
		return nil, identity.Phrase{}, idJSON{}, err
	}
	l, err := identity.Setup(home, phrase, pass, identity.SetupOptions{Name: a.name, Force: a.force, Now: r.env.Now})
	if err != nil {
		phrase.Wipe()
		return nil, identity.Phrase{}, idJSON{}, err
	}
	j, err := describe(l, home)
	if err != nil {
		l.Wipe()
		phrase.Wipe()
		return nil, identity.Phrase{}, idJSON{}, err
	}
	return l, phrase, j, nil
}

func runIDCreate(ctx context.Context, r *runner, a *createArgs, _ []string) error {
	home, err := r.home()
	if err != nil {
		return err
	}
	if a.ifMissing && identity.Exists(home) {
		return runIDShow(ctx, r, nil)
	}
	newPhrase := identity.NewPhrase
	out := a.phraseOut
	if out != "" {
		// The words go to the file before the identity exists, so there is
		// never an identity whose phrase was lost on the way.
		newPhrase = func() (identity.Phrase, error) {
			p, err := identity.NewPhrase()
			if err != nil {
				return p, err
			}
			if err := writePhraseFile(out, p); err != nil {
				p.Wipe()
				return p, err
			}
			return p, nil
		}
	}
	l, phrase, j, err := setupIdentity(r, &a.identityArgs, newPhrase)
	if err != nil {
		if out != "" && !errors.Is(err, os.ErrExist) {
			os.Remove(out)
		}
		return err
	}
	defer l.Wipe()
	defer phrase.Wipe()
	if out != "" {
		return r.emit(j, func(w io.Writer) {
			fmt.Fprintf(w, "The 24 words are in %s (readable by this user only): copy them onto paper, then delete the file.\n\n", out)
			printID(w, j)
		})
	}
	if r.json {
		j.Phrase = phrase.Reveal()
		return r.emit(j, nil)
	}
	fmt.Fprintf(r.env.Stderr, "Write these 24 words down now, on paper, in order. They are shown only this\n"+
		"once, they are the only way to restore this identity, and anyone who has\n"+
		"them controls it. Hearth never stores or logs them.\n\n")
	w := r.env.Stdout
	words := strings.Fields(phrase.Reveal())
	for i := 0; i < len(words); i += 4 {
		for k := i; k < i+4 && k < len(words); k++ {
			fmt.Fprintf(w, "%3d %-10s", k+1, words[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	printID(w, j)
	return nil
}

// writePhraseFile writes the phrase into a new file of mode 0600; an
// existing file is never overwritten.
func writePhraseFile(path string, p identity.Phrase) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--phrase-out: %w", err)
	}
	_, err = f.WriteString(p.Reveal() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("--phrase-out: %w", err)
	}
	return nil
}

// maxPhraseRead bounds what id restore reads from stdin.
const maxPhraseRead = 8192

func readPhrase(r *runner, prompt string) (identity.Phrase, error) {
	var raw []byte
	if isTerminal(r.env.Stdin) {
		fmt.Fprintf(r.env.Stderr, "%s (input hidden), then Enter: ", prompt)
		f := r.env.Stdin.(*os.File)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		if err != nil {
			return identity.Phrase{}, fmt.Errorf("reading the phrase: %w", err)
		}
		raw = b
	} else {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r.env.Stdin), maxPhraseRead+1))
		if err != nil {
			return identity.Phrase{}, fmt.Errorf("reading the phrase from stdin: %w", err)
		}
		if len(b) > maxPhraseRead {
			wipeBytes(b)
			return identity.Phrase{}, fmt.Errorf("standard input is over %d bytes: that is not a recovery phrase", maxPhraseRead)
		}
		raw = b
	}
	defer wipeBytes(raw)
	if len(bytes.TrimSpace(raw)) == 0 {
		return identity.Phrase{}, errors.New("no recovery phrase on standard input: type it, or pipe it in (hearth id restore < phrase.txt)")
	}
	return identity.ParsePhrase(string(raw))
}

func runIDRestore(ctx context.Context, r *runner, a *identityArgs, _ []string) error {
	l, phrase, j, err := setupIdentity(r, a, func() (identity.Phrase, error) {
		return readPhrase(r, "Enter the 24 words of the recovery phrase")
	})
	if err != nil {
		return err
	}
	defer l.Wipe()
	phrase.Wipe()
	return r.emit(j, func(w io.Writer) {
		fmt.Fprintf(w, "Identity restored; this device starts epoch %d.\n\n", l.Epoch)
		printID(w, j)
	})
}

func loadIdentity(r *runner) (*identity.Local, string, error) {
	home, err := r.home()
	if err != nil {
		return nil, "", err
	}
	l, err := identity.Load(home)
	if err != nil {
		if errors.Is(err, identity.ErrNoIdentity) {
			return nil, "", fmt.Errorf("%w: create one with 'hearth id create' or 'hearth id restore'", err)
		}
		return nil, "", err
	}
	return l, home, nil
}

func runIDShow(ctx context.Context, r *runner, _ []string) error {
	l, home, err := loadIdentity(r)
	if err != nil {
		return err
	}
	defer l.Wipe()
	j, err := describe(l, home)
	if err != nil {
		return err
	}
	return r.emit(j, func(w io.Writer) {
		printID(w, j)
		fmt.Fprintf(w, "proof     %s\n", j.Proof)
	})
}

// client returns a client of the home's daemon; every request it makes
// times out after 30 s (control.Client's own bound).
func (r *runner) client() (*control.Client, error) {
	home, err := r.home()
	if err != nil {
		return nil, err
	}
	return control.NewClient(device.SocketPath(home)), nil
}

func runStatus(ctx context.Context, r *runner, _ []string) error {
	c, err := r.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	return r.emit(st, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "peer id\t%s\n", st.PeerID)
		fmt.Fprintf(tw, "identity\t%s\n", st.Identity)
		fmt.Fprintf(tw, "device\t%s (%s)\n", st.Device, st.DeviceName)
		if len(st.Addrs) == 0 {
			fmt.Fprintf(tw, "addresses\tnone yet\n")
		}
		for _, a := range st.Addrs {
			fmt.Fprintf(tw, "address\t%s\n", a)
		}
		if st.Web != "" {
			fmt.Fprintf(tw, "web page\t%s\n", st.Web)
		}
		if st.WebLAN != "" {
			fmt.Fprintf(tw, "web page (LAN)\t%s (certificate SHA-256 %s)\n", st.WebLAN, st.WebCert)
		}
		if st.App != "" {
			fmt.Fprintf(tw, "phone's app\t%s (certificate: %s)\n", st.App, st.AppCertificate)
		}
		fmt.Fprintf(tw, "rooms\t%d\n", st.Rooms)
		fmt.Fprintf(tw, "home\t%s\n", st.Home)
		fmt.Fprintf(tw, "daemon\tpid %d, version %s, up %s\n", st.PID, st.Version, (time.Duration(st.Uptime) * time.Second).String())
		tw.Flush()
	})
}

func runIDDevices(ctx context.Context, r *runner, _ []string) error {
	c, err := r.client()
	if err != nil {
		return err
	}
	d, err := c.Devices(ctx)
	if err != nil {
		return err
	}
	return r.emit(d, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "DEVICE\tNAME\tSTATE\tSINCE\n")
		for _, dv := range d.Devices {
			state, since := "active", dv.Added
			if dv.Current {
				state = "this device"
			}
			if dv.Revoked {
				state, since = "revoked", dv.RevokedAt
			}
			if dv.Superseded {
				state = "superseded (the phrase was restored since)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dv.Device, dv.Name, state, since)
		}
		tw.Flush()
	})
}

func runIDRevoke(ctx context.Context, r *runner, a *revokeArgs, args []string) error {
	dev, err := identity.ParsePublicKey(args[0])
	if err != nil {
		return usagef("DEVICE: %v", err)
	}
	l, _, err := loadIdentity(r)
	if err != nil {
		return err
	}
	defer l.Wipe()
	if dev == l.Device.Public() {
		return identity.ErrRevokeSelf
	}
	c, err := r.client()
	if err != nil {
		return err
	}
	// Fail before asking for the phrase if nobody will take the revocation.
	if _, err := c.Status(ctx); err != nil {
		return err
	}
	pass, err := readPassphrase(a.passphraseFile)
	if err != nil {
		return err
	}
	phrase, err := readPhrase(r, "Enter the 24 words of this identity's recovery phrase")
	if err != nil {
		return err
	}
	idKey, err := l.CheckPhrase(phrase, pass)
	phrase.Wipe()
	if err != nil {
		return err
	}
	rv, err := identity.NewRevocation(idKey, dev, l.Epoch, r.env.Now())
	idKey.Wipe()
	if err != nil {
		return err
	}
	b, _ := rv.MarshalBinary()
	resp, err := c.Revoke(ctx, control.RevokeRequest{Revocation: hex.EncodeToString(b)})
	if err != nil {
		return err
	}
	return r.emit(resp, func(w io.Writer) {
		fmt.Fprintf(w, "revoked %s at %s\n", resp.Device, resp.RevokedAt)
	})
}

func runDaemon(ctx context.Context, r *runner, a *config.Flags, _ []string) error {
	home, err := r.home()
	if err != nil {
		return err
	}
	load := func() (device.Config, error) {
		s, err := a.Settings(home)
		var fe *config.FlagError
		if errors.As(err, &fe) {
			return device.Config{}, usagef("%s", fe.Error())
		}
		if err != nil {
			return device.Config{}, err
		}
		logger, err := daemonLogger(r, s.Log)
		if err != nil {
			return device.Config{}, err
		}
		cfg, err := device.Resolve(&s)
		if err != nil {
			return device.Config{}, err
		}
		cfg.Home, cfg.Logger, cfg.Now = home, logger, r.env.Now
		return cfg, nil
	}
	reload := r.env.Reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer func() {
			signal.Stop(hup)
			close(hup)
		}()
		ch := make(chan struct{}, 1)
		go func() {
			for range hup {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}()
		reload = ch
	}
	return device.Serve(ctx, device.ServiceConfig{Load: load, Reload: reload})
}

// daemonLogger makes the daemon's logger: text on a terminal, the journal
// under systemd, else JSON lines.
func daemonLogger(r *runner, ls config.LogSettings) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(ls.Level)); err != nil {
		return nil, usagef("log level %q: want debug, info, warn or error", ls.Level)
	}
	format := ls.Format
	switch format {
	case "auto":
		format = "json"
		switch {
		case device.UnderJournal(r.env.Getenv("JOURNAL_STREAM"), r.env.Stderr):
			format = "journald"
		case isTerminal(r.env.Stderr):
			format = "text"
		}
	case "text", "json", "journald":
	default:
		return nil, usagef("log format %q: want text, json, journald or auto", format)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(r.env.Stderr, hopts)), nil
	case "journald":
		h, err := device.NewJournalHandler(hopts)
		if err != nil {
			return nil, err
		}
		return slog.New(h), nil
	}
	return slog.New(slog.NewJSONHandler(r.env.Stderr, hopts)), nil
}
