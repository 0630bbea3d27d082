package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/whatsapp"
)

// openStore builds the configured store: memory (one process) or Redis (shared).
func openStore(cfg configs.StoreConfig) (store.Store, error) { return openStoreEvicting(cfg, nil) }

// openStoreEvicting is openStore reporting the memory store's evictions to onEvict.
func openStoreEvicting(cfg configs.StoreConfig, onEvict func(kind string)) (store.Store, error) {
	switch cfg.Backend {
	case "redis":
		s, err := redisstore.New(cfg.Redis)
		if err != nil {
			return nil, fmt.Errorf("open redis store: %w", err)
		}
		return s, nil
	default:
		m := cfg.Memory
		return memstore.New(memstore.Options{
			MaxSessions: m.MaxSessions, MaxOnceKeys: m.MaxOnceKeys, MaxPresence: m.MaxPresenceFacts,
			MaxDocs: m.MaxDocuments, MaxOfferNumbers: m.MaxOfferNumbers, StreamMaxLen: m.MaxStreamEntries,
			OnEvict: onEvict,
		}), nil
	}
}

// newCloudAPIClient builds the WhatsApp client for cfg.BaseURL (the real Graph API, or a sandbox's
// URL), rate-limited through the store so that every instance shares the limits.
func newCloudAPIClient(cfg configs.WhatsAppConfig, baseURL string, limiter whatsapp.TokenBucket, log *slog.Logger, reg prometheus.Registerer) (*whatsapp.Client, error) {
	c, err := whatsapp.New(whatsapp.ClientConfig{
		BaseURL:       baseURL,
		PhoneNumberID: cfg.PhoneNumberID,
		AccessToken:   cfg.AccessToken.Reveal(),
		Timeout:       cfg.RequestTimeout,
		MaxRetries:    cfg.MaxRetries,
		Throughput:    cfg.Throughput,
		PairPeriod:    cfg.PairPeriod,
		PairBurst:     cfg.PairBurst,
	}, limiter, log, reg)
	if err != nil {
		return nil, fmt.Errorf("whatsapp client: %w", err)
	}
	return c, nil
}
