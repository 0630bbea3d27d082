package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
)

// loadConfig reads --config (if any) over the defaults, then the environment, then validates.
// A bad config is the user's input: exit status 2.
func (g *globals) loadConfig() (configs.Config, error) {
	cfg, err := configs.Load(g.configPath, g.environ)
	if err != nil {
		return cfg, usageErr(fmt.Errorf("invalid configuration:\n%w", err))
	}
	return cfg, nil
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			out, err := cfg.Marshal()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(out)
			return err
		},
	}, &cobra.Command{
		Use:   "keys",
		Short: "List every configuration key with its environment variable",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, k := range configs.Keys() {
				if _, err := fmt.Fprintf(g.stdout, "%-40s %s\n", k[0], k[1]); err != nil {
					return err
				}
			}
			return nil
		},
	})
	return cmd
}
