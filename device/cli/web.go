package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hearthp2p/hearth/device/web"
	"github.com/hearthp2p/hearth/device/web/phone"
	"golang.org/x/term"
)

func webCommands() *command {
	return &command{name: "web", summary: "the web page: its link's token, on the LAN its password and its certificate; the phone's app", subs: []*command{
		{name: "token", flags: withFlags((*webTokenArgs).define, runWebToken), summary: "make a new token for the page's link (the old link stops working)",
			long: `The link of the web page on loopback ('hearth status' prints it) carries a
secret token, kept in the home (web-token, 0600) so that a bookmark keeps
working across restarts. With --new, make a new one: the old link stops
opening the page at once, in a running daemon too; 'hearth status' prints
the new link.`},
		{name: "login", flags: withFlags((*webLoginArgs).define, runWebLogin), summary: "set (or remove) the password of the page on the LAN",
			long: `Set the password the web page asks for on the LAN (network.web_lan, or
'hearth daemon --web-lan ADDR'). On a terminal it is asked twice, hidden;
otherwise it is the first line of standard input. At least 10 characters.
Only its Argon2id hash is kept (web-login in the home); a running daemon
takes a new one at the next login. With --remove nobody can log in.
On the appliance run it as the service's user: sudo -u hearth hearth web login.`},
		{name: "export", args: "DIR", nargs: 1, summary: "write the phone's app (static files, no secret) to DIR, for any web host", run: runWebExport,
			long: `Write the phone's app to DIR (made if needed; empty, or an earlier export
that is replaced): the static files any web host can serve over HTTPS.
The app holds no secret: a phone that opens it makes its own device key
and becomes a device of its owner's identity by a link ('hearth device
link'). The daemon also serves it at /app/ of its pages.`},
		{name: "cert", summary: "the fingerprint of the LAN page's certificate", run: runWebCert,
			long: `Print the SHA-256 fingerprint of the certificate the page on the LAN
uses (made on first use, kept as web-tls.pem in the home). Browsers warn
about a certificate they do not know: compare the fingerprint they show
with this one before going on.`},
	}}
}

// webTokenArgs are the flags of web token.
type webTokenArgs struct{ newToken bool }

func (a *webTokenArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.newToken, "new", false, "make a new token (required: it ends the old link)")
}

func runWebToken(_ context.Context, r *runner, a *webTokenArgs, _ []string) error {
	if !a.newToken {
		return usagef("'hearth web token --new' makes a new token; 'hearth status' prints the page's link")
	}
	home, err := existingHome(r)
	if err != nil {
		return err
	}
	if _, err := web.NewWebToken(home); err != nil {
		return err
	}
	return r.emit(map[string]bool{"new": true}, func(w io.Writer) {
		fmt.Fprintln(w, "a new token: the old link no longer opens the page; 'hearth status' prints the new one")
	})
}

// webLoginArgs are the flags of web login.
type webLoginArgs struct{ remove bool }

func (a *webLoginArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.remove, "remove", false, "remove the password: nobody can log in on the LAN")
}

func runWebLogin(_ context.Context, r *runner, a *webLoginArgs, _ []string) error {
	home, err := existingHome(r)
	if err != nil {
		return err
	}
	if a.remove {
		if err := web.RemoveWebLogin(home); err != nil {
			return err
		}
		return r.emit(map[string]bool{"removed": true}, func(w io.Writer) {
			fmt.Fprintln(w, "the password is removed: nobody can log in on the LAN")
		})
	}
	pw, err := readPassword(r)
	if err != nil {
		return err
	}
	if err := web.SetWebLogin(home, pw); err != nil {
		return err
	}
	return r.emit(map[string]bool{"set": true}, func(w io.Writer) {
		fmt.Fprintln(w, "password set: the page on the LAN takes it at the next login")
	})
}

// readPassword reads a new password: twice and hidden on a terminal, else
// the first line of standard input.
func readPassword(r *runner) (string, error) {
	if isTerminal(r.env.Stdin) {
		fd := int(r.env.Stdin.(*os.File).Fd())
		ask := func(prompt string) (string, error) {
			fmt.Fprint(r.env.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(r.env.Stderr)
			return string(b), err
		}
		a, err := ask("New password for the page on the LAN (input hidden): ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		b, err := ask("Again: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if a != b {
			return "", errors.New("the two passwords differ: nothing changed")
		}
		return a, nil
	}
	line, err := bufio.NewReader(io.LimitReader(r.env.Stdin, 2048)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input: type it, or pipe it in (echo … | hearth web login)")
	}
	return line, nil
}

func runWebExport(_ context.Context, r *runner, args []string) error {
	dir := args[0]
	if err := phone.Export(dir); err != nil {
		return err
	}
	return r.emit(map[string]string{"dir": dir}, func(w io.Writer) {
		fmt.Fprintf(w, "the phone's app is in %s: serve it over HTTPS (a service worker needs it), index.html first\n", dir)
	})
}

func runWebCert(_ context.Context, r *runner, _ []string) error {
	home, err := existingHome(r)
	if err != nil {
		return err
	}
	_, fp, err := web.WebCert(home)
	if err != nil {
		return err
	}
	return r.emit(map[string]string{"sha256": fp}, func(w io.Writer) {
		fmt.Fprintf(w, "SHA-256 %s\n", fp)
	})
}

// existingHome is the home, which must exist already.
func existingHome(r *runner) (string, error) {
	home, err := r.home()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(home); err != nil {
		return "", fmt.Errorf("home %s: %w (make an identity first: hearth id create)", home, err)
	}
	return home, nil
}
