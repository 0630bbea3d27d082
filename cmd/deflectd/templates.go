package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/templatesync"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// templateAdmin is template management over one Graph API client, recording synced states
// into the engine's template state. It serves the API (deflectd templates --gateway), the
// periodic sync, and the command run against whatsapp.base_url.
type templateAdmin struct {
	m   *templatesync.Manager
	rec templatesync.Recorder // nil: Sync is not available
}

func (t *templateAdmin) List(ctx context.Context) ([]templatesync.Row, error) { return t.m.List(ctx) }
func (t *templateAdmin) Push(ctx context.Context) ([]templatesync.Action, error) {
	return t.m.Push(ctx)
}
func (t *templateAdmin) Sync(ctx context.Context) ([]deflect.TemplateState, error) {
	if t.rec == nil {
		return nil, errors.New("sync needs the store")
	}
	return t.m.Sync(ctx, t.rec)
}

// templateWABA is the business account templates live in: whatsapp.business_account_id, or the
// sandbox's own with the sandbox provider; "" when neither.
func templateWABA(cfg configs.Config) string {
	if w := cfg.WhatsApp.BusinessAccountID; w != "" {
		return w
	}
	if cfg.WhatsApp.Provider == "sandbox" {
		return sandbox.DefaultBusinessAccountID
	}
	return ""
}

// newTemplateAdmin returns nil when there is no business account to manage.
func newTemplateAdmin(cfg configs.Config, c templatesync.Client, rec templatesync.Recorder) (*templateAdmin, error) {
	waba := templateWABA(cfg)
	if waba == "" {
		return nil, nil
	}
	defs, err := configs.LoadTemplates(cfg.WhatsApp.TemplatesFile)
	if err != nil {
		return nil, err
	}
	return &templateAdmin{rec: rec, m: &templatesync.Manager{Client: c, WABAID: waba, Defs: defs, Sent: sentTemplates(cfg),
		Check: func() []string { return configs.TemplateMismatches(cfg, defs) }}}, nil
}

// sentTemplates are the deflection template languages ("name|lang") callers may get.
func sentTemplates(cfg configs.Config) []string {
	tc := cfg.Deflect.Template
	names := []string{tc.Name}
	for _, v := range cfg.Deflect.Experiments {
		if v.Template != "" {
			names = append(names, v.Template)
		}
	}
	var out []string
	for _, n := range names {
		for _, lang := range tc.Languages {
			if k := n + "|" + lang; !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// runTemplateSync syncs Meta's template states now and every interval until ctx ends
// (interval 0: never). A failed sync is logged; the next one tries again.
func runTemplateSync(ctx context.Context, t *templateAdmin, interval time.Duration, log *slog.Logger) {
	if t == nil || interval <= 0 {
		return
	}
	log = log.With("component", "templates")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		changed, err := t.Sync(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("template sync failed", "err", err)
		} else if err == nil {
			log.Debug("template sync done", "changed", len(changed))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// numberHealthReader is the Graph API call the number's health is read with.
type numberHealthReader interface {
	NumberHealth(ctx context.Context) (whatsapp.NumberHealth, error)
}

// numberHealthRecorder stores it where the engine reads it.
type numberHealthRecorder interface {
	RecordNumberHealth(ctx context.Context, rating, tier string, asOf time.Time) error
}

// runNumberHealth reads the number's quality rating and messaging limit tier now and every
// interval (whatsapp.template_sync_interval, beside the template sync; 0: never) until ctx ends.
func runNumberHealth(ctx context.Context, c numberHealthReader, rec numberHealthRecorder, interval time.Duration, log *slog.Logger) {
	if c == nil || interval <= 0 {
		return
	}
	log = log.With("component", "number-health")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		asOf := time.Now()
		h, err := c.NumberHealth(sctx)
		if err == nil {
			err = rec.RecordNumberHealth(sctx, h.QualityRating, h.MessagingLimitTier, asOf)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("number health not read", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// templatesCLI runs one template command, either here (with whatsapp.base_url and credentials
// from the configuration) or through a running gateway's API.
type templatesCLI struct {
	g       *globals
	gateway string
}

func newTemplatesCmd(g *globals) *cobra.Command {
	t := &templatesCLI{g: g}
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "Submit deflectd's WhatsApp templates to Meta, show their review state, sync it",
		Long: `Manage the WhatsApp message templates deflectd sends (the built-in definitions or
whatsapp.templates_file) in whatsapp.business_account_id:

  push   create every defined template language Meta does not have, edit those whose text or
         buttons changed; prints what it did with each
  list   Meta's status, category, quality and rejection reason per template language
  sync   record Meta's states where the gateway reads them before offering (it also does this
         every whatsapp.template_sync_interval)

Without --gateway the command calls the Graph API at whatsapp.base_url with whatsapp.access_token
(sync also needs store.backend redis). With --gateway URL it goes through that running gateway's
API, with its credentials (an admin token in DEFLECTD_API_TOKEN): the way to reach the embedded
default, whose sandbox lives inside the gateway.

Exit status: 0 every template language is as defined (created, updated or unchanged); 1 Meta
refused or rejected one (failed, conflict) or the Graph API failed; 2 bad input or configuration,
including definitions that do not fit what deflectd sends (deflect.template params and buttons).`,
		Example: "  DEFLECTD_API_TOKEN=... deflectd templates push --gateway http://127.0.0.1:8080\n" +
			"  deflectd templates list --config /etc/deflectd/deflectd.yaml",
	}
	cmd.PersistentFlags().StringVar(&t.gateway, "gateway", "", "go through a running gateway's API at this URL (token from env DEFLECTD_API_TOKEN)")
	cmd.AddCommand(
		&cobra.Command{Use: "push", Short: "Create or update the templates at Meta", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return t.push(cmd.Context()) }},
		&cobra.Command{Use: "list", Short: "Show Meta's state of the templates", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return t.list(cmd.Context()) }},
		&cobra.Command{Use: "sync", Short: "Record Meta's template states in the store", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return t.sync(cmd.Context()) }},
	)
	return cmd
}

func (t *templatesCLI) list(ctx context.Context) error {
	var rows []templatesync.Row
	if t.gateway != "" {
		var out struct {
			Templates []templatesync.Row `json:"templates"`
		}
		if err := t.callGateway(ctx, http.MethodGet, "/api/v1/templates", &out); err != nil {
			return err
		}
		rows = out.Templates
	} else {
		admin, err := t.local(false)
		if err != nil {
			return err
		}
		if rows, err = admin.List(ctx); err != nil {
			return err
		}
	}
	w := tabwriter.NewWriter(t.g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tLANGUAGE\tSTATUS\tCATEGORY\tQUALITY\tREASON")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Language, r.Status, r.Category, dash(r.Quality), dash(r.Reason))
	}
	return w.Flush()
}

func (t *templatesCLI) push(ctx context.Context) error {
	var acts []templatesync.Action
	if t.gateway != "" {
		var out struct {
			Actions []templatesync.Action `json:"actions"`
		}
		if err := t.callGateway(ctx, http.MethodPost, "/api/v1/templates/push", &out); err != nil {
			return err
		}
		acts = out.Actions
	} else {
		admin, err := t.local(false)
		if err != nil {
			return err
		}
		if acts, err = admin.Push(ctx); err != nil {
			if errors.Is(err, templatesync.ErrMismatch) {
				return usageErr(err)
			}
			return err
		}
	}
	w := tabwriter.NewWriter(t.g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tLANGUAGE\tACTION\tSTATUS\tDETAIL")
	count := map[string]int{}
	for _, a := range acts {
		count[a.Action]++
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Language, a.Action, dash(a.Status), dash(a.Detail))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(t.g.stdout, "created %d, updated %d, unchanged %d, failed %d, conflict %d\n", count[templatesync.Created],
		count[templatesync.Updated], count[templatesync.Unchanged], count[templatesync.Failed], count[templatesync.Conflict])
	if n := count[templatesync.Failed] + count[templatesync.Conflict]; n > 0 {
		return fmt.Errorf("%d template languages are not as defined; see DETAIL", n)
	}
	return nil
}

func (t *templatesCLI) sync(ctx context.Context) error {
	var changed []deflect.TemplateState
	if t.gateway != "" {
		var out struct {
			Changed []deflect.TemplateState `json:"changed"`
		}
		if err := t.callGateway(ctx, http.MethodPost, "/api/v1/templates/sync", &out); err != nil {
			return err
		}
		changed = out.Changed
	} else {
		admin, err := t.local(true)
		if err != nil {
			return err
		}
		if changed, err = admin.Sync(ctx); err != nil {
			return err
		}
	}
	if len(changed) == 0 {
		_, err := fmt.Fprintln(t.g.stdout, "template states unchanged")
		return err
	}
	for _, s := range changed {
		note := "usable"
		if !s.Usable() {
			note = "not usable: callers of this language are not offered"
		}
		fmt.Fprintf(t.g.stdout, "%s/%s: %s %s %s (%s)\n", s.Name, s.Language, s.Status, s.Category, s.Reason, note)
	}
	return nil
}

// local builds template management from the configuration: the Graph API at
// whatsapp.base_url, and with withStore the shared store for sync.
func (t *templatesCLI) local(withStore bool) (*templateAdmin, error) {
	cfg, err := t.g.loadConfig()
	if err != nil {
		return nil, err
	}
	w := cfg.WhatsApp
	switch {
	case w.BaseURL == "" && w.Provider == "sandbox":
		return nil, usageErr(errors.New("the embedded sandbox lives in the running gateway: use --gateway http://127.0.0.1:8080 " +
			"(admin token in DEFLECTD_API_TOKEN), or set whatsapp.base_url"))
	case templateWABA(cfg) == "":
		return nil, usageErr(errors.New("set whatsapp.business_account_id (the WhatsApp Business Account of the templates)"))
	case !w.AccessToken.IsSet():
		return nil, usageErr(errors.New("set whatsapp.access_token (env DEFLECTD_WHATSAPP_ACCESS_TOKEN)"))
	case withStore && cfg.Store.Backend != "redis":
		return nil, usageErr(errors.New("sync writes the store: the memory store lives in the running gateway; use --gateway " +
			"(which also syncs every whatsapp.template_sync_interval) or store.backend redis"))
	}
	client, err := newCloudAPIClient(w, w.BaseURL, nil, nil, nil)
	if err != nil {
		return nil, usageErr(err)
	}
	var rec templatesync.Recorder
	if withStore {
		st, err := openStore(cfg.Store)
		if err != nil {
			return nil, err
		}
		eng, err := deflect.New(deflect.Options{Config: cfg, Store: st, Sender: deflect.WhatsAppSender(client)})
		if err != nil {
			return nil, err
		}
		rec = eng
	}
	return newTemplateAdmin(cfg, client, rec)
}

// callGateway calls the gateway's template API with the admin token and decodes its answer.
func (t *templatesCLI) callGateway(ctx context.Context, method, path string, out any) error {
	token := envValue(t.g.environ, "DEFLECTD_API_TOKEN")
	if token == "" {
		return usageErr(errors.New("--gateway needs an admin token in DEFLECTD_API_TOKEN"))
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(t.gateway, "/")+path, bytes.NewReader(nil))
	if err != nil {
		return usageErr(fmt.Errorf("--gateway: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: 3 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("reach the gateway: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("read the gateway's answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		err := fmt.Errorf("the gateway answered %d: %s", res.StatusCode, e.Error)
		if res.StatusCode == http.StatusConflict || res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			return usageErr(err)
		}
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the gateway's answer: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var _ templatesync.Client = (*whatsapp.Client)(nil)

// templateAPI is the API's template management (a nil interface without a business account).
func (g *gateway) templateAPI() api.TemplateAdmin {
	if g.templates == nil {
		return nil
	}
	return g.templates
}

// templateMismatches: with the sandbox provider, whatsapp.sandbox.templates may replace a
// definition's shape, and the sandbox then checks sends against that; otherwise the definitions
// are what Meta has (once pushed).
func templateMismatches(cfg configs.Config) []string {
	defs, err := configs.LoadTemplates(cfg.WhatsApp.TemplatesFile)
	if err != nil || (cfg.WhatsApp.Provider == "sandbox" && len(cfg.WhatsApp.Sandbox.Templates) > 0) {
		return nil
	}
	return configs.TemplateMismatches(cfg, defs)
}

// definedTexts are the template bodies the console shows: with whatsapp.templates_file, its
// texts (they are what was pushed to Meta), and inbox.template_texts for every other template;
// without it, inbox.template_texts as configured (templates made by hand keep their texts).
func definedTexts(cfg configs.Config) map[string]map[string]string {
	out := make(map[string]map[string]string, len(cfg.Inbox.TemplateTexts))
	for name, texts := range cfg.Inbox.TemplateTexts {
		out[name] = maps.Clone(texts)
	}
	if cfg.WhatsApp.TemplatesFile == "" {
		return out
	}
	defs, err := configs.LoadTemplates(cfg.WhatsApp.TemplatesFile)
	if err != nil {
		return out
	}
	for _, d := range defs {
		out[d.Name] = map[string]string{}
		for lang, t := range d.Languages {
			out[d.Name][lang] = t.Body
		}
	}
	return out
}
