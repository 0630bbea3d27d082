package inbox

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
)

// FullStore is what FromConfig needs: the inbox's and the desk's parts of the store (a
// store.Store is one).
type FullStore interface {
	Store
	DeskStore
}

// FromConfig builds the inbox and its desk from the configuration: bot flows from
// inbox.flows_file (empty = the built-in example), agents from the API tokens, desk webhooks
// from inbox.desk_*. instance names this process's desk consumer. The caller runs
// Service.Run and Desk.Run, chains Service.HandleEvent after deflect's, and hands the Service
// to deflect as its ChatCounter.
func FromConfig(cfg configs.Config, st FullStore, send Sender, counter SessionCounter, instance string, log *slog.Logger) (*Service, *Desk, error) {
	var flows *bot.Flows
	var err error
	if cfg.Inbox.FlowsFile != "" {
		flows, err = bot.Load(cfg.Inbox.FlowsFile)
	} else {
		flows, err = bot.Example()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load bot flows: %w", err)
	}
	desk := NewDesk(DeskOptions{URL: cfg.Inbox.DeskWebhookURL, Secret: cfg.Inbox.DeskSecret.Reveal(),
		Retries: cfg.Inbox.DeskRetries, Store: st, Name: instance, Logger: log})
	media, _ := send.(MediaGraph) // the Graph API client has media; a bare sender does not
	s, err := New(Options{Config: cfg, Store: st, Sender: send, Bot: bot.New(flows, cfg.Inbox.FallbackAfter),
		Agents: AgentsFromConfig(cfg.API), Desk: desk, Media: media, Logger: log, PresenceTTL: cfg.Inbox.PresenceTTL, Stats: counter})
	if err != nil {
		return nil, nil, err
	}
	return s, desk, nil
}

// ConsoleTemplates are the template names the console offers: inbox.templates, else the
// deflection template.
func ConsoleTemplates(cfg configs.Config) []string {
	if len(cfg.Inbox.Templates) > 0 {
		return slices.Clone(cfg.Inbox.Templates)
	}
	return []string{cfg.Deflect.Template.Name}
}
