package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr/voice"
	"github.com/deflectd/deflectd/ivr/voice/metasim"
	"github.com/emiago/sipgo/sip"
)

// sandboxBusinessNumber is the business number the sandbox calls when voice.username is unset.
const sandboxBusinessNumber = "15550001111"

// buildVoice makes the WhatsApp voice bridge (voice.enabled) and, with the sandbox, lets the
// sandbox place calls to it the way Meta would.
func (g *gateway) buildVoice(cfg *configs.Config, httpAddr string, log *slog.Logger) error {
	vc := &cfg.Voice
	_, host, port, err := configs.ParseListen(vc.Listen)
	if err != nil {
		return fmt.Errorf("voice.listen: %w", err)
	}
	listenIP, err := resolveIP(host)
	if err != nil {
		return fmt.Errorf("voice.listen: %w", err)
	}
	mediaIP := listenIP
	if vc.MediaHost != "" {
		mediaIP = netip.MustParseAddr(vc.MediaHost) // checked by Validate
	}
	pbxListen := netip.AddrPortFrom(listenIP, 0)
	if vc.PBXListen != "" {
		if pbxListen, err = resolveAddrPort(vc.PBXListen); err != nil {
			return fmt.Errorf("voice.pbx_listen: %w", err)
		}
	}
	var target sip.Uri
	if err := sip.ParseUri(vc.PBXTarget, &target); err != nil {
		return fmt.Errorf("voice.pbx_target: %w", err)
	}

	// The certificate: configured, or (sandbox on loopback) made now; the sandbox trusts it.
	var cert tls.Certificate
	var pool *x509.CertPool
	if vc.TLS.CertFile != "" {
		if cert, err = tls.LoadX509KeyPair(vc.TLS.CertFile, vc.TLS.KeyFile); err != nil {
			return fmt.Errorf("load voice.tls certificate: %w", err)
		}
		pool = x509.NewCertPool()
		if pem, err := os.ReadFile(vc.TLS.CertFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
	} else if cert, pool, err = voice.SelfSigned(listenIP); err != nil {
		return err
	}
	if vc.Username == "" {
		vc.Username = sandboxBusinessNumber
	}
	if !vc.Password.IsSet() && g.sandbox != nil {
		vc.Password = configs.Secret(randomHex(16)) // the sandbox answers the challenge with it
	}
	allow := make([]netip.Prefix, 0, len(vc.AllowCIDRs))
	for _, c := range vc.AllowCIDRs {
		allow = append(allow, netip.MustParsePrefix(c)) // checked by Validate
	}
	console := cfg.HTTP.PublicURL
	if console == "" {
		console = "http://" + httpAddr
	}
	g.voice, err = voice.New(voice.Config{
		Listen: netip.AddrPortFrom(listenIP, uint16(port)), PBXListen: pbxListen, PBXTarget: target,
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Realm: vc.Realm, User: vc.Username, Password: vc.Password.Reveal(), Allow: allow,
		MediaIP: mediaIP, RTPPortMin: vc.RTPPortMin, RTPPortMax: vc.RTPPortMax,
		AnswerTimeout: vc.AnswerTimeout, MaxDuration: vc.MaxCallDuration, MediaTimeout: vc.MediaTimeout,
		ConsoleURL: console,
	}, g.engine, log, g.reg)
	if err != nil {
		return err
	}
	if g.sandbox != nil {
		g.sandbox.SetVoiceCaller(sandboxCaller{target: g.voice.Addr(), pool: pool, serverName: listenIP.String(),
			business: vc.Username, password: vc.Password.Reveal(), log: log})
	}
	return nil
}

// sandboxCaller is the sandbox's Meta: it places WhatsApp calls to our voice listener.
type sandboxCaller struct {
	target     netip.AddrPort
	pool       *x509.CertPool
	serverName string
	business   string
	password   string
	log        *slog.Logger
}

func (c sandboxCaller) CallBusiness(ctx context.Context, waID, name, payload string, d time.Duration) (any, error) {
	return metasim.Place(ctx, metasim.Call{Target: c.target,
		TLS:      &tls.Config{RootCAs: c.pool, ServerName: c.serverName, MinVersion: tls.VersionTLS12},
		Business: c.business, WAID: waID, Name: name, Payload: payload, User: c.business, Password: c.password,
		Duration: d, MediaIP: c.target.Addr()}, c.log)
}

func resolveIP(host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %q: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

func resolveAddrPort(hostport string) (netip.AddrPort, error) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip, err := resolveIP(h)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var port uint16
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", p)
	}
	return netip.AddrPortFrom(ip, port), nil
}
