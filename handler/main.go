// Command handler is feeds2sentinel's single binary. Started by the Azure
// Functions host (FUNCTIONS_CUSTOMHANDLER_PORT set) it serves the
// custom-handler invocation protocol; started by a person it runs one of
// the subcommands listed by `handler help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, vars: environ(os.Environ()),
	})
	stop()
	os.Exit(code)
}

// env is the process environment a command runs in; tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	vars           map[string]string
}

func environ(list []string) map[string]string {
	m := make(map[string]string, len(list))
	for _, kv := range list {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// command is one subcommand.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"sync":    {summary: "run feeds through the whole pipeline in this process (fetch → normalize → queue → upload)", usage: "sync [--feed NAME]... [--force]", run: cmdSync},
		"convert": {summary: "convert a raw feed payload to STIX objects (one per line) on stdout", usage: "convert --feed NAME [--input FILE|-]", run: cmdConvert},
		"submit":  {summary: "submit IOCs (JSON, STIX or text) through the local pipeline", usage: "submit [--dry-run] [--content-type TYPE] FILE|-", run: cmdSubmit},
		"replay":  {summary: "move dead-lettered and parked batches back to the queue", usage: "replay [--from all|deadletter|parked] [--reason TEXT] [--max N]", run: cmdReplay},
		"status":  {summary: "show per-feed run status and uploader counters", usage: "status [--json]", run: cmdStatus},
		"serve":   {summary: "serve the Functions custom-handler protocol (what the Functions host runs)", usage: "serve", run: cmdServe},
		"feeds":   {summary: "list the built-in feeds and their settings", usage: "feeds", run: cmdFeeds},
	}
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		if e.vars["FUNCTIONS_CUSTOMHANDLER_PORT"] != "" || e.vars["FUNCTIONS_HTTPWORKER_PORT"] != "" {
			args = []string{"serve"}
		} else {
			usage(e.stderr)
			return 2
		}
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(e.stdout)
		return 0
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(e.stderr, "handler: unknown command %q\n\n", name)
		usage(e.stderr)
		return 2
	}
	if err := cmd.run(ctx, e, args[1:]); err != nil {
		fmt.Fprintf(e.stderr, "handler %s: %v\n", name, err)
		if _, ok := err.(usageError); ok {
			fmt.Fprintf(e.stderr, "usage: handler %s\n", cmd.usage)
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a bad command line.
type usageError string

func (u usageError) Error() string { return string(u) }

func usage(w io.Writer) {
	fmt.Fprintln(w, "feeds2sentinel: public threat-intel feeds → STIX 2.1 → Microsoft Sentinel")
	fmt.Fprintln(w, "\nUsage: handler <command> [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n           handler %s\n", n, cmds[n].summary, cmds[n].usage)
	}
	fmt.Fprintln(w, "\nUnder the Functions host (FUNCTIONS_CUSTOMHANDLER_PORT set) the default command is serve.")
	fmt.Fprintln(w, "Settings are environment variables; see README.md.")
}
