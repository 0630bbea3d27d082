package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// ExampleNewWithInbox is how cmd/deflectd serve wires the inbox (compiled, not run): the inbox is
// built before the engine (it is the engine's ChatCounter), its HandleEvent runs after the
// engine's in the consumer, and the HTTP handler adds the console and the inbox routes.
func ExampleNewWithInbox() {
	var (
		ctx      = context.Background()
		cfg      = configs.Default()
		st       store.Store      // memstore or redisstore
		client   *whatsapp.Client // the Cloud API (or sandbox) client
		instance = "deflectd-1"
		log      = slog.Default()
	)
	in, desk, err := inbox.FromConfig(cfg, st, client, nil, instance, log)
	if err != nil {
		panic(err)
	}
	engine, err := deflect.New(deflect.Options{Config: cfg, Store: st, Sender: deflect.WhatsAppSender(client), Chats: in, Logger: log})
	if err != nil {
		panic(err)
	}
	consumer := &whatsapp.Consumer{Queue: nil /* the webhook queue */, Deduper: st, Name: instance,
		Handler: func(ctx context.Context, e whatsapp.Event) error {
			if err := engine.HandleEvent(ctx, e); err != nil {
				return err
			}
			return in.HandleEvent(ctx, e)
		}}
	handler := api.NewWithInbox(api.Options{API: cfg.API, Engine: engine, Sessions: st, Store: st, Region: cfg.Lookup.DefaultRegion},
		api.InboxOptions{Inbox: in, Desk: desk, Sessions: st, Templates: inbox.ConsoleTemplates(cfg),
			NotifySender: client, NotifyStore: st,
			NotifyConfig: notify.Config{Languages: cfg.Deflect.Template.Languages, DefaultLanguage: cfg.IVR.DefaultLanguage}})
	go in.Run(ctx, 5*time.Second) // reconcile stale slots, dispatch the queue
	go func() { _ = desk.Run(ctx) }()
	go func() { _ = consumer.Run(ctx) }()
	_ = &http.Server{Handler: handler}
}
