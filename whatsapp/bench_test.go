package whatsapp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp"
)

// signedBodies returns n text-message webhooks with distinct message ids, and their signatures.
func signedBodies(b *testing.B, n int) ([][]byte, []string) {
	tmpl := webhookFixture(b, "text.json")
	const id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzMSG11NjU5OUFFRTAzODEwMTQ0RgA="
	if !bytes.Contains(tmpl, []byte(id)) {
		b.Fatal("fixture id changed")
	}
	bodies, sigs := make([][]byte, n), make([]string, n)
	for i := range n {
		bodies[i] = bytes.Replace(tmpl, []byte(id), fmt.Appendf(nil, "wamid.bench.%d", i), 1)
		sigs[i] = whatsapp.Sign(secret, bodies[i])
	}
	return bodies, sigs
}

func postSigned(b *testing.B, h http.Handler, body []byte, sig string) {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
	r.Header.Set("X-Hub-Signature-256", sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
}

// benchIngest: what Meta waits for — signature check, parse, enqueue (one event per webhook).
func benchIngest(b *testing.B, be backend) {
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, whatsapp.AdaptStreams(be, toQueue), nil, nil)
	bodies, sigs := signedBodies(b, min(b.N, 10000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		postSigned(b, h, bodies[i%len(bodies)], sigs[i%len(sigs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchPipeline: ingest plus a consumer reading, deduplicating (two SetOnce), handling and
// acknowledging each event, running concurrently; timed until the last event was handled.
func benchPipeline(b *testing.B, be backend) {
	q := whatsapp.AdaptStreams(be, toQueue)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
	bodies, sigs := signedBodies(b, b.N)
	var handled atomic.Int64
	c := &whatsapp.Consumer{Queue: q, Deduper: be, Name: "bench", Group: "bench", Batch: 64, Block: 10 * time.Millisecond,
		Handler: func(context.Context, whatsapp.Event) error { handled.Add(1); return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		postSigned(b, h, bodies[i], sigs[i])
	}
	for handled.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkWebhookIngestMemory(b *testing.B)   { benchIngest(b, newMem(b)) }
func BenchmarkWebhookPipelineMemory(b *testing.B) { benchPipeline(b, newMem(b)) }
