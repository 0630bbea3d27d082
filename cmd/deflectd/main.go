// Command deflectd is the call-deflection gateway: SIP in from the PBX queue, WhatsApp out.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version may be set at build time with -ldflags "-X main.version=..."; else buildVersion reads
// what the Go toolchain recorded in the binary.
var version = ""

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ())) }

// exitError carries a process exit status (2 = bad input) through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks an error caused by the user's input: exit status 2.
func usageErr(err error) error { return &exitError{code: 2, err: err} }

func run(args []string, stdout, stderr io.Writer, environ []string) int {
	root := newRootCmd(stdout, stderr, environ)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "deflectd:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// globals are what every subcommand may need: output streams, the environment and --config.
type globals struct {
	stdout, stderr io.Writer
	environ        []string
	configPath     string
}

func newRootCmd(stdout, stderr io.Writer, environ []string) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, environ: environ}
	for _, kv := range environ {
		if len(kv) > len("DEFLECTD_CONFIG=") && kv[:len("DEFLECTD_CONFIG=")] == "DEFLECTD_CONFIG=" {
			g.configPath = kv[len("DEFLECTD_CONFIG="):]
		}
	}
	serve := newServeCmd(g)
	root := &cobra.Command{
		Use:           "deflectd",
		Short:         "Move callers waiting in a contact-centre queue to WhatsApp",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		// No subcommand means serve.
		RunE: serve.RunE,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", g.configPath, "YAML config file (env DEFLECTD_CONFIG); none = embedded defaults")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(
		serve,
		newConfigCmd(g),
		newVersionCmd(g),
		newCheckNumberCmd(g),
		newPresenceCmd(g),
		newNotifyCmd(g),
		newCallCmd(g),
		newStatsCmd(g),
		newTemplatesCmd(g),
	)
	argsAreUsage(root)
	return root
}

// argsAreUsage makes argument errors of every command (an unknown command, a missing or extra
// argument) exit with status 2, like flag errors: they are the user's input, not a failure.
func argsAreUsage(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageErr(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		argsAreUsage(sub)
	}
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(g.stdout, "deflectd", buildVersion())
			return err
		},
	}
}

// buildVersion is the version set at link time, else the module version (go install
// module@version), else the VCS revision the binary was built from (+dirty when modified), else
// "dev" (go run, or a build outside a repository).
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return versionOf(bi)
}

// versionOf is buildVersion's reading of the toolchain's build information.
func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "+dirty"
	}
	return rev
}
