// Command voiceload places many WhatsApp calls at once at a deflectd voice listener, the way
// Meta delivers them (ivr/voice/metasim: TLS, digest, SDES-SRTP, G.711 both ways), and prints
// how many were answered and the audio sent and received back. Used by deploy/loadtest/voice.sh
// with sipp echoing the audio as the queue; loopback only.
//
//	go run ./deploy/loadtest/voiceload -target 127.0.0.1:25061 -ca cert.pem -calls 200 -rate 20 -duration 60s
//
// The SIP password comes from DEFLECTD_CALL_PASSWORD.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deflectd/deflectd/ivr/voice/metasim"
)

func main() {
	target := flag.String("target", "127.0.0.1:25061", "voice.listen address (loopback)")
	ca := flag.String("ca", "", "PEM certificate of the listener")
	calls := flag.Int("calls", 100, "concurrent calls")
	rate := flag.Float64("rate", 20, "new calls per second while ramping up")
	dur := flag.Duration("duration", 60*time.Second, "how long each call talks")
	user := flag.String("user", "15550001111", "digest user (the business number)")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*target)
	if err != nil || !ap.Addr().IsLoopback() {
		fmt.Fprintln(os.Stderr, "voiceload: -target must be a loopback host:port")
		os.Exit(2)
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, "voiceload: -ca:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	password := os.Getenv("DEFLECTD_CALL_PASSWORD")

	var answered, failed, sent, recv atomic.Int64
	var wg sync.WaitGroup
	gap := time.Duration(float64(time.Second) / *rate)
	start := time.Now()
	for i := 0; i < *calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Every call talks until the same moment, so the steady state holds all of them.
			talk := *dur + time.Duration(*calls-1-i)*gap
			ctx, cancel := context.WithTimeout(context.Background(), talk+time.Minute)
			defer cancel()
			rep, err := metasim.Place(ctx, metasim.Call{Target: ap,
				TLS:      &tls.Config{RootCAs: pool, ServerName: ap.Addr().String(), MinVersion: tls.VersionTLS12},
				Business: *user, User: *user, Password: password, WAID: fmt.Sprintf("9665%08d", i+1),
				Duration: talk, MediaIP: ap.Addr()}, slog.New(slog.DiscardHandler))
			if err != nil || !rep.Answered {
				failed.Add(1)
				if err != nil {
					fmt.Fprintln(os.Stderr, "call:", err)
				}
				return
			}
			answered.Add(1)
			sent.Add(rep.Sent)
			recv.Add(rep.Received)
		}(i)
		time.Sleep(gap)
	}
	fmt.Fprintf(os.Stderr, "all %d calls placed after %s\n", *calls, time.Since(start).Round(time.Second))
	wg.Wait()
	loss := 0.0
	if s := sent.Load(); s > 0 {
		loss = 100 * float64(s-recv.Load()) / float64(s)
	}
	fmt.Printf("calls %d answered %d failed %d packets_sent %d packets_back %d loss_pct %.3f\n",
		*calls, answered.Load(), failed.Load(), sent.Load(), recv.Load(), loss)
}
