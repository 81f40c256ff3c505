// Command kazna is the one binary of the Kazna e-money ledger: it serves the API, and (as later commands are
// added) replays, verifies and reconciles the ledger.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// command is one subcommand of kazna.
type command struct {
	name    string
	summary string
	// help, if set, is printed by --help after the summary.
	help string
	// flags registers the command's own flags (the common ones are added for every command).
	flags func(fs *flag.FlagSet, c *config)
	run   func(ctx context.Context, c *config, out io.Writer) error
	// usesStore says whether the command opens the event store, and so takes --eventstore.
	usesStore bool
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run the ledger: HTTP API, event store, Stellar network and background work",
			flags: func(fs *flag.FlagSet, c *config) { serveFlags(fs, c); reconcileServeFlags(fs, c) }, run: serve, usesStore: true},
		{name: "bank-auth", summary: "run the reference bank authorization service for a demo bank", help: bankAuthHelp, flags: bankAuthFlags, run: bankAuth},
		rotateCommand(),
		reconcileCommand(),
		verifyCommand(),
		replayCommand(),
		{name: "loadgen", summary: "drive the HTTP API like a bank and report throughput and latency", help: loadgenHelp,
			flags: func(fs *flag.FlagSet, c *config) { serveFlags(fs, c); loadgenFlags(fs, c) }, run: runLoadgen, usesStore: true},
		{name: "version", summary: "print the version and build information", run: printVersion},
	}
}

// defaultGCPercent is the garbage collector's target when GOGC is not set: a ledger node's heap is mostly
// long-lived read models, and collecting at 100% spent a tenth of a loaded node's CPU marking them again
// (docs/BENCHMARKS.md). GOGC (and GOMEMLIMIT) still rule when set.
const defaultGCPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes kazna with args and returns the process exit code: 0 success, 1 failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "kazna: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	cfg := &config{}
	fs := flag.NewFlagSet("kazna "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfg.registerCommon(fs, cmd.usesStore)
	if cmd.flags != nil {
		cmd.flags(fs, cfg)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kazna %s [flags]\n\n%s.\n", cmd.name, capitalize(cmd.summary))
		if cmd.help != "" {
			fmt.Fprintf(fs.Output(), "\n%s\n", cmd.help)
		}
		fmt.Fprintf(fs.Output(), "\nFlags (each can also be set by the environment variable shown):\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kazna %s: unexpected arguments %q\n", cmd.name, fs.Args())
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "kazna %s: %v\n", cmd.name, err)
		return 2
	}
	if err := cmd.run(ctx, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "kazna %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Kazna is an event-sourced ledger for e-money wallets, settled on Stellar.

Usage: kazna <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Run 'kazna <command> --help' for the flags of a command. Every flag can also be set with the
environment variable named in its help (KAZNA_*); a flag given on the command line wins.

Quick start (embedded defaults, no other process needed):
  kazna serve                      # data in ./data, API on http://127.0.0.1:8080
  kazna serve --demo               # the same, plus a demo bank with an administrator, ready to log in
`)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
